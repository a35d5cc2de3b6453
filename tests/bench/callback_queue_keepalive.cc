#include "tests/bench/callback_queue_keepalive.h"

#include "client/bench/fake_generation_server.h"

namespace llmserve::testing {

void KeepCallbackQueueAlive() {
  // Never destroyed (see the header).
  static bench::FakeGenerationServer* const keepalive =
      bench::FakeGenerationServer::Start({}).value().release();
  (void)keepalive;
}

}  // namespace llmserve::testing
