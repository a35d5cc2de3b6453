#ifndef LLMSERVE_SERVER_RESPONSE_EXECUTOR_H_
#define LLMSERVE_SERVER_RESPONSE_EXECUTOR_H_

#include <functional>

#include <boost/asio/thread_pool.hpp>

namespace llmserve::server {

/// A small fixed pool of transport threads (Boost.Asio's thread_pool) on
/// which the gRPC front turns engine outputs into response messages, so that
/// the engine thread only queues an output and posts a task (vLLM v1 builds
/// responses in its front-end process, not in the engine core). No thread per
/// call: `num_threads` threads serve every call.
class ResponseExecutor {
 public:
  /// `num_threads` >= 1 (smaller values are taken as 1).
  explicit ResponseExecutor(int num_threads);
  /// Runs every task already posted, then joins the threads.
  ~ResponseExecutor();

  ResponseExecutor(const ResponseExecutor&) = delete;
  ResponseExecutor& operator=(const ResponseExecutor&) = delete;

  /// Queues `task` to run on one of the pool's threads; never blocks and
  /// never runs it on the caller's thread.
  void Post(std::function<void()> task);

 private:
  boost::asio::thread_pool pool_;
};

}  // namespace llmserve::server

#endif  // LLMSERVE_SERVER_RESPONSE_EXECUTOR_H_
