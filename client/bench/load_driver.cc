#include "client/bench/load_driver.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client/bench/arrival.h"

namespace llmserve::bench {

LoadDriver::LoadDriver(std::unique_ptr<GenerationBackend> backend)
    : backend_(std::move(backend)) {}

LoadDriver::~LoadDriver() {
  // Run returns only after every call completed, so no call outlives the driver.
}

double LoadDriver::SecondsSinceStart(Clock::time_point t) const {
  return std::chrono::duration<double>(t - start_).count();
}

double LoadDriver::elapsed_seconds() const {
  const int64_t start_ns = start_ns_.load(std::memory_order_relaxed);
  const int64_t now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                             Clock::now().time_since_epoch())
                             .count();
  return start_ns == 0 ? 0 : (now_ns - start_ns) * 1e-9;
}

void LoadDriver::Launch(int index, const std::vector<BenchRequest>& workload,
                        const LoadOptions& options) {
  {
    absl::MutexLock lock(&mu_);
    ++in_flight_;
  }
  sent_.fetch_add(1, std::memory_order_relaxed);
  const BenchRequest& source =
      workload[static_cast<size_t>(options.first_workload_index + index) % workload.size()];
  CallSpec spec;
  spec.source = &source;
  spec.options = &options;
  spec.variant = options.mix.Choose(index);
  spec.index = index;
  backend_->Start(spec, this);
}

void LoadDriver::OnTokens(int count) {
  output_tokens_.fetch_add(count, std::memory_order_relaxed);
}

void LoadDriver::OnDone(RequestRecord record) {
  absl::MutexLock lock(&mu_);
  const size_t index = static_cast<size_t>(record.index);
  if (records_.size() <= index) records_.resize(index + 1);
  records_[index] = std::move(record);
  --in_flight_;
  last_finish_ = Clock::now();
  finished_.fetch_add(1, std::memory_order_relaxed);
}

absl::StatusOr<RunResult> LoadDriver::Run(const std::vector<BenchRequest>& workload,
                                          const LoadOptions& options) {
  if (workload.empty()) return absl::InvalidArgumentError("the workload has no requests");
  if (options.num_requests <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("number of requests must be > 0, got ", options.num_requests));
  }
  if (options.concurrency < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("concurrency must be >= 0, got ", options.concurrency));
  }
  if (absl::Status s = options.mix.Validate(options.stream); !s.ok()) return s;
  std::optional<ArrivalProcess> arrivals;
  if (options.concurrency == 0) {
    absl::StatusOr<ArrivalProcess> process =
        ArrivalProcess::Create(options.request_rate, options.burstiness, options.seed);
    if (!process.ok()) return process.status();
    arrivals.emplace(*std::move(process));
  }
  {
    absl::MutexLock lock(&mu_);
    records_.clear();
    records_.reserve(static_cast<size_t>(std::min(options.num_requests, 100000)));
    in_flight_ = 0;
  }
  sent_ = 0;
  finished_ = 0;
  output_tokens_ = 0;
  start_ = Clock::now();
  start_ns_ = std::chrono::duration_cast<std::chrono::nanoseconds>(start_.time_since_epoch())
                  .count();
  const Clock::time_point stop_sending =
      options.duration_seconds > 0
          ? start_ + std::chrono::microseconds(static_cast<int64_t>(options.duration_seconds * 1e6))
          : Clock::time_point::max();

  int index = 0;
  if (arrivals.has_value()) {
    // Open loop: send at the arrival times, whatever is in flight.
    double next = 0;
    while (index < options.num_requests) {
      const Clock::time_point due =
          start_ + std::chrono::nanoseconds(static_cast<int64_t>(next * 1e9));
      if (due >= stop_sending) break;
      if (due > Clock::now()) std::this_thread::sleep_until(due);
      Launch(index++, workload, options);
      next += arrivals->NextGapSeconds();
    }
  } else {
    // Closed loop: keep `concurrency` calls in flight.
    while (index < options.num_requests && Clock::now() < stop_sending) {
      {
        absl::MutexLock lock(&mu_);
        auto has_room = [this, &options]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return in_flight_ < options.concurrency;
        };
        if (options.duration_seconds > 0) {
          mu_.AwaitWithTimeout(absl::Condition(&has_room), absl::Milliseconds(50));
          if (!has_room()) continue;
        } else {
          mu_.Await(absl::Condition(&has_room));
        }
      }
      Launch(index++, workload, options);
    }
  }

  RunResult result;
  {
    absl::MutexLock lock(&mu_);
    auto all_done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return in_flight_ == 0; };
    mu_.Await(absl::Condition(&all_done));
    result.records = std::move(records_);
    records_.clear();
    result.duration_seconds = std::chrono::duration<double>(last_finish_ - start_).count();
  }
  result.records.resize(static_cast<size_t>(index));
  return result;
}

}  // namespace llmserve::bench
