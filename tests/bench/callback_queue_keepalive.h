#ifndef LLMSERVE_TESTS_BENCH_CALLBACK_QUEUE_KEEPALIVE_H_
#define LLMSERVE_TESTS_BENCH_CALLBACK_QUEUE_KEEPALIVE_H_

namespace llmserve::testing {

/// gRPC 1.51 (Debian bookworm) can double-free its process-wide callback
/// completion queue when the last callback-API server and channel of a
/// process are destroyed and new ones are created right after (under ASan: a
/// double free in grpc_cq_internal_unref on a gRPC thread, between tests that
/// each start and stop a FakeGenerationServer). Call before creating one: a
/// callback server kept for the whole test process keeps the queue alive.
void KeepCallbackQueueAlive();

}  // namespace llmserve::testing

#endif  // LLMSERVE_TESTS_BENCH_CALLBACK_QUEUE_KEEPALIVE_H_
