#include "server/response_executor.h"

#include <algorithm>
#include <utility>

#include <boost/asio/post.hpp>

namespace llmserve::server {

ResponseExecutor::ResponseExecutor(int num_threads)
    : pool_(static_cast<std::size_t>(std::max(1, num_threads))) {}

ResponseExecutor::~ResponseExecutor() { pool_.join(); }

void ResponseExecutor::Post(std::function<void()> task) {
  boost::asio::post(pool_, std::move(task));
}

}  // namespace llmserve::server
