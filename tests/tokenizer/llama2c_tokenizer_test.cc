#include "engine/tokenizer/llama2c_tokenizer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <map>
#include <random>

#include "engine/tokenizer/utf8.h"
#include "tests/test_util.h"
#include "tests/tokenizer/ggml_vocab_cases.h"
#include "tests/tokenizer/llama_spm_vectors.h"

namespace llmserve {
namespace {

using ::llmserve::testing::SharedPath;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::unique_ptr<Llama2cTokenizer> LoadOrDie(const std::string& relative, int32_t vocab_size = -1) {
  auto tok = Llama2cTokenizer::Load(SharedPath(relative), vocab_size);
  EXPECT_TRUE(tok.ok()) << tok.status();
  return tok.ok() ? *std::move(tok) : nullptr;
}

std::vector<int32_t> EncodeOrDie(const Tokenizer& tok, std::string_view text, bool add_bos) {
  auto ids = tok.Encode(text, add_bos);
  EXPECT_TRUE(ids.ok()) << ids.status();
  return ids.ok() ? *ids : std::vector<int32_t>{};
}

// llama2.c run.c `encode()` transcribed literally (O(n^2) rescans, every piece
// searchable), as an independent reference for the heap-based merging.
std::vector<int32_t> RunCEncode(const Llama2cTokenizer& tok,
                                const std::map<std::string, int32_t>& sorted,
                                const std::string& text) {
  auto lookup = [&](const std::string& s) {
    auto it = sorted.find(s);
    return it == sorted.end() ? -1 : it->second;
  };
  std::vector<int32_t> tokens;
  if (!text.empty()) tokens.push_back(lookup(" "));
  std::string buf;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if ((text[i] & 0xC0) != 0x80) buf.clear();
    buf.push_back(text[i]);
    if (i + 1 < text.size() && (text[i + 1] & 0xC0) == 0x80 && buf.size() < 4) continue;
    if (int32_t id = lookup(buf); id != -1) {
      tokens.push_back(id);
    } else {
      for (char c : buf) tokens.push_back(static_cast<uint8_t>(c) + 3);
    }
    buf.clear();
  }
  while (true) {
    float best_score = -1e10f;
    int32_t best_id = -1;
    int best_idx = -1;
    for (int i = 0; i + 1 < static_cast<int>(tokens.size()); ++i) {
      const int32_t id =
          lookup(std::string(tok.piece(tokens[i])) + std::string(tok.piece(tokens[i + 1])));
      if (id != -1 && tok.score(id) > best_score) {
        best_score = tok.score(id);
        best_id = id;
        best_idx = i;
      }
    }
    if (best_idx == -1) break;
    tokens[best_idx] = best_id;
    tokens.erase(tokens.begin() + best_idx + 1);
  }
  return tokens;
}

// A random mix of pieces: words, whitespace runs, accents, CJK, emoji (also
// with modifiers and ZWJ), and unless `valid_only`, ill-formed UTF-8 and NUL.
std::string RandomText(std::mt19937& rng, int parts, bool valid_only = false) {
  static const char* const kPieces[] = {
      "a", "b", "the", " the", "Lily", " and", "Once", " upon", " ", "  ", "    ", "\n", "\n\n",
      "\t", "!", ".", ",", "\"", "'s", "é", "ü", "ñ", "café", "日本語", "中", "한국어", "🙂", "👍🏽",
      "👨‍👩‍👧", "🦙", "∑", "½", "3", "42", "\xff", "\x80", "\xc3", "\xe2\x82", "\xf0\x9f\x99",
      "\xc3\xa9\xa9", "\xf0\x80\x80\x80\x80", "<0x41>", "<s>", "\n<s>\n"};
  std::uniform_int_distribution<std::size_t> pick(0, std::size(kPieces) - 1);
  std::string s;
  while (parts > 0) {
    const std::string piece = kPieces[pick(rng)];
    if (valid_only && !IsValidUtf8(piece)) continue;
    s += piece;
    --parts;
  }
  if (!valid_only && s.size() % 7 == 3) s.push_back('\0');
  return s;
}

TEST(Llama2cTokenizerTest, LoadsStories260KVocabulary) {
  auto tok = LoadOrDie("models/stories260K/tok512.bin");
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->vocab_size(), 512);
  EXPECT_EQ(tok->max_token_length(), 7);
  EXPECT_EQ(tok->bos_id(), 1);
  EXPECT_EQ(tok->eos_id(), 2);
  EXPECT_EQ(tok->piece(1), "\n<s>\n");
  EXPECT_EQ(tok->piece(3 + 0x41), "<0x41>");
  EXPECT_EQ(tok->piece(259), " t");
  EXPECT_EQ(tok->score(260), -1.0f);
  // Given the model's vocab_size, the same file loads the same way.
  auto again = Llama2cTokenizer::Load(SharedPath("models/stories260K/tok512.bin"), 512);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)->vocab_size(), 512);
}

TEST(Llama2cTokenizerTest, GoldenPromptIdsOfStories260K) {
  auto tok = LoadOrDie("models/stories260K/tok512.bin");
  ASSERT_NE(tok, nullptr);
  const nlohmann::json golden =
      testing::ReadJsonFile(SharedPath("reference/stories260K-greedy.json"));
  ASSERT_TRUE(golden.contains("cases"));
  ASSERT_GE(golden["cases"].size(), 4u);
  for (const auto& c : golden["cases"]) {
    const std::string prompt = c["prompt"];
    EXPECT_EQ(EncodeOrDie(*tok, prompt, true), c["prompt_token_ids"].get<std::vector<int32_t>>())
        << prompt;
  }
}

TEST(Llama2cTokenizerTest, GoldenDecodedTextOfStories260K) {
  // `text` is run.c's output for the prompt and completion ids: each token's
  // piece after its predecessor, BOS printing nothing.
  auto tok = LoadOrDie("models/stories260K/tok512.bin");
  ASSERT_NE(tok, nullptr);
  const nlohmann::json golden =
      testing::ReadJsonFile(SharedPath("reference/stories260K-greedy.json"));
  for (const auto& c : golden["cases"]) {
    std::vector<int32_t> ids = c["prompt_token_ids"];
    for (int32_t id : c["greedy_completion_token_ids"]) ids.push_back(id);
    EXPECT_EQ(tok->Decode(ids), c["text"].get<std::string>()) << c["prompt"];
  }
}

TEST(Llama2cTokenizerTest, MatchesSentencePieceVectorsOnLlama32kVocabulary) {
  auto tok = LoadOrDie("models/llama2c-tokenizer32k/tokenizer.bin");
  ASSERT_NE(tok, nullptr);
  ASSERT_EQ(tok->vocab_size(), 32000);
  const std::vector<std::string> inputs = testing::ReadGgmlVocabInputs(
      SharedPath("models/gpt2-tokenizer/ggml-vocab-gpt-2.gguf.inp"));
  ASSERT_EQ(inputs.size(), 46u);
  for (const testing::SpmVector& v : testing::LlamaSpmVectors()) {
    const std::string& text = inputs.at(v.input_index);
    EXPECT_EQ(EncodeOrDie(*tok, text, false), v.ids) << "case " << v.input_index << ": " << text;
    // With BOS, decoding gives the text back (the dummy prefix is stripped).
    std::vector<int32_t> with_bos = EncodeOrDie(*tok, text, true);
    EXPECT_EQ(tok->Decode(with_bos), text) << "case " << v.input_index;
  }
}

TEST(Llama2cTokenizerTest, HandComputedEncodings) {
  auto tok = LoadOrDie("models/stories260K/tok512.bin");
  ASSERT_NE(tok, nullptr);
  EXPECT_THAT(EncodeOrDie(*tok, "", true), ElementsAre(1));
  EXPECT_THAT(EncodeOrDie(*tok, "", false), ElementsAre());
  // Emoji is not a piece: the dummy prefix " " stays alone, then 4 byte tokens.
  std::vector<int32_t> ids = EncodeOrDie(*tok, "🙂", false);
  ASSERT_EQ(ids.size(), 5u);
  EXPECT_EQ(tok->piece(ids[0]), " ");
  EXPECT_THAT(std::vector<int32_t>(ids.begin() + 1, ids.end()),
              ElementsAre(0xF0 + 3, 0x9F + 3, 0x99 + 3, 0x82 + 3));
  // Ill-formed UTF-8 never fails: each of its bytes is a byte-fallback token,
  // and it leaves the characters around it alone.
  ids = EncodeOrDie(*tok, "\xff\x80", false);
  EXPECT_THAT(std::vector<int32_t>(ids.begin() + 1, ids.end()), ElementsAre(0xFF + 3, 0x80 + 3));
  for (const char* valid : {"café", "Lily 🙂", "a"}) {
    for (const std::string bad : {"\xA9", "\x80\x80", "\xF0\x9F\x99", "\xC0\xAF"}) {
      std::vector<int32_t> expected = EncodeOrDie(*tok, valid, true);
      for (char c : bad) expected.push_back(static_cast<uint8_t>(c) + 3);
      EXPECT_EQ(EncodeOrDie(*tok, std::string(valid) + bad, true), expected) << valid;
    }
  }
}

// On valid UTF-8 the encoder is run.c's.
TEST(Llama2cTokenizerTest, MatchesLiteralRunCOnRandomText) {
  for (const char* file :
       {"models/stories260K/tok512.bin", "models/llama2c-tokenizer32k/tokenizer.bin"}) {
    auto tok = LoadOrDie(file);
    ASSERT_NE(tok, nullptr);
    std::map<std::string, int32_t> sorted;  // run.c's sorted_vocab
    for (int32_t i = tok->vocab_size() - 1; i >= 0; --i) sorted[std::string(tok->piece(i))] = i;
    std::mt19937 rng(1234);
    for (int i = 0; i < 150; ++i) {
      const std::string text = RandomText(rng, 1 + i % 25, /*valid_only=*/true);
      EXPECT_EQ(EncodeOrDie(*tok, text, false), RunCEncode(*tok, sorted, text))
          << file << ": " << text;
    }
  }
}

TEST(Llama2cTokenizerTest, RoundTripsArbitraryBytes) {
  for (const char* file :
       {"models/stories260K/tok512.bin", "models/llama2c-tokenizer32k/tokenizer.bin"}) {
    auto tok = LoadOrDie(file);
    ASSERT_NE(tok, nullptr);
    std::mt19937 rng(99);
    for (int i = 0; i < 200; ++i) {
      const std::string text = RandomText(rng, 1 + i % 30);
      const std::vector<int32_t> ids = EncodeOrDie(*tok, text, true);
      ASSERT_FALSE(ids.empty());
      EXPECT_EQ(ids[0], 1);
      for (int32_t id : ids) EXPECT_TRUE(id >= 0 && id < tok->vocab_size());
      EXPECT_EQ(tok->Decode(ids), text) << file;
    }
    std::string all_bytes;
    for (int b = 0; b < 256; ++b) all_bytes.push_back(static_cast<char>(b));
    EXPECT_EQ(tok->Decode(EncodeOrDie(*tok, all_bytes, true)), all_bytes);
  }
}

TEST(Llama2cTokenizerTest, TokenBytesFollowsRunCDecode) {
  auto tok = LoadOrDie("models/stories260K/tok512.bin");
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->TokenBytes(-1, 1), "");    // BOS
  EXPECT_EQ(tok->TokenBytes(5, 2), "");     // EOS
  EXPECT_EQ(tok->TokenBytes(-1, 512), "");  // out of range
  EXPECT_EQ(tok->TokenBytes(-1, -7), "");
  EXPECT_EQ(tok->TokenBytes(-1, 3 + 0xF0), "\xF0");  // <0xF0> is the raw byte
  EXPECT_EQ(tok->TokenBytes(-1, 259), " t");
  EXPECT_EQ(tok->TokenBytes(1, 259), "t");  // leading space stripped after BOS only
  EXPECT_EQ(tok->TokenBytes(2, 259), " t");
  EXPECT_EQ(tok->TokenBytes(1, 260), "he");
}

TEST(Llama2cTokenizerTest, EncodesLongTextFast) {
  // run.c's merge loop is quadratic; 200 KB must still take milliseconds.
  auto tok = LoadOrDie("models/llama2c-tokenizer32k/tokenizer.bin");
  ASSERT_NE(tok, nullptr);
  std::mt19937 rng(5);
  std::string text;
  while (text.size() < 200000) text += RandomText(rng, 10) + " Once upon a time, ";
  const auto start = std::chrono::steady_clock::now();
  const std::vector<int32_t> ids = EncodeOrDie(*tok, text, true);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(seconds, 2.0);
  EXPECT_GT(ids.size(), 20000u);
  EXPECT_EQ(tok->Decode(ids), text);
}

// --- corrupt files -----------------------------------------------------------

std::string Int32Bytes(int32_t v) {
  std::string s(4, '\0');
  std::memcpy(s.data(), &v, 4);
  return s;
}

std::string FloatBytes(float v) {
  std::string s(4, '\0');
  std::memcpy(s.data(), &v, 4);
  return s;
}

std::string Entry(float score, const std::string& piece) {
  return FloatBytes(score) + Int32Bytes(static_cast<int32_t>(piece.size())) + piece;
}

std::string SmallFile() {
  return Int32Bytes(5) + Entry(0, "<unk>") + Entry(0, "<s>") + Entry(0, "</s>") + Entry(-1, "ab");
}

absl::Status FromBytesStatus(const std::string& bytes, int32_t vocab_size = -1) {
  return Llama2cTokenizer::FromBytes(bytes, vocab_size, "test.bin").status();
}

TEST(Llama2cTokenizerTest, SmallValidFile) {
  auto tok = Llama2cTokenizer::FromBytes(SmallFile(), -1, "test.bin");
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_EQ((*tok)->vocab_size(), 4);
  // Without byte tokens, text that needs byte fallback cannot be encoded.
  auto ids = (*tok)->Encode("ab", false);
  EXPECT_EQ(ids.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(ids.status().message()), HasSubstr("byte"));
}

TEST(Llama2cTokenizerTest, RejectsCorruptFiles) {
  const std::string good = SmallFile();
  struct Case {
    std::string name;
    std::string bytes;
    int32_t vocab_size;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"empty", "", -1, "truncated"},
      {"short header", good.substr(0, 3), -1, "truncated"},
      {"zero max length", Int32Bytes(0) + good.substr(4), -1, "max_token_length"},
      {"truncated entry header", good.substr(0, good.size() - 8), -1,
       "truncated header of token 3"},
      {"truncated piece", good.substr(0, good.size() - 1), -1, "truncated: token 3"},
      {"negative length", Int32Bytes(5) + FloatBytes(0) + Int32Bytes(-1), -1, "length -1"},
      {"length above max", Int32Bytes(2) + Entry(0, "<unk>"), -1, "outside 0..2"},
      {"length beyond file", Int32Bytes(5) + FloatBytes(0) + Int32Bytes(5) + "ab", -1,
       "truncated: token 0"},
      {"nan score", Int32Bytes(5) + Entry(std::nanf(""), "a"), -1, "NaN"},
      {"too few tokens", Int32Bytes(5) + Entry(0, "a") + Entry(0, "b"), -1, "at least 3"},
      {"vocab_size too big", good, 5, "ends after 4 tokens"},
      {"vocab_size too small", good, 3, "bytes left"},
      {"bad vocab_size", good, 0, "vocab_size"},
  };
  for (const Case& c : cases) {
    const absl::Status status = FromBytesStatus(c.bytes, c.vocab_size);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.name << ": " << status;
    EXPECT_THAT(std::string(status.message()), HasSubstr(c.message)) << c.name;
    EXPECT_THAT(std::string(status.message()), HasSubstr("test.bin")) << c.name;
  }
}

TEST(Llama2cTokenizerTest, EveryTruncationOfARealFileFails) {
  const std::string bytes = testing::ReadFile(SharedPath("models/stories260K/tok512.bin"));
  ASSERT_EQ(bytes.size(), 6227u);
  for (std::size_t len = 0; len < bytes.size(); len += 7) {
    EXPECT_FALSE(Llama2cTokenizer::FromBytes(bytes.substr(0, len), 512, "tok512.bin").ok()) << len;
  }
}

TEST(Llama2cTokenizerTest, MissingFileIsNotFound) {
  auto tok = Llama2cTokenizer::Load("/nonexistent/tokenizer.bin");
  EXPECT_EQ(tok.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(tok.status().message()), HasSubstr("/nonexistent/tokenizer.bin"));
}

}  // namespace
}  // namespace llmserve
