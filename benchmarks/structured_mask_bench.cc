// Cost of structured output per decode step on GPT-2's vocabulary (50,257
// tokens, shared/models/gpt2-tokenizer): for a JSON schema, a JSON object, a
// regex and a GBNF grammar, the token bitmask (StructuredOutputMatcher::
// FillNextTokenBitmask) and the advance by the sampled token (AcceptToken)
// over a real output tokenized by the GPT-2 tokenizer; the reported time is
// per token (counter per_token, in seconds: mask + accept, one sequence). The
// first use of a compiled constraint computes its per-position mask cache
// (at compile time with the precompute, else on first use); that is measured
// apart (BM_CompileAndFillCache); the *FirstPass* cases (argument
// precompute:0/1) report the compile time (compile_ms, CPU time of the
// thread, with or without the precompute), what the precompute did
// (precomputed entries, walked_tokens: tokens its walks visited) and, per
// token of a first pass with cold caches or over a second output, the CPU
// time (median_us, p90_us, max_us, mean_us) and the entries the pass still
// computed (lazy_entries, per pass); *Compile the compile time alone. The
// shared folder is $LLMSERVE_SHARED_DIR or <source>/../shared.
#include <benchmark/benchmark.h>

#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "engine/structured/grammar_matcher.h"
#include "engine/structured/structured_output.h"
#include "engine/tokenizer/gpt2_tokenizer.h"

namespace llmserve {
namespace {

std::string SharedDir() {
  const char* env = std::getenv("LLMSERVE_SHARED_DIR");
  return env != nullptr ? env : std::string(LLMSERVE_SOURCE_DIR) + "/../shared";
}

struct Fixture {
  std::unique_ptr<Gpt2Tokenizer> tokenizer;
  std::shared_ptr<const StructuredVocabulary> vocab;
};

const Fixture& Gpt2() {
  static const Fixture* const f = [] {
    auto* fx = new Fixture();
    const std::string dir = SharedDir() + "/models/gpt2-tokenizer";
    auto tok = Gpt2Tokenizer::LoadVocabAndMerges(dir + "/encoder.json", dir + "/vocab.bpe");
    if (!tok.ok()) {
      std::fprintf(stderr, "cannot load the GPT-2 tokenizer: %s\n", tok.status().ToString().c_str());
      std::exit(1);
    }
    fx->tokenizer = *std::move(tok);
    fx->vocab = *StructuredVocabulary::FromTokenizer(*fx->tokenizer, {fx->tokenizer->eos_id()});
    return fx;
  }();
  return *f;
}

struct Case {
  StructuredOutputParams params;
  std::string output;  // a valid output, tokenized by GPT-2's tokenizer
};

Case SchemaCase() {
  Case c;
  c.params.kind = StructuredOutputParams::Kind::kJsonSchema;
  c.params.text = R"({"type":"object","properties":{
    "order_id":{"type":"string","format":"uuid"},
    "customer":{"type":"object","properties":{"name":{"type":"string"},"email":{"type":"string","format":"email"}},
                "required":["name"]},
    "items":{"type":"array","minItems":1,"items":{"type":"object","properties":{
      "sku":{"type":"string","pattern":"[A-Z]{3}-[0-9]{3}"},"qty":{"type":"integer","minimum":1,"maximum":99},
      "price":{"type":"number","minimum":0},"note":{"type":"string","maxLength":40}},
      "required":["sku","qty","price"],"additionalProperties":false}},
    "status":{"enum":["pending","shipped","delivered"]},
    "gift":{"type":"boolean"}},
    "required":["order_id","customer","items","status"],"additionalProperties":false})";
  c.output = R"({"order_id": "3f2b8c4e-1a2b-4c3d-8e9f-0a1b2c3d4e5f", "customer": {"name": "Ada Lovelace", )"
             R"("email": "ada@example.org"}, "items": [{"sku": "ABC-123", "qty": 2, "price": 19.99, )"
             R"("note": "gift wrap please"}, {"sku": "XYZ-900", "qty": 1, "price": 5}], "status": "shipped", )"
             R"("gift": true})";
  return c;
}

Case JsonObjectCase() {
  Case c;
  c.params.kind = StructuredOutputParams::Kind::kJsonObject;
  c.output = R"({"title": "The quick brown fox", "tags": ["animals", "classic"], "year": 1888, )"
             R"("rating": 4.5, "meta": {"pages": 12, "draft": false, "notes": null}})";
  return c;
}

Case RegexCase() {
  Case c;
  c.params.kind = StructuredOutputParams::Kind::kRegex;
  c.params.text = R"((Mr|Ms|Dr)\. [A-Z][a-z]+ [A-Z][a-z]+, [0-9]{1,4} [A-Z][a-z]+ (Street|Road|Avenue))";
  c.output = "Dr. Grace Hopper, 1906 Arlington Avenue";
  return c;
}

Case GrammarCase() {
  Case c;
  c.params.kind = StructuredOutputParams::Kind::kGrammar;
  c.params.text = "root ::= sentence (\" \" sentence)*\nsentence ::= word (\" \" word)* [.!?]\n"
                  "word ::= [A-Za-z]+ | [0-9]+\n";
  c.output = "The cat sat on the mat. It was 3 years old! Why not?";
  return c;
}

void RunCase(benchmark::State& state, const Case& c) {
  const Fixture& fx = Gpt2();
  auto compiler = StructuredOutputCompiler::Create(fx.vocab);
  auto compiled = compiler->Compile(c.params);
  if (!compiled.ok()) {
    state.SkipWithError(compiled.status().ToString().c_str());
    return;
  }
  auto tokens = fx.tokenizer->Encode(c.output, /*add_bos=*/false);
  std::vector<int32_t> ids = *tokens;
  ids.push_back(fx.tokenizer->eos_id());
  auto matcher = StructuredOutputMatcher::Create(*compiled);
  std::vector<uint32_t> mask(matcher->bitmask_words());
  // Warm-up: fills the compiled constraint's mask cache along this output.
  for (int32_t id : ids) {
    matcher->FillNextTokenBitmask(absl::MakeSpan(mask));
    if (((mask[id >> 5] >> (id & 31)) & 1u) == 0 || !matcher->AcceptToken(id).ok()) {
      state.SkipWithError("the output's tokens are not allowed by the constraint");
      return;
    }
  }
  for (auto _ : state) {
    matcher->Reset();
    for (int32_t id : ids) {
      matcher->FillNextTokenBitmask(absl::MakeSpan(mask));
      benchmark::DoNotOptimize(mask.data());
      (void)matcher->AcceptToken(id);
    }
  }
  state.counters["tokens"] = static_cast<double>(ids.size());
  state.counters["per_token"] = benchmark::Counter(
      static_cast<double>(ids.size()), benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

void BM_JsonSchemaMaskPerToken(benchmark::State& state) { RunCase(state, SchemaCase()); }

// The same schema with its caches warmed by one output, then a different
// output (other fields, lengths and values, so some whole states are new):
// the per-token cost of its first pass.
void BM_JsonSchemaUnseenOutputFirstPass(benchmark::State& state) {
  const Fixture& fx = Gpt2();
  const Case c = SchemaCase();
  const std::string other =
      R"({"order_id": "00000000-aaaa-4bbb-9ccc-dddddddddddd", "customer": {"name": "Grace B. Hopper"}, )"
      R"("items": [{"sku": "QRS-777", "qty": 12, "price": 0.5}, {"sku": "LMN-001", "qty": 99, "price": 1234.75, )"
      R"("note": "fragile"}, {"sku": "DEF-456", "qty": 3, "price": 7}], "status": "pending"})";
  std::vector<int32_t> warm = *fx.tokenizer->Encode(c.output, false);
  std::vector<int32_t> ids = *fx.tokenizer->Encode(other, false);
  state.counters["per_token"] = benchmark::Counter(
      static_cast<double>(ids.size()), benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
  for (auto _ : state) {
    state.PauseTiming();
    auto compiler = StructuredOutputCompiler::Create(fx.vocab, 0);
    auto compiled = compiler->Compile(c.params);
    auto matcher = StructuredOutputMatcher::Create(*compiled);
    std::vector<uint32_t> mask(matcher->bitmask_words());
    for (int32_t id : warm) {
      matcher->FillNextTokenBitmask(absl::MakeSpan(mask));
      (void)matcher->AcceptToken(id);
    }
    matcher->Reset();
    state.ResumeTiming();
    for (int32_t id : ids) {
      matcher->FillNextTokenBitmask(absl::MakeSpan(mask));
      if (!matcher->AcceptToken(id).ok()) {
        state.SkipWithError("the second output's tokens are not allowed");
        return;
      }
    }
  }
}
BENCHMARK(BM_JsonSchemaUnseenOutputFirstPass)->Unit(benchmark::kMillisecond)->Iterations(3);
void BM_JsonObjectMaskPerToken(benchmark::State& state) { RunCase(state, JsonObjectCase()); }
void BM_RegexMaskPerToken(benchmark::State& state) { RunCase(state, RegexCase()); }
void BM_GrammarMaskPerToken(benchmark::State& state) { RunCase(state, GrammarCase()); }

// Compiling the schema and filling its mask cache along the output (what the
// first request with a new schema pays; later requests hit the compiler's
// cache).
void BM_CompileAndFillCache(benchmark::State& state) {
  const Fixture& fx = Gpt2();
  const Case c = SchemaCase();
  std::vector<int32_t> ids = *fx.tokenizer->Encode(c.output, false);
  state.counters["per_token"] = benchmark::Counter(
      static_cast<double>(ids.size()), benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
  for (auto _ : state) {
    auto compiler = StructuredOutputCompiler::Create(fx.vocab, 0);
    auto compiled = compiler->Compile(c.params);
    auto matcher = StructuredOutputMatcher::Create(*compiled);
    std::vector<uint32_t> mask(matcher->bitmask_words());
    for (int32_t id : ids) {
      matcher->FillNextTokenBitmask(absl::MakeSpan(mask));
      (void)matcher->AcceptToken(id);
    }
  }
}

// CPU time of this thread in microseconds (the machine is shared).
double ThreadCpuMicros() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) * 1e-3;
}

// Per-token CPU time (mask + accept) of one pass of `ids`; appends to *out.
// Returns false if a token is not allowed.
bool TimedPass(StructuredOutputMatcher& matcher, const std::vector<int32_t>& ids, std::vector<double>* out) {
  std::vector<uint32_t> mask(matcher.bitmask_words());
  for (int32_t id : ids) {
    const double t0 = ThreadCpuMicros();
    matcher.FillNextTokenBitmask(absl::MakeSpan(mask));
    const bool ok = matcher.AcceptToken(id).ok();
    out->push_back(ThreadCpuMicros() - t0);
    if (!ok) return false;
  }
  return true;
}

void ReportPerToken(benchmark::State& state, std::vector<double> us) {
  std::sort(us.begin(), us.end());
  if (us.empty()) return;
  state.counters["median_us"] = us[us.size() / 2];
  state.counters["p90_us"] = us[us.size() * 9 / 10];
  state.counters["max_us"] = us.back();
  double sum = 0;
  for (double u : us) sum += u;
  state.counters["mean_us"] = sum / static_cast<double>(us.size());
}

// A schema whose outputs keep reaching new positions: bounded strings have
// one position per character count.
Case BoundedStringsCase() {
  Case c;
  c.params.kind = StructuredOutputParams::Kind::kJsonSchema;
  c.params.text = R"({"type":"object","properties":{
    "title":{"type":"string","minLength":1,"maxLength":80},
    "summary":{"type":"string","maxLength":300},
    "tags":{"type":"array","items":{"type":"string","maxLength":24},"maxItems":5}},
    "required":["title","summary","tags"],"additionalProperties":false})";
  c.output = R"({"title": "Notes on the Analytical Engine", "summary": "A translation of Menabrea's memoir )"
             R"(with seven notes, the last of which describes an algorithm for computing Bernoulli numbers )"
             R"(on the engine.", "tags": ["history", "computing", "mathematics"]})";
  return c;
}

// Compile time of a constraint (no compiler cache), with the mask
// precompute (argument 1) or without (0).
void CompileTime(benchmark::State& state, const Case& c) {
  const Fixture& fx = Gpt2();
  for (auto _ : state) {
    auto compiler = StructuredOutputCompiler::Create(fx.vocab, 0, state.range(0) != 0);
    auto compiled = compiler->Compile(c.params);
    if (!compiled.ok()) {
      state.SkipWithError(compiled.status().ToString().c_str());
      return;
    }
    benchmark::DoNotOptimize(compiled->get());
  }
}
void BM_JsonSchemaCompile(benchmark::State& state) { CompileTime(state, SchemaCase()); }
void BM_BoundedStringsCompile(benchmark::State& state) { CompileTime(state, BoundedStringsCase()); }

// A fresh compile (no compiler cache; precompute as state.range(0)); adds its
// thread CPU time and what the precompute did to *stats.
struct CompileStats {
  std::vector<double> compile_us;
  double entries = 0, walked_tokens = 0, lazy_entries = 0;
  int passes = 0;
};
std::shared_ptr<const structured::CompiledGrammar> TimedCompile(const benchmark::State& state, const Case& c,
                                                                CompileStats* stats) {
  const double t0 = ThreadCpuMicros();
  auto compiler = StructuredOutputCompiler::Create(Gpt2().vocab, 0, state.range(0) != 0);
  auto compiled = compiler->Compile(c.params);
  stats->compile_us.push_back(ThreadCpuMicros() - t0);
  if (!compiled.ok()) return nullptr;
  auto grammar = std::dynamic_pointer_cast<const structured::CompiledGrammar>(*compiled);
  stats->entries = static_cast<double>(grammar->precompute_stats().entries);
  stats->walked_tokens = static_cast<double>(grammar->precompute_stats().walked_tokens);
  return grammar;
}

void ReportCompile(benchmark::State& state, CompileStats stats) {
  std::sort(stats.compile_us.begin(), stats.compile_us.end());
  if (stats.compile_us.empty()) return;
  state.counters["compile_ms"] = stats.compile_us[stats.compile_us.size() / 2] / 1000.0;
  state.counters["precomputed"] = stats.entries;
  state.counters["walked_tokens"] = stats.walked_tokens;
  state.counters["lazy_entries"] = stats.passes > 0 ? stats.lazy_entries / stats.passes : 0;
}

// First pass over an output with a freshly compiled constraint (compile not
// timed): every whole state and (position, return position) entry is new.
// Per-token CPU time: median_us, p90_us, max_us over the iterations' tokens.
void FirstPassColdCaches(benchmark::State& state, const Case& c) {
  const Fixture& fx = Gpt2();
  std::vector<int32_t> ids = *fx.tokenizer->Encode(c.output, false);
  ids.push_back(fx.tokenizer->eos_id());
  std::vector<double> us;
  CompileStats stats;
  for (auto _ : state) {
    state.PauseTiming();
    auto compiled = TimedCompile(state, c, &stats);
    auto matcher = StructuredOutputMatcher::Create(compiled);
    const std::size_t lazy_before = compiled->mask_cache().num_lazy();
    state.ResumeTiming();
    if (!TimedPass(*matcher, ids, &us)) {
      state.SkipWithError("the output's tokens are not allowed");
      return;
    }
    stats.lazy_entries += static_cast<double>(compiled->mask_cache().num_lazy() - lazy_before);
    ++stats.passes;
  }
  ReportPerToken(state, std::move(us));
  ReportCompile(state, std::move(stats));
}
void BM_JsonSchemaFirstPassColdCaches(benchmark::State& state) { FirstPassColdCaches(state, SchemaCase()); }
void BM_BoundedStringsFirstPassColdCaches(benchmark::State& state) {
  FirstPassColdCaches(state, BoundedStringsCase());
}

// A first pass over `other` after the caches were warmed by the case's own
// output (a new compile each iteration), per-token median and max.
void FirstPassWarmCaches(benchmark::State& state, const Case& c, const std::string& other) {
  const Fixture& fx = Gpt2();
  std::vector<int32_t> warm = *fx.tokenizer->Encode(c.output, false);
  std::vector<int32_t> ids = *fx.tokenizer->Encode(other, false);
  std::vector<double> us;
  CompileStats stats;
  for (auto _ : state) {
    state.PauseTiming();
    auto compiled = TimedCompile(state, c, &stats);
    auto matcher = StructuredOutputMatcher::Create(compiled);
    std::vector<double> ignored;
    (void)TimedPass(*matcher, warm, &ignored);
    matcher->Reset();
    const std::size_t lazy_before = compiled->mask_cache().num_lazy();
    state.ResumeTiming();
    if (!TimedPass(*matcher, ids, &us)) {
      state.SkipWithError("the second output's tokens are not allowed");
      return;
    }
    stats.lazy_entries += static_cast<double>(compiled->mask_cache().num_lazy() - lazy_before);
    ++stats.passes;
  }
  ReportPerToken(state, std::move(us));
  ReportCompile(state, std::move(stats));
}

// The order schema: a second order with other values.
void BM_JsonSchemaFirstPassWarmCaches(benchmark::State& state) {
  FirstPassWarmCaches(
      state, SchemaCase(),
      R"({"order_id": "00000000-aaaa-4bbb-9ccc-dddddddddddd", "customer": {"name": "Grace B. Hopper"}, )"
      R"("items": [{"sku": "QRS-777", "qty": 12, "price": 0.5}, {"sku": "LMN-001", "qty": 99, "price": 1234.75, )"
      R"("note": "fragile"}, {"sku": "DEF-456", "qty": 3, "price": 7}], "status": "pending"})");
}

// The bounded-strings schema: a second output with other string lengths
// (new character counts).
void BM_BoundedStringsFirstPassWarmCaches(benchmark::State& state) {
  FirstPassWarmCaches(
      state, BoundedStringsCase(),
      R"({"title": "On Computable Numbers, with an Application to the Entscheidungsproblem", "summary": )"
      R"("Defines a-machines, shows that a universal machine exists and that the halting problem has no )"
      R"(solution, so Hilbert's decision problem cannot be solved.", "tags": ["logic", "theory of )"
      R"(computation", "Turing machines", "decidability"]})");
}

BENCHMARK(BM_JsonSchemaCompile)->ArgName("precompute")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->Iterations(5);
BENCHMARK(BM_BoundedStringsCompile)->ArgName("precompute")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->Iterations(5);
BENCHMARK(BM_JsonSchemaFirstPassColdCaches)->ArgName("precompute")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)
    ->Iterations(3);
BENCHMARK(BM_JsonSchemaFirstPassWarmCaches)->ArgName("precompute")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)
    ->Iterations(3);
BENCHMARK(BM_BoundedStringsFirstPassColdCaches)->ArgName("precompute")->Arg(0)->Arg(1)
    ->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK(BM_BoundedStringsFirstPassWarmCaches)->ArgName("precompute")->Arg(0)->Arg(1)
    ->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK(BM_JsonSchemaMaskPerToken)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_JsonObjectMaskPerToken)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_RegexMaskPerToken)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_GrammarMaskPerToken)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CompileAndFillCache)->Unit(benchmark::kMillisecond)->Iterations(3);

}  // namespace
}  // namespace llmserve
