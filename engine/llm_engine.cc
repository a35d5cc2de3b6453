#include "engine/llm_engine.h"

#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <atomic>
#include <deque>
#include <thread>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "engine/common/cpu_isa.h"
#include "engine/common/huge_page_buffer.h"
#include "engine/common/openmp_wait.h"
#include "engine/kv_cache/kv_cache.h"
#include "engine/kv_cache/kv_cache_config.h"
#include "engine/kv_cache/kv_cache_manager.h"
#include "engine/loaders/gguf.h"
#include "engine/loaders/gguf_model.h"
#include "engine/loaders/model_loader.h"
#include "engine/model_runner.h"
#include "engine/output_processor.h"
#include "engine/models/decoder_model.h"
#include "engine/sampling/sequence_sampler.h"
#include "engine/scheduler/scheduler.h"
#include "engine/structured/structured_output.h"
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

double Seconds(absl::Duration d) { return absl::ToDoubleSeconds(d); }

// A request accepted by AddRequest, not yet seen by the engine thread.
struct PendingRequest {
  EngineRequest request;
  OutputCallback callback;
  absl::Time arrival;
  /// The compiled SamplingParams::structured_output, or null.
  std::shared_ptr<const CompiledStructuredOutput> structured_output;
};

// The structured-output compiler of a tokenizer (eos ids included), or the
// reason there is none.
absl::StatusOr<std::unique_ptr<StructuredOutputCompiler>> MakeStructuredOutputCompiler(
    const Tokenizer& tokenizer, const std::vector<int32_t>& eos_token_ids) {
  auto vocabulary = StructuredVocabulary::FromTokenizer(tokenizer, eos_token_ids);
  if (!vocabulary.ok()) return vocabulary.status();
  std::unique_ptr<StructuredOutputCompiler> compiler =
      StructuredOutputCompiler::Create(*std::move(vocabulary));
  if (compiler == nullptr) return absl::UnimplementedError("no structured-output compiler");
  return compiler;
}

// The engine: caller-facing queues (pending requests, aborts, in-flight ids,
// stats) under mu_, and one engine thread that runs the loop
//   take new requests and aborts → Scheduler::Schedule → ModelRunner::Execute
//   (forward + sample) → Scheduler::UpdateFromOutput with the
//   OutputProcessor's verdict → publish stats → deliver final outputs.
// Per-request state lives with its owner: the scheduler's Sequence (tokens,
// KV progress), the runner's block table and RNG, the output processor's
// detokenizer, stop checker and timing.
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
        runner_(model_.get(), cache_.get()),
        outputs_(*tokenizer_, model_->config().eos_token_ids, observer_),
        structured_(MakeStructuredOutputCompiler(*tokenizer_, model_->config().eos_token_ids)) {
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
    EngineStats stats = stats_;
    // Live: ids are released after the last publish (DeliverFinished).
    stats.num_request_ids = static_cast<int>(active_ids_.size());
    return stats;
  }
  double SecondsSinceProgress() const override {
    absl::MutexLock lock(&mu_);
    if (!has_work_ && pending_.empty()) return 0.0;
    return Seconds(absl::Now() - last_progress_);
  }
  void SetSchedulingPausedForTesting(bool paused) override { scheduling_paused_ = paused; }
  void FailNextForwardPassForTesting(absl::Status error) override {
    absl::MutexLock lock(&mu_);
    injected_fault_ = std::move(error);
    fault_armed_ = true;
  }
  int64_t weight_bytes_per_step() const override { return model_->weight_bytes_per_step(); }
  std::string linear_implementation() const override { return model_->linear_implementation(); }
  std::vector<std::string> kernel_names() const override {
    std::vector<std::string> lines = model_->DescribeKernels();
    lines.push_back(absl::StrCat("kv cache: ", std::string(DTypeName(cache_->dtype())), "; cpu isa: ",
                                 CpuIsaDescription(), "; threads: ", options_.num_threads,
                                 ", openmp wait: ", OpenMpWaitDescription(),
                                 "; weights: ", HugePagesDescription()));
    return lines;
  }
  const ModelConfig& model_config() const override { return model_->config(); }
  const Tokenizer& tokenizer() const override { return *tokenizer_; }
  const EngineOptions& options() const override { return options_; }

 private:
  void Loop();
  // Registers an accepted request with the output processor and the scheduler.
  void Admit(PendingRequest pending);
  // Removes a request from the scheduler (freeing its blocks) and ends it.
  void Cancel(int64_t seq_id, absl::Status reason);
  // One engine step: schedule, run + sample, update, emit. Returns whether
  // the step computed tokens.
  bool Step();
  void PublishStats(bool progressed);
  // Delivers the final outputs of this iteration (after PublishStats).
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
  OutputProcessor outputs_;
  // Compiles requests' structured outputs (thread-safe, cached by content);
  // an error if the tokenizer gives the constraint no vocabulary.
  const absl::StatusOr<std::unique_ptr<StructuredOutputCompiler>> structured_;
  int64_t next_seq_id_ = 0;
  std::atomic<bool> scheduling_paused_{false};

  // Shared with callers.
  mutable absl::Mutex mu_;
  std::deque<PendingRequest> pending_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<std::string, absl::Status>> aborts_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<std::string> active_ids_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status stop_reason_ ABSL_GUARDED_BY(mu_);
  // FailNextForwardPassForTesting: handed to the runner by the engine thread
  // just before it runs a step (fault_armed_ spares the lock when none is set).
  absl::Status injected_fault_ ABSL_GUARDED_BY(mu_);
  std::atomic<bool> fault_armed_{false};
  bool has_work_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time last_progress_ ABSL_GUARDED_BY(mu_);
  EngineStats stats_ ABSL_GUARDED_BY(mu_);
  int scheduler_waiting_ ABSL_GUARDED_BY(mu_) = 0;  // waiting in the scheduler, at the last publish
  std::thread thread_;
  absl::Mutex shutdown_mu_;
};

absl::Status LLMEngineImpl::AddRequest(EngineRequest request, OutputCallback on_output) {
  if (absl::Status s = ValidateRequest(request, request_limits()); !s.ok()) return s;
  // Compiled here, on the caller's thread (a cache hit for a known constraint),
  // with its token masks precomputed (tens of ms for a new JSON schema on
  // GPT-2's vocabulary), so the engine's decode steps find them cached.
  std::shared_ptr<const CompiledStructuredOutput> compiled;
  if (request.sampling.structured_output.has_value()) {
    if (!structured_.ok()) {
      return absl::UnimplementedError(
          absl::StrCat("sampling_params.structured_output is not available for this model: ",
                       structured_.status().message()));
    }
    auto c = (*structured_)->Compile(*request.sampling.structured_output);
    if (!c.ok()) {
      // The compiler names the field from "structured_output."; the API's
      // messages start with the proto field.
      const absl::string_view m = c.status().message();
      return absl::Status(c.status().code(),
                          absl::StartsWith(m, "structured_output")
                              ? absl::StrCat("sampling_params.", m)
                              : absl::StrCat("sampling_params.structured_output: ", m));
    }
    compiled = *std::move(c);
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
  // Work arrives at an idle engine: the stall clock starts now.
  if (!has_work_ && pending_.empty()) last_progress_ = absl::Now();
  pending_.push_back({std::move(request), std::move(on_output), absl::Now(), std::move(compiled)});
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

void LLMEngineImpl::DeliverFinished() {
  std::vector<std::pair<OutputCallback, RequestOutput>> finished = outputs_.TakeFinished();
  if (finished.empty()) return;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& finished : finished) {
      const std::string& id = finished.second.request_id;
      active_ids_.erase(id);
      // An abort queued for a request that just finished must not hit a new
      // request that reuses its id.
      std::erase_if(aborts_, [&id](const auto& a) { return a.first == id; });
    }
  }
  for (auto& [callback, out] : finished) callback(std::move(out));
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
        // Idle until now: the stall clock starts with the new work.
        last_progress_ = absl::Now();
      }
      pending.swap(pending_);
      aborts.swap(aborts_);
      stopping = stopping_;
      stop_reason = stop_reason_;
      has_work_ = true;
    }
    if (stopping) {
      for (PendingRequest& p : pending) {
        outputs_.FinishUnregistered(p.request, std::move(p.callback), p.arrival, stop_reason);
      }
      for (int64_t seq_id : scheduler_.AllSequenceIds()) Cancel(seq_id, stop_reason);
      PublishStats(/*progressed=*/false);
      DeliverFinished();
      return;
    }
    for (PendingRequest& p : pending) Admit(std::move(p));
    for (auto& [request_id, reason] : aborts) {
      for (int64_t seq_id : outputs_.FindSequences(request_id)) Cancel(seq_id, reason);
    }
    const bool progressed = scheduler_.HasWork() && Step();
    // Idle: no sequence is left, so no runner state is needed.
    if (scheduler_.num_sequences() == 0) runner_.ReleaseAll();
    PublishStats(progressed);
    DeliverFinished();
  }
}

void LLMEngineImpl::Admit(PendingRequest pending) {
  // One sequence per completion (SamplingParams::n): completion 0 computes the
  // prompt, the others share its full prompt blocks (Sequence::parent_seq_id),
  // draw from seed + i and skip prompt logprobs (completion 0 reports them).
  const EngineRequest& request = pending.request;
  const int n = std::max(1, request.sampling.n);
  std::vector<int64_t> seq_ids;
  for (int i = 0; i < n; ++i) seq_ids.push_back(next_seq_id_++);
  outputs_.AddRequest(seq_ids, request, std::move(pending.callback), pending.arrival);
  // Each completion gets its own matcher (made by the runner at its first scheduling).
  if (pending.structured_output != nullptr) {
    for (int64_t id : seq_ids) runner_.SetStructuredOutput(id, pending.structured_output);
  }
  for (int i = 0; i < n; ++i) {
    auto seq = std::make_unique<Sequence>();
    seq->seq_id = seq_ids[i];
    seq->request_id = request.request_id;
    seq->tokens = request.prompt_token_ids;
    seq->num_prompt_tokens = seq->num_tokens();
    seq->max_num_tokens = seq->num_prompt_tokens + request.sampling.max_tokens;
    seq->sampling = request.sampling;
    seq->sampling.seed = CompletionSeed(request.sampling, i);
    seq->priority = request.priority;
    if (i > 0) {
      seq->parent_seq_id = seq_ids[0];
      seq->sampling.prompt_logprobs.reset();
    }
    scheduler_.AddSequence(std::move(seq));
  }
}

void LLMEngineImpl::Cancel(int64_t seq_id, absl::Status reason) {
  scheduler_.Remove(seq_id);
  outputs_.Abort(seq_id, FinishReason::kCancelled, std::move(reason));
}

bool LLMEngineImpl::Step() {
  const absl::Time start = absl::Now();
  SchedulerOutput out = scheduling_paused_ ? SchedulerOutput{} : scheduler_.Schedule();
  if (out.scheduled.empty()) {
    // Nothing fits right now (cannot happen for validated requests unless the
    // cache is full of running sequences); yield instead of spinning.
    absl::SleepFor(absl::Milliseconds(1));
    return false;
  }
  outputs_.OnScheduled(out, start);

  if (fault_armed_.load(std::memory_order_relaxed) && fault_armed_.exchange(false)) {
    absl::MutexLock lock(&mu_);
    runner_.FailNextForwardForTesting(std::exchange(injected_fault_, absl::OkStatus()));
  }
  absl::StatusOr<ModelRunnerOutput> sampled = runner_.Execute(out);
  if (!sampled.ok()) {
    const absl::Status error = absl::InternalError(std::string(sampled.status().message()));
    std::vector<std::string> failed_requests;
    for (const ScheduledRequest& r : out.scheduled) {
      if (const Sequence* seq = scheduler_.Find(r.seq_id)) failed_requests.push_back(seq->request_id);
    }
    for (int64_t seq_id : scheduler_.FailStep(out)) {
      outputs_.Abort(seq_id, FinishReason::kError, error);
    }
    // The request has failed: its other completions (n > 1), not in this
    // step, end with it instead of running on for a result nobody gets.
    for (const std::string& request_id : failed_requests) {
      for (int64_t seq_id : outputs_.FindSequences(request_id)) {
        scheduler_.Remove(seq_id);
        outputs_.Abort(seq_id, FinishReason::kError, error);
      }
    }
    return false;
  }
  for (const PromptLogprobsChunk& chunk : sampled->prompt_logprobs) outputs_.AddPromptLogprobs(chunk);
  const absl::Time now = absl::Now();
  scheduler_.UpdateFromOutput(out, *sampled, [&](const SequenceUpdate& update) {
    return outputs_.ProcessToken(update, now);
  });
  const absl::Time output_end = absl::Now();

  if (observer_ != nullptr) {
    StepStats stats;
    stats.num_tokens = out.num_batched_tokens;
    stats.num_seqs = static_cast<int>(out.scheduled.size());
    stats.num_prefill_tokens = out.num_prefill_tokens;
    stats.num_decode_tokens = out.num_decode_tokens;
    stats.num_partial_prefills = out.num_partial_prefills;
    stats.num_preemptions = out.num_preemptions;
    stats.step_seconds = Seconds(output_end - start);
    stats.output_seconds = Seconds(output_end - now);
    observer_->OnStep(stats);
  }
  return true;
}

void LLMEngineImpl::PublishStats(bool progressed) {
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
  stats_.num_scheduler_sequences = scheduler_.num_sequences();
  stats_.num_kv_sequences = kv_.num_sequences();
  stats_.num_runner_sequences = runner_.num_sequences();
  stats_.num_output_sequences = outputs_.num_sequences();
  stats_.num_output_request_ids = outputs_.num_request_ids();
  // Progress is a step that computed tokens; a loop pass that scheduled
  // nothing (a stalled scheduler) is not, so the watchdog can see it.
  if (progressed) {
    ++stats_.num_steps;
    last_progress_ = absl::Now();
  }
}

}  // namespace

RequestLimits LLMEngine::request_limits() const {
  RequestLimits limits;
  limits.vocab_size = model_config().vocab_size;
  limits.max_context = options().max_context > 0 ? options().max_context : model_config().max_context;
  limits.kv_cache_tokens = options().kv_cache_tokens;
  limits.block_size = options().block_size;
  limits.max_logprobs = options().max_logprobs;
  limits.max_n = options().max_n;
  limits.eos_token_ids = model_config().eos_token_ids;
  return limits;
}

absl::StatusOr<int> EffectiveNumThreads(int num_threads) {
  if (num_threads < 0) {
    return absl::InvalidArgumentError(absl::StrCat("threads must be >= 0, got ", num_threads));
  }
  if (num_threads == 0) num_threads = omp_get_num_procs();
  if (const char* cap = std::getenv("LLMSERVE_MAX_THREADS"); cap != nullptr && *cap != '\0') {
    int max_threads = 0;
    if (!absl::SimpleAtoi(cap, &max_threads) || max_threads < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("LLMSERVE_MAX_THREADS must be a positive integer, got '", cap, "'"));
    }
    num_threads = std::min(num_threads, max_threads);
  }
  return num_threads;
}

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
  if (opts.max_logprobs < 0 || opts.max_n < 1) {
    return absl::InvalidArgumentError(absl::StrCat("max_logprobs must be >= 0 and max_n >= 1, got ",
                                                   opts.max_logprobs, " and ", opts.max_n));
  }
  auto num_threads = EffectiveNumThreads(opts.num_threads);
  if (!num_threads.ok()) return num_threads.status();
  opts.num_threads = *num_threads;

  // A GGUF file carries its tokenizer; --tokenizer, if given, still wins.
  absl::StatusOr<ModelWeights> weights;
  absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer;
  if (GgufFile::HasMagic(opts.model_path)) {
    auto gguf = LoadGgufModel(opts.model_path);
    if (!gguf.ok()) return gguf.status();
    weights = std::move(gguf->weights);
    tokenizer = std::move(gguf->tokenizer);
  } else {
    weights = LoadModelWeights(opts.model_path);
  }
  if (!weights.ok()) return weights.status();
  const ModelConfig& c = weights->config;
  opts.max_context = opts.max_context == 0 ? c.max_context : std::min(opts.max_context, c.max_context);

  if (!tokenizer.ok() || *tokenizer == nullptr || !opts.tokenizer_path.empty()) {
    tokenizer = LoadTokenizer(opts.model_path, opts.tokenizer_path, c.vocab_size);
  }
  if (!tokenizer.ok()) return tokenizer.status();
  if ((*tokenizer)->vocab_size() > c.vocab_size) {
    return absl::InvalidArgumentError(absl::StrCat("the tokenizer has ", (*tokenizer)->vocab_size(),
                                                   " tokens but the model only ", c.vocab_size));
  }

  DecoderModelOptions model_options;
  model_options.weight_dtype = *dtype;
  if (!opts.quantization.empty()) {
    auto q = ParseDType(opts.quantization);
    if (!q.ok() || (*q != DType::kQ8_0 && *q != DType::kQ4_0)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--quantization must be q8_0 or q4_0, got '", opts.quantization, "'"));
    }
    model_options.quantization = *q;
  }
  model_options.max_num_tokens = opts.max_num_batched_tokens;
  // Every token of a step may need logits (prompt logprobs), not only the last of each sequence.
  model_options.max_num_logits = opts.max_num_batched_tokens;
  std::unique_ptr<DecoderModel> model;
  {
    // Weight packing runs oneDNN reorders with the configured thread count.
    const int saved = omp_get_max_threads();
    omp_set_num_threads(opts.num_threads);
    auto m = DecoderModel::Create(*weights, model_options);
    omp_set_num_threads(saved);
    // The loading thread's OpenMP team would otherwise idle beside the engine
    // thread's and throttle its spinning (engine/common/openmp_wait.h).
    ReleaseOpenMpTeamIfWaitBounded();
    if (!m.ok()) return m.status();
    model = *std::move(m);
  }

  KVCacheSpec spec;
  spec.num_layers = c.num_layers;
  spec.num_kv_heads = c.num_kv_heads;
  spec.head_dim = c.head_dim;
  spec.dtype = *kv_dtype;  // --kv-cache-dtype: the storage of engine/kv_cache/kv_cache.h
  KVCacheSizingOptions sizing;
  sizing.block_size = opts.block_size;
  sizing.num_bytes = opts.kv_cache_bytes;
  sizing.num_tokens = opts.kv_cache_tokens;
  sizing.max_context = opts.max_context;
  sizing.max_num_seqs = opts.max_num_seqs;
  absl::StatusOr<KVCacheConfig> kv_config = GetKVCacheConfig(spec, sizing);
  if (!kv_config.ok()) return kv_config.status();
  opts.kv_cache_bytes = kv_config->num_bytes();
  opts.kv_cache_tokens = kv_config->num_tokens();
  KVCacheShape shape;
  shape.num_layers = c.num_layers;
  shape.num_kv_heads = c.num_kv_heads;
  shape.block_size = kv_config->block_size;
  shape.head_dim = c.head_dim;
  shape.dtype = *kv_dtype;
  shape.num_blocks = kv_config->num_blocks;
  auto cache = KVCache::Create(shape);
  if (!cache.ok()) return cache.status();

  return std::unique_ptr<LLMEngine>(new LLMEngineImpl(std::move(opts), observer,
                                                      *std::move(tokenizer), std::move(model),
                                                      *std::move(cache)));
}

}  // namespace llmserve
