#include "client/bench/fake_generation_server.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "client/bench/happens_before.h"
#include "llmserve/v1/generation.grpc.pb.h"

namespace llmserve::bench {

namespace v1 = llmserve::v1;
using Clock = std::chrono::steady_clock;

namespace {

/// Runs callbacks at their due times on one thread.
class Timer {
 public:
  Timer() : thread_([this] { Loop(); }) {}
  ~Timer() {
    {
      absl::MutexLock lock(&mu_);
      stop_ = true;
    }
    thread_.join();
  }
  void At(Clock::time_point due, std::function<void()> fn) {
    absl::MutexLock lock(&mu_);
    events_.emplace(due, std::move(fn));
  }

 private:
  void Loop() {
    while (true) {
      std::vector<std::function<void()>> due;
      {
        absl::MutexLock lock(&mu_);
        if (stop_ && events_.empty()) return;
        const Clock::time_point now = Clock::now();
        while (!events_.empty() && events_.begin()->first <= now) {
          due.push_back(std::move(events_.begin()->second));
          events_.erase(events_.begin());
        }
        if (due.empty()) {
          absl::Duration wait = absl::Milliseconds(1);
          if (!events_.empty()) {
            wait = std::min(wait, absl::FromChrono(events_.begin()->first - now));
          }
          auto woken = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_; };
          mu_.AwaitWithTimeout(absl::Condition(&woken), wait);
          continue;
        }
      }
      for (auto& fn : due) fn();
    }
  }

  absl::Mutex mu_;
  std::multimap<Clock::time_point, std::function<void()>> events_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

Clock::time_point After(Clock::time_point t0, double seconds) {
  return t0 + std::chrono::nanoseconds(static_cast<int64_t>(seconds * 1e9));
}

int PromptTokens(const v1::GenerateRequest& r) {
  return r.has_token_ids() ? r.token_ids().ids_size() : static_cast<int>(r.text().size()) + 1;
}

int MaxTokens(const v1::GenerateRequest& r) {
  return r.sampling_params().has_max_tokens() ? r.sampling_params().max_tokens() : 16;
}

}  // namespace

class FakeGenerationServer::Impl final : public v1::Generation::CallbackService {
 public:
  explicit Impl(FakeServerOptions options) : options_(std::move(options)) {}

  std::string address_;
  std::unique_ptr<grpc::Server> server_;
  Timer timer_;

  int arrivals() const {
    absl::MutexLock lock(&mu_);
    return arrivals_;
  }
  int max_in_flight() const {
    absl::MutexLock lock(&mu_);
    return max_in_flight_;
  }
  int in_flight() const {
    absl::MutexLock lock(&mu_);
    return in_flight_;
  }
  /// Blocks until every admitted call has left (each calls Left(), a stream
  /// from its OnDone). After the server's Shutdown and Wait that is at once;
  /// waiting on our own mutex makes the last Left() — on a gRPC thread —
  /// happen before the caller destroys mu_, which gRPC's Wait orders only
  /// through its own code.
  void AwaitNoCallInFlight() {
    absl::MutexLock lock(&mu_);
    auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return in_flight_ == 0; };
    mu_.Await(absl::Condition(&idle));
  }

 private:
  /// A call's admission: its arrival index and failure status.
  struct Admission {
    int arrival = 0;
    grpc::Status status;
  };
  using StartFn = std::function<void(Clock::time_point t0, int arrival)>;

  /// Counts the arrival; unless it fails, `start` runs now, or when
  /// hold_first_calls calls have arrived.
  Admission Admit(StartFn start) {
    Admission a;
    std::vector<std::pair<StartFn, int>> release;
    {
      absl::MutexLock lock(&mu_);
      a.arrival = arrivals_++;
      max_in_flight_ = std::max(max_in_flight_, ++in_flight_);
      if (options_.fail_for) a.status = options_.fail_for(a.arrival);
      if (a.status.ok()) {
        if (a.arrival < options_.hold_first_calls) {
          held_.emplace_back(std::move(start), a.arrival);
        } else {
          release.emplace_back(std::move(start), a.arrival);
        }
      }
      if (arrivals_ >= options_.hold_first_calls && !held_.empty()) {
        for (auto& h : held_) release.push_back(std::move(h));
        held_.clear();
      }
    }
    const Clock::time_point now = Clock::now();
    for (auto& [fn, arrival] : release) fn(now, arrival);
    return a;
  }
  void Left() {
    absl::MutexLock lock(&mu_);
    --in_flight_;
  }
  double Ttft(int arrival) const {
    return options_.ttft_for ? options_.ttft_for(arrival) : options_.ttft_seconds;
  }

  /// One GenerateStream call. Its state lives under `shared_->mu`; timer
  /// events and the hold release hold `shared_` and touch the reactor only
  /// while `done` is false (OnDone sets it, under the mutex, before deleting
  /// the reactor), so a late event never sees a deleted reactor.
  class StreamReactor final : public grpc::ServerWriteReactor<v1::GenerateStreamResponse> {
   public:
    StreamReactor(Impl* impl, const v1::GenerateRequest* request)
        : impl_(impl),
          request_id_(request->request_id()),
          prompt_tokens_(PromptTokens(*request)),
          max_tokens_(std::max(1, MaxTokens(*request))) {
      const Admission a = impl_->Admit(
          [shared = shared_, this](Clock::time_point t0, int arrival) {
            absl::MutexLock lock(&shared->mu);
            if (!shared->done) BeginLocked(t0, arrival);
          });
      if (!a.status.ok()) {
        absl::MutexLock lock(&shared_->mu);
        finished_ = true;
        Finish(a.status);
      }
      // The handler returns the reactor to gRPC, whose reactions run on its
      // other threads (client/bench/happens_before.h); later Start* calls
      // are made under shared_->mu, which every reaction takes.
      HappensBefore(this);
    }
    void OnWriteDone(bool ok) override {
      HappensAfter(this);
      absl::MutexLock lock(&shared_->mu);
      writing_ = false;
      if (finish_pending_) {
        Finish(finish_after_write_);
        return;
      }
      if (!ok) {
        FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "write failed"));
        return;
      }
      WriteLocked();
    }
    void OnCancel() override {
      HappensAfter(this);
      absl::MutexLock lock(&shared_->mu);
      FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"));
    }
    void OnDone() override {
      HappensAfter(this);
      impl_->Left();
      {
        absl::MutexLock lock(&shared_->mu);
        shared_->done = true;
      }
      delete this;
    }

   private:
    /// What outlives the reactor: the mutex and whether the reactor is gone.
    struct Shared {
      absl::Mutex mu;
      bool done = false;
    };

    void BeginLocked(Clock::time_point t0, int arrival) {
      t0_ = t0;
      arrival_ = arrival;
      ttft_ = impl_->Ttft(arrival);
      ScheduleLocked();
    }
    /// Schedules the next due token (or emits at once when no delay is injected).
    void ScheduleLocked() {
      if (finished_ || due_ >= max_tokens_) return;
      if (ttft_ <= 0 && impl_->options_.itl_seconds <= 0) {
        due_ = max_tokens_;
        WriteLocked();
        return;
      }
      const Clock::time_point at = After(t0_, ttft_ + due_ * impl_->options_.itl_seconds);
      impl_->timer_.At(at, [shared = shared_, this] {
        absl::MutexLock lock(&shared->mu);
        if (shared->done) return;
        ++due_;
        WriteLocked();
        ScheduleLocked();
      });
    }
    /// Writes one message with one due token (the last carries finish and usage).
    void WriteLocked() {
      if (writing_ || finished_ || written_ >= due_) return;
      message_.Clear();
      message_.set_request_id(request_id_);
      message_.add_token_ids(static_cast<uint32_t>((arrival_ + written_) %
                                                   impl_->options_.vocab_size));
      message_.set_text("x");
      ++written_;
      writing_ = true;
      if (written_ == max_tokens_) {
        message_.set_finish_reason(v1::FINISH_REASON_LENGTH);
        message_.mutable_usage()->set_prompt_tokens(prompt_tokens_);
        message_.mutable_usage()->set_completion_tokens(max_tokens_);
        message_.mutable_timing()->set_time_to_first_token_seconds(ttft_);
        message_.mutable_timing()->set_total_seconds(
            std::chrono::duration<double>(Clock::now() - t0_).count());
        finished_ = true;
        StartWriteAndFinish(&message_, grpc::WriteOptions(), grpc::Status::OK);
      } else {
        StartWrite(&message_);
      }
    }
    void FinishLocked(const grpc::Status& status) {
      if (finished_) return;
      finished_ = true;
      if (writing_) {
        finish_pending_ = true;
        finish_after_write_ = status;
      } else {
        Finish(status);
      }
    }

    Impl* impl_;
    const std::string request_id_;
    const int prompt_tokens_;
    const int max_tokens_;
    const std::shared_ptr<Shared> shared_ = std::make_shared<Shared>();
    // Guarded by shared_->mu:
    int arrival_ = 0;
    Clock::time_point t0_;
    double ttft_ = 0;
    int due_ = 0;      ///< tokens whose time has come
    int written_ = 0;  ///< tokens written
    bool writing_ = false;
    bool finished_ = false;
    bool finish_pending_ = false;
    grpc::Status finish_after_write_;
    v1::GenerateStreamResponse message_;
  };


 public:
  grpc::ServerWriteReactor<v1::GenerateStreamResponse>* GenerateStream(
      grpc::CallbackServerContext* context, const v1::GenerateRequest* request) override {
    return new StreamReactor(this, request);
  }

  grpc::ServerUnaryReactor* Generate(grpc::CallbackServerContext* context,
                                     const v1::GenerateRequest* request,
                                     v1::GenerateResponse* response) override {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    const int max_tokens = std::max(1, MaxTokens(*request));
    const int prompt_tokens = PromptTokens(*request);
    response->set_request_id(request->request_id());
    auto start = [this, reactor, response, max_tokens, prompt_tokens](Clock::time_point t0,
                                                                      int arrival) {
      auto respond = [this, reactor, response, max_tokens, prompt_tokens, arrival, t0] {
        for (int k = 0; k < max_tokens; ++k) {
          response->add_token_ids(static_cast<uint32_t>((arrival + k) % options_.vocab_size));
          response->mutable_text()->push_back('x');
        }
        response->set_finish_reason(v1::FINISH_REASON_LENGTH);
        response->mutable_usage()->set_prompt_tokens(prompt_tokens);
        response->mutable_usage()->set_completion_tokens(max_tokens);
        response->mutable_timing()->set_total_seconds(
            std::chrono::duration<double>(Clock::now() - t0).count());
        Left();
        reactor->Finish(grpc::Status::OK);
      };
      const double delay = Ttft(arrival) + (max_tokens - 1) * options_.itl_seconds;
      if (delay <= 0) {
        respond();
      } else {
        timer_.At(After(t0, delay), respond);
      }
    };
    const Admission a = Admit(start);
    if (!a.status.ok()) {
      Left();
      reactor->Finish(a.status);
    }
    return reactor;
  }

  grpc::ServerUnaryReactor* Tokenize(grpc::CallbackServerContext* context,
                                     const v1::TokenizeRequest* request,
                                     v1::TokenizeResponse* response) override {
    if (!request->has_add_bos() || request->add_bos()) response->add_token_ids(1);
    for (unsigned char c : request->text()) response->add_token_ids(c + 3u);
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  grpc::ServerUnaryReactor* GetModelInfo(grpc::CallbackServerContext* context,
                                         const v1::GetModelInfoRequest* request,
                                         v1::ModelInfo* info) override {
    info->set_model_name("fake");
    info->set_architecture("llama");
    info->set_vocab_size(static_cast<uint32_t>(options_.vocab_size));
    info->set_max_context(static_cast<uint32_t>(options_.max_context));
    info->set_model_max_context(static_cast<uint32_t>(options_.max_context));
    info->set_bos_token_id(1);
    info->set_eos_token_id(2);
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

 private:
  const FakeServerOptions options_;
  mutable absl::Mutex mu_;
  int arrivals_ ABSL_GUARDED_BY(mu_) = 0;
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  int max_in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::pair<StartFn, int>> held_ ABSL_GUARDED_BY(mu_);
};

absl::StatusOr<std::unique_ptr<FakeGenerationServer>> FakeGenerationServer::Start(
    FakeServerOptions options, const std::string& address) {
  auto impl = std::make_unique<Impl>(std::move(options));
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(impl.get());
  impl->server_ = builder.BuildAndStart();
  if (impl->server_ == nullptr || port == 0) {
    return absl::UnavailableError(absl::StrCat("fake server: cannot listen on ", address));
  }
  impl->address_ = absl::StrCat(address.substr(0, address.rfind(':')), ":", port);
  return std::unique_ptr<FakeGenerationServer>(new FakeGenerationServer(std::move(impl)));
}

FakeGenerationServer::FakeGenerationServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

FakeGenerationServer::~FakeGenerationServer() {
  impl_->server_->Shutdown(std::chrono::system_clock::now());
  impl_->server_->Wait();
  impl_->AwaitNoCallInFlight();
}

const std::string& FakeGenerationServer::address() const { return impl_->address_; }
int FakeGenerationServer::arrivals() const { return impl_->arrivals(); }
int FakeGenerationServer::max_in_flight() const { return impl_->max_in_flight(); }
int FakeGenerationServer::in_flight() const { return impl_->in_flight(); }

}  // namespace llmserve::bench
