#include "engine/structured/structured_output.h"

#include <algorithm>
#include <future>
#include <limits>
#include <list>
#include <mutex>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "engine/structured/grammar_matcher.h"
#include "engine/structured/grammar_source.h"
#include "engine/structured/pushdown_automaton.h"

namespace llmserve {

namespace {

// A content key of the params: kind, then length-prefixed strings.
std::string CacheKey(const StructuredOutputParams& p) {
  std::string key = absl::StrCat(static_cast<int>(p.kind), ":", p.text.size(), ":", p.text);
  for (const std::string& c : p.choices) absl::StrAppend(&key, "|", c.size(), ":", c);
  return key;
}

class CachingCompiler final : public StructuredOutputCompiler {
 public:
  CachingCompiler(std::shared_ptr<const StructuredVocabulary> vocab, int capacity, bool precompute_masks,
                  std::size_t max_bytes)
      : vocab_(std::move(vocab)),
        capacity_(std::max(capacity, 0)),
        precompute_masks_(precompute_masks),
        max_bytes_(max_bytes) {}

  absl::StatusOr<std::shared_ptr<const CompiledStructuredOutput>> Compile(
      const StructuredOutputParams& params) override {
    const std::string key = CacheKey(params);
    std::promise<Result> promise;
    std::unique_lock<std::mutex> lock(mu_);
    if (auto it = index_.find(key); it != index_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second);
      return it->second->second;
    }
    // Another thread is compiling it: wait for its result.
    if (auto it = in_flight_.find(key); it != in_flight_.end()) {
      std::shared_future<Result> pending = it->second;
      lock.unlock();
      return pending.get();
    }
    in_flight_.emplace(key, promise.get_future().share());
    ++num_compiles_;
    lock.unlock();
    Result result = CompileUncached(params);
    lock.lock();
    in_flight_.erase(key);
    promise.set_value(result);
    if (!result.ok() || capacity_ == 0) return result;
    lru_.emplace_front(key, *result);
    index_[key] = lru_.begin();
    std::size_t bytes = 0;
    for (const Entry& e : lru_) bytes += e.second->memory_bytes();
    while (lru_.size() > 1 && (static_cast<int>(lru_.size()) > capacity_ || bytes > max_bytes_)) {
      bytes -= std::min(bytes, lru_.back().second->memory_bytes());
      index_.erase(lru_.back().first);
      lru_.pop_back();
    }
    return result;
  }

  std::size_t num_compiles() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return num_compiles_;
  }

 private:
  using Result = absl::StatusOr<std::shared_ptr<const CompiledStructuredOutput>>;
  using Entry = std::pair<std::string, std::shared_ptr<const CompiledStructuredOutput>>;

  Result CompileUncached(const StructuredOutputParams& params) const {
    absl::StatusOr<structured::Grammar> grammar = structured::BuildGrammar(params);
    if (!grammar.ok()) return grammar.status();
    absl::StatusOr<std::shared_ptr<const structured::PushdownAutomaton>> pda =
        structured::PushdownAutomaton::Compile(*grammar, structured::FieldName(params.kind));
    if (!pda.ok()) return pda.status();
    return std::make_shared<const structured::CompiledGrammar>(*std::move(pda), vocab_, precompute_masks_);
  }

  std::shared_ptr<const StructuredVocabulary> vocab_;
  const int capacity_;
  const bool precompute_masks_;
  const std::size_t max_bytes_;
  mutable std::mutex mu_;
  std::size_t num_compiles_ = 0;
  std::list<Entry> lru_;
  absl::flat_hash_map<std::string, std::list<Entry>::iterator> index_;
  // Compiles under way, by key: later callers wait for their result.
  absl::flat_hash_map<std::string, std::shared_future<Result>> in_flight_;
};

}  // namespace

absl::StatusOr<std::shared_ptr<const StructuredVocabulary>> StructuredVocabulary::FromTokenizer(
    const Tokenizer& tokenizer, std::vector<int32_t> eos_token_ids) {
  const int32_t n = tokenizer.vocab_size();
  if (n <= 0) return absl::InvalidArgumentError("structured output: the tokenizer has no tokens");
  // An ordinary token to stand before each token (so a SentencePiece piece
  // keeps its leading space, as it has in the middle of a text).
  int32_t prev = -1;
  for (int32_t id = 0; id < n; ++id) {
    if (id == tokenizer.bos_id() || id == tokenizer.eos_id()) continue;
    if (std::find(eos_token_ids.begin(), eos_token_ids.end(), id) != eos_token_ids.end()) continue;
    std::string b = tokenizer.TokenBytes(-1, id);
    if (!b.empty() && b[0] != ' ') {
      prev = id;
      break;
    }
  }
  std::vector<std::string> bytes(n);
  for (int32_t id = 0; id < n; ++id) {
    if (id == tokenizer.bos_id() || id == tokenizer.eos_id()) continue;
    bytes[id] = tokenizer.TokenBytes(prev, id);
  }
  return FromTokenBytes(std::move(bytes), std::move(eos_token_ids));
}

absl::StatusOr<std::shared_ptr<const StructuredVocabulary>> StructuredVocabulary::FromTokenBytes(
    std::vector<std::string> token_bytes, std::vector<int32_t> eos_token_ids) {
  const int32_t n = static_cast<int32_t>(token_bytes.size());
  if (n <= 0) return absl::InvalidArgumentError("structured output: the vocabulary has no tokens");
  std::shared_ptr<StructuredVocabulary> v(new StructuredVocabulary());
  for (int32_t id : eos_token_ids) {
    if (id < 0 || id >= n) {
      return absl::InvalidArgumentError(
          absl::StrCat("structured output: EOS id ", id, " is not < vocab_size ", n));
    }
    token_bytes[id].clear();
  }
  std::sort(eos_token_ids.begin(), eos_token_ids.end());
  eos_token_ids.erase(std::unique(eos_token_ids.begin(), eos_token_ids.end()), eos_token_ids.end());
  v->token_bytes_ = std::move(token_bytes);
  v->eos_token_ids_ = std::move(eos_token_ids);
  for (int32_t id = 0; id < n; ++id) {
    if (!v->token_bytes_[id].empty()) v->sorted_ids_.push_back(id);
  }
  std::sort(v->sorted_ids_.begin(), v->sorted_ids_.end(), [&](int32_t a, int32_t b) {
    return v->token_bytes_[a] < v->token_bytes_[b] || (v->token_bytes_[a] == v->token_bytes_[b] && a < b);
  });
  v->byte_sets_.assign(n, std::array<uint64_t, 4>{});
  for (int32_t id = 0; id < n; ++id) {
    for (char c : v->token_bytes_[id]) {
      const auto b = static_cast<uint8_t>(c);
      v->byte_sets_[id][b >> 6] |= uint64_t{1} << (b & 63);
    }
  }
  // longer_[m + 1] is longer_[m] without the tokens of exactly m + 1 bytes.
  for (const std::vector<int32_t>* prev = &v->sorted_ids_; !prev->empty(); prev = &v->longer_.back()) {
    const std::size_t m = v->longer_.size();
    std::vector<int32_t> next;
    for (int32_t id : *prev) {
      if (v->token_bytes_[id].size() > m) next.push_back(id);
    }
    v->longer_.push_back(std::move(next));
  }
  return std::shared_ptr<const StructuredVocabulary>(std::move(v));
}

bool StructuredVocabulary::is_eos(int32_t id) const {
  return std::binary_search(eos_token_ids_.begin(), eos_token_ids_.end(), id);
}

std::unique_ptr<StructuredOutputCompiler> StructuredOutputCompiler::Create(
    std::shared_ptr<const StructuredVocabulary> vocabulary, int cache_capacity, bool precompute_masks,
    std::size_t cache_max_bytes) {
  if (vocabulary == nullptr) return nullptr;
  return std::make_unique<CachingCompiler>(std::move(vocabulary), cache_capacity, precompute_masks,
                                           cache_max_bytes);
}

std::unique_ptr<StructuredOutputMatcher> StructuredOutputMatcher::Create(
    std::shared_ptr<const CompiledStructuredOutput> compiled) {
  auto grammar = std::dynamic_pointer_cast<const structured::CompiledGrammar>(std::move(compiled));
  if (grammar == nullptr) return nullptr;
  return std::make_unique<structured::GrammarMatcher>(std::move(grammar));
}

void ApplyTokenBitmask(absl::Span<const uint32_t> bitmask, absl::Span<float> logits) {
  const float neg_inf = -std::numeric_limits<float>::infinity();
  const std::size_t n = std::min(logits.size(), bitmask.size() * 32);
  for (std::size_t i = 0; i < n; ++i) {
    if (((bitmask[i >> 5] >> (i & 31)) & 1u) == 0) logits[i] = neg_inf;
  }
  for (std::size_t i = n; i < logits.size(); ++i) logits[i] = neg_inf;
}

}  // namespace llmserve
