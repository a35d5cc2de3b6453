#ifndef LLMSERVE_TESTS_SERVER_FAKE_ENGINE_H_
#define LLMSERVE_TESTS_SERVER_FAKE_ENGINE_H_

// A deterministic stand-in for LLMEngine, for server tests: it "generates"
// letters from a background thread, honours AbortRequest/Shutdown like the
// real engine (exactly one final output per admitted request), and records
// what it saw (requests, aborts, live count) so tests can check that the
// server cancels and never leaks requests. Header-only.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "engine/llm_engine.h"

namespace llmserve::testing {

/// Ids: 0 <unk>, 1 BOS, 2 EOS, 3..258 the bytes 0..255 (id = byte + 3), and
/// ids >= 259 up to vocab_size - 1 contribute no text.
class FakeTokenizer : public Tokenizer {
 public:
  static constexpr int32_t kBos = 1;
  static constexpr int32_t kEos = 2;
  static int32_t ByteId(unsigned char c) { return static_cast<int32_t>(c) + 3; }

  explicit FakeTokenizer(int32_t vocab_size) : vocab_size_(vocab_size) {}

  absl::StatusOr<std::vector<int32_t>> Encode(std::string_view text,
                                              bool add_bos) const override {
    std::vector<int32_t> ids;
    if (add_bos) ids.push_back(kBos);
    for (char c : text) ids.push_back(ByteId(static_cast<unsigned char>(c)));
    return ids;
  }
  std::string TokenBytes(int32_t prev_id, int32_t id) const override {
    if (id >= 3 && id < 259) return std::string(1, static_cast<char>(id - 3));
    return "";
  }
  int32_t vocab_size() const override { return vocab_size_; }
  int32_t bos_id() const override { return kBos; }
  int32_t eos_id() const override { return kEos; }

 private:
  int32_t vocab_size_;
};

struct FakeEngineOptions {
  int vocab_size = 300;
  int max_context = 64;
  /// Time between engine steps; each step emits one token per live request.
  absl::Duration step_interval = absl::Milliseconds(1);
};

class FakeEngine : public LLMEngine {
 public:
  /// The completion the fake generates for `prompt`: lowercase letters
  /// starting at ('a' + sum(prompt) % 26), one per token.
  static std::string ExpectedText(const std::vector<int32_t>& prompt, int num_tokens) {
    int64_t sum = 0;
    for (int32_t id : prompt) sum += id;
    std::string text;
    for (int i = 0; i < num_tokens; ++i) text.push_back(static_cast<char>('a' + (sum + i) % 26));
    return text;
  }

  explicit FakeEngine(FakeEngineOptions options = {})
      : fake_options_(options), tokenizer_(options.vocab_size) {
    config_.name = "fake";
    config_.architecture = "llama";
    config_.hidden_size = 8;
    config_.num_layers = 1;
    config_.num_heads = 2;
    config_.num_kv_heads = 1;
    config_.head_dim = 4;
    config_.ffn_size = 16;
    config_.vocab_size = options.vocab_size;
    config_.max_context = options.max_context;
    config_.bos_token_id = FakeTokenizer::kBos;
    config_.eos_token_ids = {FakeTokenizer::kEos};
    options_.model_path = "fake.bin";
    options_.max_context = options.max_context;
    options_.num_threads = 1;
    thread_ = std::thread([this] { Loop(); });
  }

  ~FakeEngine() override {
    Shutdown();
    Set(&stop_thread_, true);
    thread_.join();
  }

  // ---- Knobs (thread-safe) ----
  /// AddRequest returns this status when not OK (nothing is queued).
  void set_add_request_status(absl::Status s) { Set(&add_status_, std::move(s)); }
  /// WarmUp returns this status.
  void set_warm_up_status(absl::Status s) { Set(&warm_up_status_, std::move(s)); }
  /// Requests stop producing tokens after this many (-1: never hold), and then
  /// stay live until aborted or shut down.
  void set_hold_after_tokens(int n) { Set(&hold_after_, n); }
  /// The token at this index (0-based) is EOS, finishing with kEos unless
  /// ignore_eos (-1: never).
  void set_eos_at(int n) { Set(&eos_at_, n); }
  /// After this many tokens the request fails with kError (-1: never).
  void set_error_after_tokens(int n) { Set(&error_after_, n); }
  /// The request with this id fails with kError after its first token; the
  /// others are unaffected ("": none).
  void set_failing_request_id(std::string id) { Set(&failing_id_, std::move(id)); }
  /// AddRequest refuses with RESOURCE_EXHAUSTED while this many requests are
  /// live (a bounded queue; 0: unbounded).
  void set_max_live_requests(int n) { Set(&max_live_, n); }
  /// While stuck the engine runs no steps (no tokens, no aborts, no
  /// shutdown cancellations) and SecondsSinceProgress grows while requests
  /// are live, like a hung forward pass.
  void set_stuck(bool stuck) { Set(&stuck_, stuck); }
  /// While blocked, WarmUp waits (to observe a server that is not ready yet).
  void set_warm_up_blocked(bool blocked) { Set(&warm_up_blocked_, blocked); }

  // ---- Observations (thread-safe) ----
  int live_requests() const { return Get(&live_count_); }
  int added_requests() const { return Get(&added_); }
  int warm_ups() const { return Get(&warm_ups_); }
  /// The fake's engine thread (the one that runs every OutputCallback).
  std::thread::id engine_thread_id() const { return thread_.get_id(); }
  std::vector<std::string> aborted_ids() const { return Get(&aborted_ids_); }
  EngineRequest last_request() const { return Get(&last_request_); }
  /// Waits up to `timeout` until exactly `n` requests are live.
  bool WaitForLive(int n, absl::Duration timeout = absl::Seconds(20)) const {
    absl::MutexLock lock(&mu_);
    auto cond = [this, n]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      return static_cast<int>(live_.size()) == n;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&cond), timeout);
  }

  // ---- LLMEngine ----
  absl::Status AddRequest(EngineRequest request, OutputCallback on_output) override {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return absl::UnavailableError("engine shut down");
    if (!add_status_.ok()) return add_status_;
    if (max_live_ > 0 && static_cast<int>(live_.size()) >= max_live_) {
      return absl::ResourceExhaustedError("too many queued requests (fake limit)");
    }
    if (request.prompt_token_ids.empty()) return absl::InvalidArgumentError("empty prompt");
    if (live_.count(request.request_id) > 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("duplicate request_id \"", request.request_id, "\""));
    }
    ++added_;
    last_request_ = request;
    Live& live = live_[request.request_id];
    live.request = std::move(request);
    live.on_output = std::move(on_output);
    live.arrival = absl::Now();
    live_count_ = static_cast<int>(live_.size());
    return absl::OkStatus();
  }

  void AbortRequest(const std::string& request_id,
                    absl::Status reason = absl::CancelledError("cancelled")) override {
    absl::MutexLock lock(&mu_);
    aborted_ids_.push_back(request_id);
    auto it = live_.find(request_id);
    if (it != live_.end() && it->second.abort_reason.ok()) {
      it->second.abort_reason = reason.ok() ? absl::CancelledError("cancelled") : reason;
    }
  }

  absl::Status WarmUp() override {
    absl::MutexLock lock(&mu_);
    auto released = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return !warm_up_blocked_; };
    mu_.Await(absl::Condition(&released));
    ++warm_ups_;
    return warm_up_status_;
  }

  void Shutdown(absl::Status reason = absl::UnavailableError("engine shut down")) override {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return;
    shut_down_ = true;
    for (auto& [id, live] : live_) {
      if (live.abort_reason.ok()) live.abort_reason = reason;
    }
  }

  EngineStats GetStats() const override {
    EngineStats stats;
    stats.num_running = live_requests();
    stats.num_kv_blocks_total = 8;
    return stats;
  }
  double SecondsSinceProgress() const override {
    absl::MutexLock lock(&mu_);
    if (live_.empty()) return 0;
    return absl::ToDoubleSeconds(absl::Now() - last_progress_);
  }
  const ModelConfig& model_config() const override { return config_; }
  const Tokenizer& tokenizer() const override { return tokenizer_; }
  const EngineOptions& options() const override { return options_; }

 private:
  struct Live {
    EngineRequest request;
    OutputCallback on_output;
    absl::Time arrival;
    int generated = 0;
    absl::Status abort_reason;  // not OK once aborted
  };
  template <typename T>
  void Set(T* field, T value) {
    absl::MutexLock lock(&mu_);
    *field = std::move(value);
  }
  template <typename T>
  T Get(const T* field) const {
    absl::MutexLock lock(&mu_);
    return *field;
  }

  /// One step: every live request either finishes (aborted / shut down /
  /// length / eos / error) or emits one token. Callbacks run outside the lock.
  void Loop() {
    while (true) {
      std::vector<std::pair<OutputCallback, RequestOutput>> emits;
      bool exit = false;
      {
        absl::MutexLock lock(&mu_);
        mu_.AwaitWithTimeout(absl::Condition(&stop_thread_), fake_options_.step_interval);
        if (stuck_ && !stop_thread_) continue;
        last_progress_ = absl::Now();
        for (auto it = live_.begin(); it != live_.end();) {
          Live& live = it->second;
          RequestOutput out;
          out.request_id = live.request.request_id;
          out.prompt_tokens = static_cast<int>(live.request.prompt_token_ids.size());
          bool finish = false;
          if (!live.abort_reason.ok()) {
            finish = true;
            out.finish_reason = FinishReason::kCancelled;
            out.status = live.abort_reason;
          } else if ((error_after_ >= 0 && live.generated >= error_after_) ||
                     (!failing_id_.empty() && live.request.request_id == failing_id_ &&
                      live.generated >= 1)) {
            finish = true;
            out.finish_reason = FinishReason::kError;
            out.status = absl::InternalError("fake engine failure");
          } else if (hold_after_ >= 0 && live.generated >= hold_after_) {
            ++it;
            continue;
          } else {
            const int i = live.generated++;
            if (i == eos_at_) {
              out.token_ids.push_back(FakeTokenizer::kEos);
              if (!live.request.sampling.ignore_eos) {
                finish = true;
                out.finish_reason = FinishReason::kEos;
              }
            } else {
              const char c = ExpectedText(live.request.prompt_token_ids, i + 1).back();
              out.token_ids.push_back(FakeTokenizer::ByteId(static_cast<unsigned char>(c)));
              out.text = std::string(1, c);
            }
            if (!finish && live.generated >= live.request.sampling.max_tokens) {
              finish = true;
              out.finish_reason = FinishReason::kLength;
            }
          }
          out.completion_tokens = live.generated;
          if (finish) {
            out.finished = true;
            const double total = absl::ToDoubleSeconds(absl::Now() - live.arrival);
            out.timing.total_seconds = total;
            out.timing.time_to_first_token_seconds = live.generated > 0 ? total : 0;
            emits.emplace_back(std::move(live.on_output), std::move(out));
            it = live_.erase(it);
          } else {
            emits.emplace_back(live.on_output, std::move(out));
            ++it;
          }
        }
        live_count_ = static_cast<int>(live_.size());
        exit = stop_thread_ || (shut_down_ && live_.empty());
      }
      for (auto& [callback, output] : emits) callback(std::move(output));
      if (exit) return;
    }
  }

  FakeEngineOptions fake_options_;
  FakeTokenizer tokenizer_;
  ModelConfig config_;
  EngineOptions options_;

  mutable absl::Mutex mu_;
  std::map<std::string, Live> live_ ABSL_GUARDED_BY(mu_);
  int live_count_ ABSL_GUARDED_BY(mu_) = 0;
  int added_ ABSL_GUARDED_BY(mu_) = 0;
  int warm_ups_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::string> aborted_ids_ ABSL_GUARDED_BY(mu_);
  EngineRequest last_request_ ABSL_GUARDED_BY(mu_);
  absl::Status add_status_ ABSL_GUARDED_BY(mu_);
  absl::Status warm_up_status_ ABSL_GUARDED_BY(mu_);
  int hold_after_ ABSL_GUARDED_BY(mu_) = -1;
  int eos_at_ ABSL_GUARDED_BY(mu_) = -1;
  int error_after_ ABSL_GUARDED_BY(mu_) = -1;
  std::string failing_id_ ABSL_GUARDED_BY(mu_);
  int max_live_ ABSL_GUARDED_BY(mu_) = 0;
  bool stuck_ ABSL_GUARDED_BY(mu_) = false;
  bool warm_up_blocked_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time last_progress_ ABSL_GUARDED_BY(mu_) = absl::Now();
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_thread_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace llmserve::testing

#endif  // LLMSERVE_TESTS_SERVER_FAKE_ENGINE_H_
