#ifndef LLMSERVE_ENGINE_STRUCTURED_STRUCTURED_OUTPUT_H_
#define LLMSERVE_ENGINE_STRUCTURED_STRUCTURED_OUTPUT_H_

// Structured output (issue #23): a JSON schema, any JSON object, a regex, a
// choice or a GBNF grammar compiled once into a token-level automaton over the
// model's vocabulary (tokens as byte strings), and a per-sequence matcher that
// gives the bitmask of tokens that may come next (the approach of xgrammar,
// Dong et al. 2024, arXiv:2411.15100, and of llama.cpp's GBNF sampler).
//
// Inside: every kind becomes a byte-level context-free grammar
// (byte_grammar.h; json_schema_compiler.h, json_grammar.h, regex_parser.h,
// gbnf_parser.h, grammar_source.h), lowered to a pushdown automaton
// (pushdown_automaton.h) run over bytes as a set of hash-consed stacks
// (stack_recognizer.h). Token masks walk the vocabulary's byte trie
// (token_walk.h) from per-position cached masks (token_mask_cache.h) and are
// cached per whole state (state_mask_cache.h); grammar_matcher.h implements
// the classes below. docs/structured-output.md describes the choices.

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "engine/sampling/structured_output_params.h"
#include "engine/tokenizer/tokenizer.h"

namespace llmserve {

/// The vocabulary as the constraint sees it: each token id's bytes in the
/// middle of a text (Tokenizer::TokenBytes after an ordinary token), and the
/// end-of-sequence ids. Special tokens (BOS, EOS, control) have no bytes and
/// are never allowed except EOS where the output is complete.
class StructuredVocabulary {
 public:
  /// The bytes of each token are Tokenizer::TokenBytes(prev, id) with `prev`
  /// an ordinary token, so a SentencePiece '▁' is a space (as in the middle of
  /// a text) and GPT-2's byte-level tokens are their raw bytes. Tokens with no
  /// bytes (BOS, EOS, control tokens) are never allowed, except the ids of
  /// `eos_token_ids` where the output is complete.
  /// Errors: INVALID_ARGUMENT if `tokenizer` has no tokens or an EOS id is out
  /// of range.
  static absl::StatusOr<std::shared_ptr<const StructuredVocabulary>> FromTokenizer(
      const Tokenizer& tokenizer, std::vector<int32_t> eos_token_ids);
  /// Same from explicit byte strings per id (empty: a special token).
  static absl::StatusOr<std::shared_ptr<const StructuredVocabulary>> FromTokenBytes(
      std::vector<std::string> token_bytes, std::vector<int32_t> eos_token_ids);
  virtual ~StructuredVocabulary() = default;
  virtual int32_t vocab_size() const { return static_cast<int32_t>(token_bytes_.size()); }
  /// The bytes of token `id` (empty for special tokens); id in [0, vocab_size()).
  const std::string& token_bytes(int32_t id) const { return token_bytes_[id]; }
  const std::vector<int32_t>& eos_token_ids() const { return eos_token_ids_; }
  bool is_eos(int32_t id) const;
  /// The ids with bytes, sorted by their bytes (a depth-first order of the
  /// vocabulary's byte trie).
  const std::vector<int32_t>& sorted_ids() const { return sorted_ids_; }
  /// The set of bytes token `id` contains (4 words of 64 bits).
  const std::array<uint64_t, 4>& token_byte_set(int32_t id) const { return byte_sets_[id]; }
  /// The ids of sorted_ids() whose bytes are longer than `min_len`, in the
  /// same order (precomputed: together 4 bytes per byte of the vocabulary).
  const std::vector<int32_t>& sorted_ids_longer_than(std::size_t min_len) const {
    return min_len < longer_.size() ? longer_[min_len] : empty_;
  }

 private:
  StructuredVocabulary() = default;
  std::vector<std::string> token_bytes_;
  std::vector<int32_t> eos_token_ids_;
  std::vector<int32_t> sorted_ids_;
  std::vector<std::vector<int32_t>> longer_;  // [max token length]: sorted ids longer than the index
  std::vector<int32_t> empty_;
  std::vector<std::array<uint64_t, 4>> byte_sets_;  // [vocab_size]
};

/// An immutable compiled constraint, shared by every sequence that uses it
/// (its mask caches fill as it is used; thread-safe).
class CompiledStructuredOutput {
 public:
  virtual ~CompiledStructuredOutput() = default;
  /// Bytes its mask caches hold now (they grow with use, to their bounds);
  /// what StructuredOutputCompiler's cache budget counts.
  virtual std::size_t memory_bytes() const { return 0; }
};

/// Compiles StructuredOutputParams for one vocabulary and caches the results
/// by content (the same schema twice compiles once). Thread-safe.
class StructuredOutputCompiler {
 public:
  virtual ~StructuredOutputCompiler() = default;
  /// `cache_capacity`: compiled constraints kept (least recently used
  /// evicted; 0: none); `cache_max_bytes`: and, when a compile adds one,
  /// least recently used ones are evicted while their memory_bytes() sum
  /// passes this (the newest is always kept), so many distinct schemas do not
  /// hold capacity × their masks. `precompute_masks`: Compile computes the per-position
  /// token masks the automaton can reach, up to a budget (xgrammar's
  /// compile-time masks; docs/structured-output.md, "Cost"), instead of
  /// leaving them all to the first decode steps that meet them. Returns null
  /// if `vocabulary` is null.
  static std::unique_ptr<StructuredOutputCompiler> Create(
      std::shared_ptr<const StructuredVocabulary> vocabulary, int cache_capacity = 64,
      bool precompute_masks = true, std::size_t cache_max_bytes = kDefaultCacheMaxBytes);
  /// Default cache_max_bytes: 256 MiB (about 30 schemas' precomputed masks
  /// on GPT-2's 50,257 tokens).
  static constexpr std::size_t kDefaultCacheMaxBytes = std::size_t{256} << 20;
  /// Compiles on the calling thread (with the mask precompute: milliseconds
  /// to tens of ms on GPT-2's vocabulary). A call for a constraint another
  /// thread is compiling waits for that compile and returns its result (one
  /// compile, even with cache_capacity 0).
  /// Errors: INVALID_ARGUMENT naming the field and the cause
  /// ("structured_output.json_schema: unsupported keyword 'patternProperties'",
  /// "structured_output.regex: unbalanced parenthesis at offset 3").
  virtual absl::StatusOr<std::shared_ptr<const CompiledStructuredOutput>> Compile(
      const StructuredOutputParams& params) = 0;
  /// Constraints compiled so far (not cache hits, not calls that waited for
  /// another thread's compile of the same constraint); for tests and metrics.
  virtual std::size_t num_compiles() const = 0;
};

/// Per-sequence state of one constraint. Not thread-safe (one sequence, the
/// engine thread).
class StructuredOutputMatcher {
 public:
  virtual ~StructuredOutputMatcher() = default;
  /// A matcher at the start state. Returns null if `compiled` is null or not
  /// from StructuredOutputCompiler.
  static std::unique_ptr<StructuredOutputMatcher> Create(
      std::shared_ptr<const CompiledStructuredOutput> compiled);

  /// Number of uint32 words of a bitmask: ceil(vocab_size / 32).
  virtual int bitmask_words() const = 0;
  /// Writes the tokens allowed next: bit (id % 32) of word id / 32 is set iff
  /// token `id` may follow the accepted tokens. EOS ids are set iff
  /// IsComplete(). `bitmask`: [bitmask_words()]. Nothing is set after EOS was
  /// accepted. Cost: a lookup for a state seen before (by any sequence of this
  /// constraint), else the cached per-position masks plus a walk of the
  /// context-dependent tokens (benchmarks/structured_mask_bench.cc).
  virtual void FillNextTokenBitmask(absl::Span<uint32_t> bitmask) = 0;
  /// Advances by the sampled token (EOS ends the output). Errors:
  /// FAILED_PRECONDITION if the token was not allowed, is outside the
  /// vocabulary or follows EOS (the state is unchanged).
  virtual absl::Status AcceptToken(int32_t token_id) = 0;
  /// The accepted tokens form a complete match (EOS is allowed).
  virtual bool IsComplete() const = 0;
  /// Complete, and no byte can follow (only EOS), or EOS was accepted.
  virtual bool IsTerminated() const = 0;
  /// Back to the start state (before any token).
  virtual void Reset() = 0;
};

/// Sets logits[id] = -inf for every token whose bit is clear.
/// `bitmask`: [ceil(logits.size() / 32)]; `logits`: [vocab_size].
void ApplyTokenBitmask(absl::Span<const uint32_t> bitmask, absl::Span<float> logits);

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_STRUCTURED_STRUCTURED_OUTPUT_H_
