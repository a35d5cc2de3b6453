#include "tests/structured/structured_test_util.h"

#include <gtest/gtest.h>

#include <set>
#include <utility>

#include "engine/tokenizer/gpt2_tokenizer.h"
#include "engine/tokenizer/llama2c_tokenizer.h"
#include "tests/test_util.h"

namespace llmserve::structured::testing {

using llmserve::testing::SharedPath;

namespace {
// The vocabulary of a loaded tokenizer with its EOS; fails the test on error.
template <typename Tokenizer>
std::shared_ptr<const StructuredVocabulary> VocabularyOf(absl::StatusOr<std::unique_ptr<Tokenizer>> tok) {
  EXPECT_TRUE(tok.ok()) << tok.status();
  if (!tok.ok()) return nullptr;
  auto v = StructuredVocabulary::FromTokenizer(**tok, {(*tok)->eos_id()});
  EXPECT_TRUE(v.ok()) << v.status();
  return v.ok() ? *v : nullptr;
}
}  // namespace

std::shared_ptr<const StructuredVocabulary> Gpt2Vocabulary() {
  static const auto* const vocab = new std::shared_ptr<const StructuredVocabulary>(
      VocabularyOf(Gpt2Tokenizer::LoadVocabAndMerges(SharedPath("models/gpt2-tokenizer/encoder.json"),
                                                     SharedPath("models/gpt2-tokenizer/vocab.bpe"))));
  return *vocab;
}

std::shared_ptr<const StructuredVocabulary> Stories260KVocabulary() {
  static const auto* const vocab = new std::shared_ptr<const StructuredVocabulary>(
      VocabularyOf(Llama2cTokenizer::Load(SharedPath("models/stories260K/tok512.bin"))));
  return *vocab;
}

std::shared_ptr<const StructuredVocabulary> ByteVocabulary() {
  static const auto* const vocab = [] {
    std::vector<std::string> bytes(257);
    for (int b = 0; b < 256; ++b) bytes[b] = std::string(1, static_cast<char>(b));
    auto v = StructuredVocabulary::FromTokenBytes(std::move(bytes), {256});
    EXPECT_TRUE(v.ok()) << v.status();
    return new std::shared_ptr<const StructuredVocabulary>(v.ok() ? *v : nullptr);
  }();
  return *vocab;
}

std::shared_ptr<const CompiledStructuredOutput> MustCompile(
    const std::shared_ptr<const StructuredVocabulary>& vocab, const StructuredOutputParams& params) {
  auto compiler = StructuredOutputCompiler::Create(vocab);
  EXPECT_NE(compiler, nullptr);
  if (compiler == nullptr) return nullptr;
  auto compiled = compiler->Compile(params);
  EXPECT_TRUE(compiled.ok()) << compiled.status();
  return compiled.ok() ? *compiled : nullptr;
}

std::unique_ptr<GrammarMatcher> NewMatcher(std::shared_ptr<const CompiledStructuredOutput> compiled) {
  auto grammar = std::dynamic_pointer_cast<const CompiledGrammar>(std::move(compiled));
  if (grammar == nullptr) return nullptr;
  return std::make_unique<GrammarMatcher>(std::move(grammar));
}

StructuredOutputParams RegexParams(std::string pattern) {
  StructuredOutputParams p;
  p.kind = StructuredOutputParams::Kind::kRegex;
  p.text = std::move(pattern);
  return p;
}
StructuredOutputParams GrammarParams(std::string gbnf) {
  StructuredOutputParams p;
  p.kind = StructuredOutputParams::Kind::kGrammar;
  p.text = std::move(gbnf);
  return p;
}
StructuredOutputParams SchemaParams(std::string schema) {
  StructuredOutputParams p;
  p.kind = StructuredOutputParams::Kind::kJsonSchema;
  p.text = std::move(schema);
  return p;
}
StructuredOutputParams ChoiceParams(std::vector<std::string> choices) {
  StructuredOutputParams p;
  p.kind = StructuredOutputParams::Kind::kChoice;
  p.choices = std::move(choices);
  return p;
}
StructuredOutputParams JsonObjectParams() {
  StructuredOutputParams p;
  p.kind = StructuredOutputParams::Kind::kJsonObject;
  return p;
}

namespace {
std::unique_ptr<GrammarMatcher> ByteMatcher(const StructuredOutputParams& params) {
  auto compiled = MustCompile(ByteVocabulary(), params);
  if (compiled == nullptr) return nullptr;
  return NewMatcher(compiled);
}
}  // namespace

bool FullMatch(const StructuredOutputParams& params, std::string_view text) {
  auto m = ByteMatcher(params);
  return m != nullptr && m->AcceptBytes(text) && m->IsComplete();
}

bool PrefixMatch(const StructuredOutputParams& params, std::string_view text) {
  auto m = ByteMatcher(params);
  return m != nullptr && m->AcceptBytes(text);
}

std::vector<uint32_t> BruteForceMask(GrammarMatcher& matcher, const StructuredVocabulary& vocab) {
  std::vector<uint32_t> mask((vocab.vocab_size() + 31) / 32, 0u);
  for (int32_t id = 0; id < vocab.vocab_size(); ++id) {
    bool ok = vocab.is_eos(id) ? matcher.IsComplete()
                               : !vocab.token_bytes(id).empty() && matcher.CanAcceptBytes(vocab.token_bytes(id));
    if (ok) mask[id >> 5] |= 1u << (id & 31);
  }
  return mask;
}

std::vector<int32_t> MaskIds(const std::vector<uint32_t>& mask, int32_t vocab_size) {
  std::vector<int32_t> ids;
  for (int32_t id = 0; id < vocab_size; ++id) {
    if ((mask[id >> 5] >> (id & 31)) & 1u) ids.push_back(id);
  }
  return ids;
}

Walk RandomWalk(GrammarMatcher& matcher, const StructuredVocabulary& vocab, std::mt19937& rng,
                int max_tokens, bool check_masks) {
  Walk walk;
  std::vector<uint32_t> mask(matcher.bitmask_words());
  for (int step = 0; step < max_tokens; ++step) {
    matcher.FillNextTokenBitmask(absl::MakeSpan(mask));
    if (check_masks) {
      std::vector<uint32_t> expected = BruteForceMask(matcher, vocab);
      EXPECT_EQ(MaskIds(mask, vocab.vocab_size()), MaskIds(expected, vocab.vocab_size()))
          << "after " << walk.tokens << " tokens: '" << walk.text << "'";
    }
    std::vector<int32_t> allowed = MaskIds(mask, vocab.vocab_size());
    if (allowed.empty()) {
      walk.dead_end = !matcher.IsTerminated();
      return walk;
    }
    std::vector<int32_t> eos, short_ids;
    for (int32_t id : allowed) {
      if (vocab.is_eos(id)) eos.push_back(id);
      else if (vocab.token_bytes(id).size() == 1) short_ids.push_back(id);
    }
    int32_t pick;
    if (!eos.empty() && (eos.size() == allowed.size() || rng() % 2 == 0)) {
      pick = eos[0];
    } else {
      std::vector<int32_t> pool;
      for (int32_t id : (!short_ids.empty() && rng() % 2 == 0) ? short_ids : allowed) {
        if (!vocab.is_eos(id)) pool.push_back(id);
      }
      pick = pool[rng() % pool.size()];
    }
    absl::Status s = matcher.AcceptToken(pick);
    EXPECT_TRUE(s.ok()) << s;
    if (!s.ok()) return walk;
    ++walk.tokens;
    if (vocab.is_eos(pick)) {
      walk.complete = true;
      EXPECT_TRUE(matcher.IsTerminated());
      return walk;
    }
    walk.text += vocab.token_bytes(pick);
  }
  return walk;
}

std::string CompleteWithBytes(const StructuredOutputParams& params, const std::string& prefix, std::mt19937& rng) {
  (void)rng;
  auto compiled = std::dynamic_pointer_cast<const CompiledGrammar>(MustCompile(ByteVocabulary(), params));
  if (compiled == nullptr) return prefix;
  // Breadth-first search over the automaton's states for the shortest
  // completion (states are compared as sets of hash-consed stacks).
  StackPool pool;
  StackRecognizer rec(&compiled->pda(), &pool);
  StackSet state, next;
  rec.Start(&state);
  for (char c : prefix) {
    rec.Advance(state, static_cast<uint8_t>(c), &next);
    if (next.Empty()) {
      ADD_FAILURE() << "not a valid prefix: " << prefix;
      return prefix;
    }
    std::swap(state, next);
  }
  std::vector<std::pair<StackSet, std::string>> frontier{{state, ""}};
  std::set<std::vector<int32_t>> seen{state.stacks};
  for (int depth = 0; depth < 400 && !frontier.empty(); ++depth) {
    std::vector<std::pair<StackSet, std::string>> following;
    for (const auto& [st, suffix] : frontier) {
      if (st.accept) return prefix + suffix;
      for (int b = 0; b < 256; ++b) {
        rec.Advance(st, static_cast<uint8_t>(b), &next);
        if (next.Empty() || !seen.insert(next.stacks).second) continue;
        if (next.accept && next.stacks.empty()) return prefix + suffix + static_cast<char>(b);
        following.emplace_back(next, suffix + static_cast<char>(b));
      }
    }
    frontier = std::move(following);
  }
  ADD_FAILURE() << "no completion of " << prefix;
  return prefix;
}

PythonResult RunPython(const std::string& script, const std::string& arg) {
  const std::string dir = llmserve::testing::MakeTempDir("structured-py");
  const std::string path = dir + "/check.py";
  EXPECT_TRUE(llmserve::testing::WriteFile(path, script));
  llmserve::testing::CommandResult r =
      llmserve::testing::RunBounded("/usr/bin/python3 " + path + " '" + arg + "' 2>&1", 120);
  return {r.exit_code, r.out};
}

}  // namespace llmserve::structured::testing
