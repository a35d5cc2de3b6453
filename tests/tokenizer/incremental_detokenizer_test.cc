#include "engine/tokenizer/incremental_detokenizer.h"

#include <gtest/gtest.h>

#include <random>

#include "engine/tokenizer/gpt2_tokenizer.h"
#include "engine/tokenizer/llama2c_tokenizer.h"
#include "engine/tokenizer/utf8.h"
#include "tests/test_util.h"

namespace llmserve {
namespace {

using ::llmserve::testing::SharedPath;

std::unique_ptr<Tokenizer> Stories() {
  auto tok = Llama2cTokenizer::Load(SharedPath("models/stories260K/tok512.bin"));
  EXPECT_TRUE(tok.ok()) << tok.status();
  return tok.ok() ? *std::move(tok) : nullptr;
}

std::unique_ptr<Tokenizer> Gpt2() {
  const std::string dir = SharedPath("models/gpt2-tokenizer");
  auto tok = Gpt2Tokenizer::LoadVocabAndMerges(dir + "/encoder.json", dir + "/vocab.bpe");
  EXPECT_TRUE(tok.ok()) << tok.status();
  return tok.ok() ? *std::move(tok) : nullptr;
}

// One-shot decoding of `ids` after `prev`, sanitized.
std::string OneShot(const Tokenizer& tok, int32_t prev, const std::vector<int32_t>& ids) {
  std::string bytes;
  for (int32_t id : ids) {
    bytes += tok.TokenBytes(prev, id);
    prev = id;
  }
  return SanitizeUtf8(bytes);
}

TEST(IncrementalDetokenizerTest, HoldsBackASplitEmoji) {
  auto tok = Stories();
  ASSERT_NE(tok, nullptr);
  // "🙂" = F0 9F 99 82 as byte-fallback tokens (byte + 3).
  IncrementalDetokenizer detok(*tok, /*prev_token=*/400);
  EXPECT_EQ(detok.Push(0xF0 + 3), "");
  EXPECT_EQ(detok.Push(0x9F + 3), "");
  EXPECT_EQ(detok.pending_bytes(), 2u);
  EXPECT_EQ(detok.Push(0x99 + 3), "");
  EXPECT_EQ(detok.Push(0x82 + 3), "\xF0\x9F\x99\x82");
  EXPECT_EQ(detok.pending_bytes(), 0u);
  EXPECT_EQ(detok.Flush(), "");
}

TEST(IncrementalDetokenizerTest, ReplacesInvalidAndIncompleteBytes) {
  auto tok = Stories();
  ASSERT_NE(tok, nullptr);
  IncrementalDetokenizer detok(*tok, 400);
  EXPECT_EQ(detok.Push(0xF0 + 3), "");
  // A lead byte followed by a non-continuation: U+FFFD for the broken prefix,
  // then the new token's text.
  EXPECT_EQ(detok.Push(259), "\xEF\xBF\xBD t");     // 259 = " t"
  EXPECT_EQ(detok.Push(0x80 + 3), "\xEF\xBF\xBD");  // stray continuation byte
  EXPECT_EQ(detok.Push(0xE2 + 3), "");
  EXPECT_EQ(detok.Flush(), "\xEF\xBF\xBD");  // generation ended mid-character
  EXPECT_EQ(detok.pending_bytes(), 0u);
  EXPECT_EQ(detok.Push(260), "he");  // usable after Flush
}

TEST(IncrementalDetokenizerTest, StripsLeadingSpaceAfterBosPrompt) {
  auto tok = Stories();
  ASSERT_NE(tok, nullptr);
  IncrementalDetokenizer after_bos(*tok, tok->bos_id());
  EXPECT_EQ(after_bos.Push(259), "t");
  EXPECT_EQ(after_bos.Push(259), " t");
  IncrementalDetokenizer after_text(*tok, 260);
  EXPECT_EQ(after_text.Push(259), " t");
}

TEST(IncrementalDetokenizerTest, StreamsTheGoldenEmojiCompletion) {
  auto tok = Stories();
  ASSERT_NE(tok, nullptr);
  const nlohmann::json golden =
      testing::ReadJsonFile(SharedPath("reference/stories260K-greedy.json"));
  for (const auto& c : golden["cases"]) {
    IncrementalDetokenizer detok(*tok, -1);
    std::string text;
    for (int32_t id : c["prompt_token_ids"]) text += detok.Push(id);
    for (int32_t id : c["greedy_completion_token_ids"]) text += detok.Push(id);
    text += detok.Flush();
    EXPECT_EQ(text, c["text"].get<std::string>());
  }
}

// The streaming invariant on random token sequences, for a vocabulary with
// byte-fallback tokens (llama2.c) and one whose tokens split characters
// (GPT-2 byte-level): every Push output is valid UTF-8 and the outputs plus
// Flush equal the one-shot sanitized decode.
void CheckStreamingInvariant(const Tokenizer& tok, std::mt19937& rng,
                             const std::vector<int32_t>& favoured) {
  std::uniform_int_distribution<int32_t> any(-2, tok.vocab_size() + 1);
  std::uniform_int_distribution<std::size_t> pick_favoured(0, favoured.size() - 1);
  std::uniform_int_distribution<int> coin(0, 2);
  for (int trial = 0; trial < 500; ++trial) {
    const int32_t prev = any(rng);
    std::vector<int32_t> ids;
    for (int k = 0; k < 1 + trial % 40; ++k) {
      ids.push_back(coin(rng) == 0 ? any(rng) : favoured[pick_favoured(rng)]);
    }
    IncrementalDetokenizer detok(tok, prev);
    std::string streamed;
    for (int32_t id : ids) {
      const std::string piece = detok.Push(id);
      ASSERT_TRUE(IsValidUtf8(piece));
      ASSERT_LE(detok.pending_bytes(), 3u);
      streamed += piece;
    }
    streamed += detok.Flush();
    EXPECT_EQ(streamed, OneShot(tok, prev, ids));
  }
}

TEST(IncrementalDetokenizerTest, StreamingEqualsOneShotForLlama2c) {
  auto tok = Stories();
  ASSERT_NE(tok, nullptr);
  // Favour byte tokens: the lead and continuation bytes of emoji and accents.
  std::vector<int32_t> favoured;
  for (int b : {0xF0, 0x9F, 0x99, 0x82, 0xC3, 0xA9, 0xE2, 0x82, 0xAC, 0x80, 0xBF, 0xED, 0xA0, 0xF4,
                0x90, 0xFF, 0x41}) {
    favoured.push_back(b + 3);
  }
  std::mt19937 rng(17);
  CheckStreamingInvariant(*tok, rng, favoured);
}

TEST(IncrementalDetokenizerTest, StreamingEqualsOneShotForGpt2) {
  auto tok = Gpt2();
  ASSERT_NE(tok, nullptr);
  // Tokens of texts whose characters GPT-2 splits across tokens.
  std::vector<int32_t> favoured;
  for (const char* text : {"🙂👨‍👩‍👧🦙", "ខាងក្រៅ", "日本語の文章", "é ñ ü",
                           "\xF0\x9F\x99", "\x80\xBF"}) {
    auto ids = tok->Encode(text, false);
    ASSERT_TRUE(ids.ok());
    favoured.insert(favoured.end(), ids->begin(), ids->end());
  }
  std::mt19937 rng(23);
  CheckStreamingInvariant(*tok, rng, favoured);
}

}  // namespace
}  // namespace llmserve
