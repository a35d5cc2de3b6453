#ifndef LLMSERVE_TESTS_STRUCTURED_STRUCTURED_TEST_UTIL_H_
#define LLMSERVE_TESTS_STRUCTURED_STRUCTURED_TEST_UTIL_H_

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "engine/sampling/structured_output_params.h"
#include "engine/structured/grammar_matcher.h"
#include "engine/structured/structured_output.h"

namespace llmserve::structured::testing {

/// GPT-2's 50,257 tokens (shared/models/gpt2-tokenizer), EOS 50256.
std::shared_ptr<const StructuredVocabulary> Gpt2Vocabulary();
/// stories260K's 512 SentencePiece tokens (shared/models/stories260K/tok512.bin), EOS 2.
std::shared_ptr<const StructuredVocabulary> Stories260KVocabulary();
/// 256 one-byte tokens (id = byte) and EOS (id 256).
std::shared_ptr<const StructuredVocabulary> ByteVocabulary();

/// Compiles on `vocab` (a fresh compiler); fails the test on error.
std::shared_ptr<const CompiledStructuredOutput> MustCompile(
    const std::shared_ptr<const StructuredVocabulary>& vocab, const StructuredOutputParams& params);
/// A matcher of `compiled`.
std::unique_ptr<GrammarMatcher> NewMatcher(std::shared_ptr<const CompiledStructuredOutput> compiled);

/// Params helpers.
StructuredOutputParams RegexParams(std::string pattern);
StructuredOutputParams GrammarParams(std::string gbnf);
StructuredOutputParams SchemaParams(std::string schema);
StructuredOutputParams ChoiceParams(std::vector<std::string> choices);
StructuredOutputParams JsonObjectParams();

/// `text` is a complete match of `params` (byte by byte).
bool FullMatch(const StructuredOutputParams& params, std::string_view text);
/// `text` is a prefix of some match of `params`.
bool PrefixMatch(const StructuredOutputParams& params, std::string_view text);

/// The mask by brute force: a token is allowed iff the matcher accepts its
/// bytes (EOS iff complete).
std::vector<uint32_t> BruteForceMask(GrammarMatcher& matcher, const StructuredVocabulary& vocab);
/// Ids whose bit is set.
std::vector<int32_t> MaskIds(const std::vector<uint32_t>& mask, int32_t vocab_size);

/// One random generation under the mask.
struct Walk {
  std::string text;       ///< the bytes of the accepted tokens
  bool complete = false;  ///< ended by EOS
  int tokens = 0;
  bool dead_end = false;  ///< a mask with no token while not terminated (a bug)
};
/// Samples allowed tokens (EOS with probability 1/2 when allowed; half of
/// the other steps only among allowed tokens of one byte, which tend to close
/// structures) until EOS or `max_tokens`. With `check_masks`, every step's
/// mask is compared with BruteForceMask (failures are test failures).
Walk RandomWalk(GrammarMatcher& matcher, const StructuredVocabulary& vocab, std::mt19937& rng,
                int max_tokens, bool check_masks);

/// Completes a cut generation byte by byte on ByteVocabulary() (preferring
/// EOS and closing bytes, else a random allowed byte), so an independent
/// check of the whole text proves the cut text a valid prefix. Fails the test
/// if `prefix` is not accepted or no completion is found in 4,000 bytes.
std::string CompleteWithBytes(const StructuredOutputParams& params, const std::string& prefix, std::mt19937& rng);

/// Runs `script` with /usr/bin/python3, `arg` as its argv[1]; returns its
/// exit code and output.
struct PythonResult {
  int exit_code = -1;
  std::string out;
};
PythonResult RunPython(const std::string& script, const std::string& arg);

}  // namespace llmserve::structured::testing

#endif  // LLMSERVE_TESTS_STRUCTURED_STRUCTURED_TEST_UTIL_H_
