#include "engine/llm_engine.h"

#include <omp.h>

#include <algorithm>
#include <deque>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "engine/common/cpu_isa.h"
#include "engine/kv_cache/kv_cache.h"
#include "engine/kv_cache/kv_cache_manager.h"
#include "engine/loaders/model_loader.h"
#include "engine/model_runner.h"
#include "engine/models/decoder_model.h"
#include "engine/sampling/sampler.h"
#include "engine/scheduler/scheduler.h"
#include "engine/stop_checker.h"
#include "engine/tokenizer/incremental_detokenizer.h"
#include "engine/tokenizer/tokenizer_loader.h"

namespace llmserve {

const char* FinishReasonName(FinishReason r) {
  switch (r) {
    case FinishReason::kNone: return "";
    case FinishReason::kLength: return "length";
    case FinishReason::kStop: return "stop";
    case FinishReason::kEos: return "eos";
    case FinishReason::kCancelled: return "cancelled";
    case FinishReason::kError: return "error";
  }
  return "";
}

namespace {

constexpr int64_t kDefaultMaxKvCacheBytes = int64_t{2} << 30;

double Seconds(absl::Duration d) { return absl::ToDoubleSeconds(d); }

// A request accepted by AddRequest, not yet seen by the engine thread.
struct PendingRequest {
  EngineRequest request;
  OutputCallback callback;
  absl::Time arrival;
};

// Per-request state kept by the engine thread beside the scheduler's Sequence.
struct RequestState {
  std::string request_id;
  OutputCallback callback;
  IncrementalDetokenizer detokenizer;
  StopChecker stop;
  SamplingRng rng;
};

class LLMEngineImpl final : public LLMEngine {
 public:
  LLMEngineImpl(EngineOptions options, EngineObserver* observer, std::unique_ptr<Tokenizer> tokenizer,
                std::unique_ptr<DecoderModel> model, std::unique_ptr<KVCache> cache)
      : options_(std::move(options)),
        observer_(observer),
        tokenizer_(std::move(tokenizer)),
        model_(std::move(model)),
        cache_(std::move(cache)),
        kv_(cache_->shape().num_blocks, options_.block_size, options_.enable_prefix_caching),
        scheduler_({options_.max_num_seqs, options_.max_num_batched_tokens}, &kv_),
        runner_(model_.get(), cache_.get(), &kv_),
        eos_ids_(model_->config().eos_token_ids.begin(), model_->config().eos_token_ids.end()) {
    stats_.num_kv_blocks_total = kv_.num_blocks();
    last_progress_ = absl::Now();
    thread_ = std::thread([this] { Loop(); });
  }

  ~LLMEngineImpl() override { Shutdown(absl::UnavailableError("engine shut down")); }

  absl::Status AddRequest(EngineRequest request, OutputCallback on_output) override;
  void AbortRequest(const std::string& request_id, absl::Status reason) override;
  absl::Status WarmUp() override;
  void Shutdown(absl::Status reason) override;
  EngineStats GetStats() const override {
    absl::MutexLock lock(&mu_);
    return stats_;
  }
  double SecondsSinceProgress() const override {
    absl::MutexLock lock(&mu_);
    if (!has_work_ && pending_.empty()) return 0.0;
    return Seconds(absl::Now() - last_progress_);
  }
  int64_t weight_bytes_per_step() const override { return model_->weight_bytes_per_step(); }
  std::string linear_implementation() const override { return model_->linear_implementation(); }
  std::vector<std::string> kernel_names() const override {
    std::vector<std::string> lines = model_->DescribeKernels();
    lines.push_back(absl::StrCat("kv cache: ", std::string(DTypeName(cache_->dtype())), "; cpu isa: ",
                                 CpuIsaDescription()));
    return lines;
  }
  const ModelConfig& model_config() const override { return model_->config(); }
  const Tokenizer& tokenizer() const override { return *tokenizer_; }
  const EngineOptions& options() const override { return options_; }

 private:
  void Loop();
  void Admit(PendingRequest pending);
  void Step();
  // Emits the final output of `seq_id` and forgets it.
  void Finish(int64_t seq_id, FinishReason reason, absl::Status status, std::string text,
              std::vector<int32_t> token_ids);
  void FinishPending(PendingRequest& pending, absl::Status reason);
  void PublishStats();
  // Delivers finished_ (after PublishStats).
  void DeliverFinished();

  const EngineOptions options_;
  EngineObserver* const observer_;
  const std::unique_ptr<Tokenizer> tokenizer_;
  const std::unique_ptr<DecoderModel> model_;
  const std::unique_ptr<KVCache> cache_;

  // Engine-thread state.
  KVCacheManager kv_;
  Scheduler scheduler_;
  ModelRunner runner_;
  const absl::flat_hash_set<int32_t> eos_ids_;
  absl::flat_hash_map<int64_t, RequestState> requests_;
  absl::flat_hash_map<std::string, int64_t> seq_of_request_;
  int64_t next_seq_id_ = 0;
  std::vector<std::pair<float, int32_t>> sampling_scratch_;
  // Final outputs of this loop iteration, delivered after PublishStats so that
  // a caller who sees a request finish also sees stats without it.
  std::vector<std::pair<OutputCallback, RequestOutput>> finished_;

  // Shared with callers.
  mutable absl::Mutex mu_;
  std::deque<PendingRequest> pending_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<std::string, absl::Status>> aborts_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<std::string> active_ids_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status stop_reason_ ABSL_GUARDED_BY(mu_);
  bool has_work_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time last_progress_ ABSL_GUARDED_BY(mu_);
  EngineStats stats_ ABSL_GUARDED_BY(mu_);
  int scheduler_waiting_ ABSL_GUARDED_BY(mu_) = 0;  // waiting in the scheduler, at the last publish
  std::thread thread_;
  absl::Mutex shutdown_mu_;
};

absl::Status LLMEngineImpl::AddRequest(EngineRequest request, OutputCallback on_output) {
  const ModelConfig& c = model_->config();
  if (request.prompt_token_ids.empty()) {
    return absl::InvalidArgumentError("prompt is empty: give prompt text or prompt_token_ids");
  }
  for (std::size_t i = 0; i < request.prompt_token_ids.size(); ++i) {
    const int32_t id = request.prompt_token_ids[i];
    if (id < 0 || id >= c.vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat("prompt_token_ids[", i, "] = ", id,
                                                     " is outside the vocabulary [0, ",
                                                     c.vocab_size, ")"));
    }
  }
  if (auto s = request.sampling.Validate(); !s.ok()) return s;
  const int64_t total =
      static_cast<int64_t>(request.prompt_token_ids.size()) + request.sampling.max_tokens;
  if (total > options_.max_context) {
    return absl::InvalidArgumentError(absl::StrCat(
        "prompt (", request.prompt_token_ids.size(), " tokens) + max_tokens (",
        request.sampling.max_tokens, ") = ", total, " exceeds the maximum context of ",
        options_.max_context, " tokens"));
  }
  const int64_t blocks_needed = (total + options_.block_size - 1) / options_.block_size;
  if (blocks_needed > kv_.num_blocks()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "prompt + max_tokens = ", total, " tokens needs ", blocks_needed,
        " KV-cache blocks but the whole cache has ", kv_.num_blocks()));
  }
  if (request.request_id.empty()) {
    return absl::InvalidArgumentError("request_id must not be empty");
  }
  absl::MutexLock lock(&mu_);
  if (stopping_) return absl::UnavailableError("the engine is shutting down");
  if (active_ids_.contains(request.request_id)) {
    return absl::InvalidArgumentError(
        absl::StrCat("request_id '", request.request_id, "' is already in flight"));
  }
  if (options_.max_queued_requests > 0 &&
      static_cast<int>(pending_.size()) + scheduler_waiting_ >= options_.max_queued_requests) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "too many queued requests (limit ", options_.max_queued_requests, "); retry later"));
  }
  active_ids_.insert(request.request_id);
  pending_.push_back({std::move(request), std::move(on_output), absl::Now()});
  return absl::OkStatus();
}

void LLMEngineImpl::AbortRequest(const std::string& request_id, absl::Status reason) {
  absl::MutexLock lock(&mu_);
  if (!active_ids_.contains(request_id)) return;
  aborts_.emplace_back(request_id, std::move(reason));
}

absl::Status LLMEngineImpl::WarmUp() {
  // A short prompt and two generated tokens: runs the multi-row (prefill) and
  // single-row (decode) paths once, so oneDNN's kernels and the workspace
  // pages are ready before the first real request.
  EngineRequest req;
  req.request_id = "__warmup__";
  const int32_t bos = model_->config().bos_token_id;
  const int64_t room = std::min<int64_t>(options_.max_context, options_.kv_cache_tokens);
  const int prompt_len = static_cast<int>(std::clamp<int64_t>(room - 2, 1, 8));
  for (int i = 0; i < prompt_len; ++i) req.prompt_token_ids.push_back(bos >= 0 ? bos : 0);
  req.sampling.max_tokens = static_cast<int>(std::clamp<int64_t>(room - prompt_len, 1, 2));
  req.sampling.temperature = 0.0f;
  req.sampling.ignore_eos = true;
  absl::Notification done;
  absl::Status result;
  auto status = AddRequest(std::move(req), [&](RequestOutput out) {
    if (!out.finished) return;
    if (out.finish_reason != FinishReason::kLength) {  // ignore_eos: only length ends it
      result = out.status.ok() ? absl::InternalError("warm-up did not complete") : out.status;
    }
    done.Notify();
  });
  if (!status.ok()) return status;
  done.WaitForNotification();
  return result;
}

void LLMEngineImpl::Shutdown(absl::Status reason) {
  absl::MutexLock shutdown_lock(&shutdown_mu_);
  {
    absl::MutexLock lock(&mu_);
    if (!stopping_) {
      stopping_ = true;
      stop_reason_ = std::move(reason);
    }
  }
  if (thread_.joinable()) thread_.join();
}

void LLMEngineImpl::FinishPending(PendingRequest& pending, absl::Status reason) {
  RequestOutput out;
  out.request_id = pending.request.request_id;
  out.finished = true;
  out.finish_reason = FinishReason::kCancelled;
  out.status = std::move(reason);
  out.prompt_tokens = static_cast<int>(pending.request.prompt_token_ids.size());
  out.timing.total_seconds = out.timing.queue_seconds = Seconds(absl::Now() - pending.arrival);
  if (observer_ != nullptr) observer_->OnRequestFinished(out);
  finished_.emplace_back(std::move(pending.callback), std::move(out));
}

void LLMEngineImpl::DeliverFinished() {
  if (finished_.empty()) return;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& finished : finished_) {
      const std::string& id = finished.second.request_id;
      active_ids_.erase(id);
      // An abort queued for a request that just finished must not hit a new
      // request that reuses its id.
      std::erase_if(aborts_, [&id](const auto& a) { return a.first == id; });
    }
  }
  for (auto& [callback, out] : finished_) callback(std::move(out));
  finished_.clear();
}

void LLMEngineImpl::Loop() {
  if (options_.num_threads > 0) omp_set_num_threads(options_.num_threads);
  while (true) {
    std::deque<PendingRequest> pending;
    std::vector<std::pair<std::string, absl::Status>> aborts;
    bool stopping;
    absl::Status stop_reason;
    {
      absl::MutexLock lock(&mu_);
      if (!scheduler_.HasWork()) {
        has_work_ = false;
        auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return stopping_ || !pending_.empty() || !aborts_.empty();
        };
        mu_.Await(absl::Condition(&ready));
      }
      pending.swap(pending_);
      aborts.swap(aborts_);
      stopping = stopping_;
      stop_reason = stop_reason_;
      has_work_ = true;
      last_progress_ = absl::Now();
    }
    if (stopping) {
      for (PendingRequest& p : pending) FinishPending(p, stop_reason);
      for (int64_t seq_id : scheduler_.AllSequenceIds()) {
        Finish(seq_id, FinishReason::kCancelled, stop_reason, "", {});
      }
      PublishStats();
      DeliverFinished();
      return;
    }
    for (PendingRequest& p : pending) Admit(std::move(p));
    for (auto& [request_id, reason] : aborts) {
      if (auto it = seq_of_request_.find(request_id); it != seq_of_request_.end()) {
        Finish(it->second, FinishReason::kCancelled, reason, "", {});
      }
    }
    if (scheduler_.HasWork()) Step();
    PublishStats();
    DeliverFinished();
  }
}

void LLMEngineImpl::Admit(PendingRequest pending) {
  auto seq = std::make_unique<Sequence>();
  seq->seq_id = next_seq_id_++;
  seq->request_id = pending.request.request_id;
  seq->tokens = std::move(pending.request.prompt_token_ids);
  seq->num_prompt_tokens = seq->num_tokens();
  seq->max_num_tokens = seq->num_prompt_tokens + pending.request.sampling.max_tokens;
  seq->sampling = pending.request.sampling;
  seq->arrival_time = pending.arrival;
  RequestState state{seq->request_id, std::move(pending.callback),
                     IncrementalDetokenizer(*tokenizer_, seq->tokens.back()),
                     StopChecker(seq->sampling.stop), SamplingRng(seq->sampling)};
  seq_of_request_[seq->request_id] = seq->seq_id;
  requests_.emplace(seq->seq_id, std::move(state));
  scheduler_.AddSequence(std::move(seq));
}

void LLMEngineImpl::Step() {
  const absl::Time start = absl::Now();
  SchedulerOutput out = scheduler_.Schedule();
  if (out.scheduled.empty()) {
    // Nothing fits right now (cannot happen for validated requests unless the
    // cache is full of running sequences); yield instead of spinning.
    absl::SleepFor(absl::Milliseconds(1));
    return;
  }
  for (const ScheduledSequence& s : out.scheduled) {
    if (!s.seq->scheduled_before) {
      s.seq->scheduled_before = true;
      s.seq->first_scheduled_time = start;
      if (observer_ != nullptr) observer_->OnRequestScheduled(Seconds(start - s.seq->arrival_time));
    }
  }

  absl::Status status;
  try {
    status = runner_.Execute(out);
  } catch (const std::exception& e) {
    status = absl::InternalError(absl::StrCat("forward pass failed: ", e.what()));
  }
  if (!status.ok()) {
    const absl::Status error = absl::InternalError(std::string(status.message()));
    for (const ScheduledSequence& s : out.scheduled) {
      Finish(s.seq->seq_id, FinishReason::kError, error, "", {});
    }
    return;
  }
  scheduler_.OnStepComputed(out);

  const int vocab = model_->config().vocab_size;
  const absl::Time now = absl::Now();
  int row = 0;
  for (const ScheduledSequence& s : out.scheduled) {
    if (!s.samples) continue;
    Sequence& seq = *s.seq;
    RequestState& state = requests_.at(seq.seq_id);
    const float* logits = runner_.logits() + static_cast<int64_t>(row++) * vocab;
    const int32_t token =
        SampleToken(absl::MakeConstSpan(logits, vocab), seq.sampling, state.rng, sampling_scratch_);
    seq.tokens.push_back(token);
    if (seq.num_output_tokens() == 1) {
      seq.first_token_time = now;
    } else if (observer_ != nullptr) {
      observer_->OnInterTokenLatency(Seconds(now - seq.last_token_time));
    }
    seq.last_token_time = now;

    FinishReason reason = FinishReason::kNone;
    bool stopped = false;
    std::string text = state.stop.Append(state.detokenizer.Push(token), &stopped);
    if (stopped) {
      reason = FinishReason::kStop;
    } else if (!seq.sampling.ignore_eos && eos_ids_.contains(token)) {
      reason = FinishReason::kEos;
    } else if (seq.num_tokens() >= seq.max_num_tokens) {
      reason = FinishReason::kLength;
    }
    if (reason == FinishReason::kNone) {
      RequestOutput delta;
      delta.request_id = state.request_id;
      delta.token_ids = {token};
      delta.text = std::move(text);
      delta.prompt_tokens = seq.num_prompt_tokens;
      delta.completion_tokens = seq.num_output_tokens();
      delta.cached_prompt_tokens = seq.num_cached_prompt_tokens;
      state.callback(std::move(delta));
      continue;
    }
    if (reason != FinishReason::kStop) {
      bool stopped_on_flush = false;
      text += state.stop.Append(state.detokenizer.Flush(), &stopped_on_flush);
      if (stopped_on_flush) {
        reason = FinishReason::kStop;
      } else {
        text += state.stop.Flush();
      }
    }
    Finish(seq.seq_id, reason, absl::OkStatus(), std::move(text), {token});
  }

  if (observer_ != nullptr) {
    StepStats stats;
    stats.num_tokens = out.num_batched_tokens;
    stats.num_seqs = static_cast<int>(out.scheduled.size());
    stats.num_prefill_tokens = out.num_prefill_tokens;
    stats.num_decode_tokens = out.num_decode_tokens;
    stats.num_partial_prefills = out.num_partial_prefills;
    stats.num_preemptions = out.num_preemptions;
    stats.step_seconds = Seconds(absl::Now() - start);
    observer_->OnStep(stats);
  }
}

void LLMEngineImpl::Finish(int64_t seq_id, FinishReason reason, absl::Status status,
                           std::string text, std::vector<int32_t> token_ids) {
  std::unique_ptr<Sequence> seq = scheduler_.Remove(seq_id, reason == FinishReason::kError);
  auto it = requests_.find(seq_id);
  if (seq == nullptr || it == requests_.end()) return;
  RequestState state = std::move(it->second);
  requests_.erase(it);
  seq_of_request_.erase(seq->request_id);

  const absl::Time now = absl::Now();
  RequestOutput out;
  out.request_id = state.request_id;
  out.token_ids = std::move(token_ids);
  out.text = std::move(text);
  out.finished = true;
  out.finish_reason = reason;
  out.status = std::move(status);
  out.prompt_tokens = seq->num_prompt_tokens;
  out.completion_tokens = seq->num_output_tokens();
  out.cached_prompt_tokens = seq->num_cached_prompt_tokens;
  RequestTiming& t = out.timing;
  t.total_seconds = Seconds(now - seq->arrival_time);
  if (seq->scheduled_before) {
    t.queue_seconds = Seconds(seq->first_scheduled_time - seq->arrival_time);
  } else {
    t.queue_seconds = t.total_seconds;
  }
  if (seq->num_output_tokens() > 0) {
    t.time_to_first_token_seconds = Seconds(seq->first_token_time - seq->arrival_time);
    t.prefill_seconds = Seconds(seq->first_token_time - seq->first_scheduled_time);
    t.decode_seconds = Seconds(now - seq->first_token_time);
  }
  if (observer_ != nullptr) observer_->OnRequestFinished(out);
  finished_.emplace_back(std::move(state.callback), std::move(out));
}

void LLMEngineImpl::PublishStats() {
  absl::MutexLock lock(&mu_);
  stats_.num_running = scheduler_.num_running();
  scheduler_waiting_ = scheduler_.num_waiting();
  // Requests accepted but not yet seen by the engine loop wait too.
  stats_.num_waiting = scheduler_waiting_ + static_cast<int>(pending_.size());
  stats_.num_kv_blocks_total = kv_.num_blocks();
  stats_.num_kv_blocks_used = static_cast<int>(kv_.Usage() * kv_.num_blocks() + 0.5);
  stats_.kv_cache_usage = kv_.Usage();
  stats_.num_preemptions = scheduler_.total_preemptions();
  stats_.prefix_cache_queries = kv_.prefix_cache_queries();
  stats_.prefix_cache_hits = kv_.prefix_cache_hits();
  ++stats_.num_steps;
  last_progress_ = absl::Now();
}

}  // namespace

absl::StatusOr<std::unique_ptr<LLMEngine>> LLMEngine::Create(const EngineOptions& options,
                                                             EngineObserver* observer) {
  EngineOptions opts = options;
  auto dtype = ParseDType(opts.dtype);
  if (!dtype.ok()) return dtype.status();
  if (*dtype == DType::kF16) {
    return absl::InvalidArgumentError("--dtype f16 is not supported; use f32 or bf16");
  }
  if (opts.kv_cache_dtype.empty()) opts.kv_cache_dtype = *dtype == DType::kBF16 ? "bf16" : "f32";
  auto kv_dtype = ParseDType(opts.kv_cache_dtype);
  if (!kv_dtype.ok() || *kv_dtype == DType::kF16) {
    return absl::InvalidArgumentError(absl::StrCat("--kv-cache-dtype must be f32 or bf16, got '",
                                                   opts.kv_cache_dtype, "'"));
  }
  if (opts.block_size <= 0 || opts.block_size > 1024) {
    return absl::InvalidArgumentError(absl::StrCat("block_size must be in 1..1024, got ", opts.block_size));
  }
  if (opts.max_num_seqs <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("max_num_seqs must be positive, got ", opts.max_num_seqs));
  }
  if (opts.max_num_batched_tokens < opts.max_num_seqs) {
    return absl::InvalidArgumentError(absl::StrCat("max_num_batched_tokens (", opts.max_num_batched_tokens,
                                                   ") must be at least max_num_seqs (", opts.max_num_seqs, ")"));
  }
  if (opts.num_threads < 0 || opts.max_context < 0 || opts.kv_cache_bytes < 0 ||
      opts.kv_cache_tokens < 0 || opts.max_queued_requests < 0) {
    return absl::InvalidArgumentError("threads, max_context, KV-cache size and queue limit must be >= 0");
  }
  if (opts.num_threads == 0) opts.num_threads = omp_get_num_procs();

  auto weights = LoadModelWeights(opts.model_path);
  if (!weights.ok()) return weights.status();
  const ModelConfig& c = weights->config;
  opts.max_context = opts.max_context == 0 ? c.max_context : std::min(opts.max_context, c.max_context);

  auto tokenizer = LoadTokenizer(opts.model_path, opts.tokenizer_path, c.vocab_size);
  if (!tokenizer.ok()) return tokenizer.status();
  if ((*tokenizer)->vocab_size() > c.vocab_size) {
    return absl::InvalidArgumentError(absl::StrCat("the tokenizer has ", (*tokenizer)->vocab_size(),
                                                   " tokens but the model only ", c.vocab_size));
  }

  DecoderModelOptions model_options;
  model_options.weight_dtype = *dtype;
  model_options.max_num_tokens = opts.max_num_batched_tokens;
  model_options.max_num_logits = opts.max_num_seqs;
  std::unique_ptr<DecoderModel> model;
  {
    // Weight packing runs oneDNN reorders with the configured thread count.
    const int saved = omp_get_max_threads();
    omp_set_num_threads(opts.num_threads);
    auto m = DecoderModel::Create(*weights, model_options);
    omp_set_num_threads(saved);
    if (!m.ok()) return m.status();
    model = *std::move(m);
  }

  KVCacheShape shape;
  shape.num_layers = c.num_layers;
  shape.num_kv_heads = c.num_kv_heads;
  shape.block_size = opts.block_size;
  shape.head_dim = c.head_dim;
  shape.dtype = *kv_dtype;
  int64_t num_blocks;
  if (opts.kv_cache_bytes > 0) {
    num_blocks = opts.kv_cache_bytes / shape.bytes_per_block();
  } else if (opts.kv_cache_tokens > 0) {
    num_blocks = (opts.kv_cache_tokens + opts.block_size - 1) / opts.block_size;
  } else {
    const int64_t blocks_per_seq = (opts.max_context + opts.block_size - 1) / opts.block_size;
    num_blocks = std::min<int64_t>(blocks_per_seq * opts.max_num_seqs,
                                   kDefaultMaxKvCacheBytes / shape.bytes_per_block());
  }
  if (num_blocks < 1 || num_blocks > (int64_t{1} << 30)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the KV cache would have ", num_blocks, " blocks of ", shape.bytes_per_block(),
        " bytes; give a --kv-cache-bytes of at least one block"));
  }
  shape.num_blocks = static_cast<int>(num_blocks);
  opts.kv_cache_bytes = num_blocks * shape.bytes_per_block();
  opts.kv_cache_tokens = num_blocks * opts.block_size;
  auto cache = KVCache::Create(shape);
  if (!cache.ok()) return cache.status();

  return std::unique_ptr<LLMEngine>(new LLMEngineImpl(std::move(opts), observer,
                                                      *std::move(tokenizer), std::move(model),
                                                      *std::move(cache)));
}

}  // namespace llmserve
