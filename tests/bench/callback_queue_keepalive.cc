#include "tests/bench/callback_queue_keepalive.h"

#include <mutex>

#include "client/bench/fake_generation_server.h"

namespace llmserve::testing {

/// Never destroyed (see the header); a global, so leak checkers see it reachable.
bench::FakeGenerationServer* callback_queue_keepalive = nullptr;

void KeepCallbackQueueAlive() {
  static std::once_flag once;
  std::call_once(once, [] {
    callback_queue_keepalive = bench::FakeGenerationServer::Start({}).value().release();
  });
}

}  // namespace llmserve::testing
