#include "engine/tokenizer/gpt2_tokenizer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <random>

#include "engine/tokenizer/gpt2_pretokenizer.h"
#include "tests/test_util.h"
#include "tests/tokenizer/ggml_vocab_cases.h"

namespace llmserve {
namespace {

using ::llmserve::testing::SharedPath;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::string& Dir() {
  static const std::string* const dir = new std::string(SharedPath("models/gpt2-tokenizer"));
  return *dir;
}

// Loaded once: parsing 50k tokens and merges takes a moment.
const Gpt2Tokenizer& Gpt2() {
  static const Gpt2Tokenizer* const tok = [] {
    auto t = Gpt2Tokenizer::LoadVocabAndMerges(Dir() + "/encoder.json", Dir() + "/vocab.bpe");
    if (!t.ok()) {
      ADD_FAILURE() << t.status();
      std::abort();
    }
    return t->release();
  }();
  return *tok;
}

std::vector<int32_t> EncodeOrDie(const Tokenizer& tok, std::string_view text) {
  auto ids = tok.Encode(text, false);
  EXPECT_TRUE(ids.ok()) << ids.status();
  return ids.ok() ? *ids : std::vector<int32_t>{};
}

// A Hugging Face tokenizer.json for GPT-2 made from encoder.json + vocab.bpe,
// as `tokenizers` writes it; `merge_pairs` selects the newer [["a","b"]] form.
nlohmann::json Gpt2TokenizerJson(bool merge_pairs, bool add_prefix_space = false) {
  nlohmann::json merges = nlohmann::json::array();
  std::istringstream lines(testing::ReadFile(Dir() + "/vocab.bpe"));
  std::string line;
  std::getline(lines, line);  // #version
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    const std::size_t space = line.find(' ');
    if (merge_pairs) {
      merges.push_back({line.substr(0, space), line.substr(space + 1)});
    } else {
      merges.push_back(line);
    }
  }
  nlohmann::json j;
  j["version"] = "1.0";
  j["added_tokens"] = {{{"id", 50256}, {"content", "<|endoftext|>"}, {"single_word", false},
                        {"lstrip", false}, {"rstrip", false}, {"normalized", true},
                        {"special", true}}};
  j["normalizer"] = nullptr;
  j["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", add_prefix_space},
                        {"trim_offsets", true}, {"use_regex", true}};
  j["post_processor"] = {{"type", "ByteLevel"}, {"add_prefix_space", true},
                         {"trim_offsets", false}, {"use_regex", true}};
  j["decoder"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true},
                  {"use_regex", true}};
  j["model"] = {{"type", "BPE"},         {"dropout", nullptr},
                {"unk_token", nullptr},  {"continuing_subword_prefix", ""},
                {"end_of_word_suffix", ""}, {"fuse_unk", false},
                {"byte_fallback", false}, {"vocab", testing::ReadJsonFile(Dir() + "/encoder.json")},
                {"merges", merges}};
  return j;
}

TEST(Gpt2PreTokenizeTest, FollowsTheGpt2Pattern) {
  using V = std::vector<std::string_view>;
  EXPECT_EQ(Gpt2PreTokenize(""), V{});
  EXPECT_EQ(Gpt2PreTokenize("Hello, y'all!"), (V{"Hello", ",", " y", "'", "all", "!"}));
  EXPECT_EQ(Gpt2PreTokenize("I've 'RE we'Ve"), (V{"I", "'ve", " '", "RE", " we", "'", "Ve"}));
  EXPECT_EQ(Gpt2PreTokenize("it's'll'd'm't"), (V{"it", "'s", "'ll", "'d", "'m", "'t"}));
  // Whitespace before a word leaves its last space to the word.
  EXPECT_EQ(Gpt2PreTokenize("   Hello"), (V{"  ", " Hello"}));
  EXPECT_EQ(Gpt2PreTokenize("\n =x"), (V{"\n", " =", "x"}));
  EXPECT_EQ(Gpt2PreTokenize("a \t b"), (V{"a", " \t", " b"}));
  EXPECT_EQ(Gpt2PreTokenize("a\tb"), (V{"a", "\t", "b"}));
  EXPECT_EQ(Gpt2PreTokenize("a  "), (V{"a", "  "}));  // trailing whitespace stays whole
  EXPECT_EQ(Gpt2PreTokenize("3.14 x2 ½"), (V{"3", ".", "14", " x", "2", " ½"}));
  EXPECT_EQ(Gpt2PreTokenize("café 日本 ...!"), (V{"café", " 日本", " ...!"}));
  // U+00A0 is whitespace but not the literal space of " ?".
  EXPECT_EQ(Gpt2PreTokenize("a\u00a0b"), (V{"a", "\u00a0", "b"}));
  // Combining marks (Mn) are neither letters nor numbers.
  EXPECT_EQ(Gpt2PreTokenize("e\u0301x"), (V{"e", "\u0301", "x"}));
  // Ill-formed UTF-8 behaves like punctuation and keeps every byte.
  EXPECT_EQ(Gpt2PreTokenize("ab\xff\xfe!cd \x80"), (V{"ab", "\xff\xfe!", "cd", " \x80"}));
}

TEST(Gpt2TokenizerTest, Vocabulary) {
  const Gpt2Tokenizer& tok = Gpt2();
  EXPECT_EQ(tok.vocab_size(), 50257);
  EXPECT_EQ(tok.bos_id(), 50256);
  EXPECT_EQ(tok.eos_id(), 50256);
  EXPECT_EQ(tok.TokenBytes(-1, 50256), "");  // <|endoftext|> is special
  EXPECT_EQ(tok.TokenBytes(-1, 220), " ");   // "Ġ"
  EXPECT_EQ(tok.TokenBytes(-1, 198), "\n");  // "Ċ"
  EXPECT_EQ(tok.TokenBytes(-1, 18435), " Hello");
  EXPECT_EQ(tok.TokenBytes(-1, 50257), "");
  EXPECT_EQ(tok.TokenBytes(-1, -1), "");
}

TEST(Gpt2TokenizerTest, ReproducesEveryLlamaCppVector) {
  const std::vector<std::string> inputs =
      testing::ReadGgmlVocabInputs(Dir() + "/ggml-vocab-gpt-2.gguf.inp");
  const std::vector<std::vector<int32_t>> outputs =
      testing::ReadGgmlVocabOutputs(Dir() + "/ggml-vocab-gpt-2.gguf.out");
  ASSERT_EQ(inputs.size(), 46u);
  ASSERT_EQ(outputs.size(), inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    EXPECT_EQ(EncodeOrDie(Gpt2(), inputs[i]), outputs[i]) << "case " << i << ": " << inputs[i];
    EXPECT_EQ(Gpt2().Decode(outputs[i]), inputs[i]) << "case " << i;
  }
}

TEST(Gpt2TokenizerTest, HandComputedCases) {
  EXPECT_THAT(EncodeOrDie(Gpt2(), "Hello world"), ElementsAre(15496, 995));
  // No BOS for GPT-2, even when asked.
  auto with_bos = Gpt2().Encode("Hello world", true);
  ASSERT_TRUE(with_bos.ok());
  EXPECT_THAT(*with_bos, ElementsAre(15496, 995));
  // Special tokens in the text are one token.
  EXPECT_THAT(EncodeOrDie(Gpt2(), "a<|endoftext|>b"), ElementsAre(64, 50256, 65));
  EXPECT_THAT(EncodeOrDie(Gpt2(), "<|endoftext|>"), ElementsAre(50256));
  EXPECT_THAT(EncodeOrDie(Gpt2(), "<|endoftext|"), ElementsAre(27, 91, 437, 1659, 5239, 91));
}

TEST(Gpt2TokenizerTest, RoundTripsArbitraryText) {
  static const char* const kPieces[] = {
      "Hello", " world", " ", "   ", "\n", "\r\n", "\t", "'s", "'RE", "!!", "...", "3", "2024",
      "é", "naïve", "Ω", "日本語", "中文", "한국어", "🙂", "👨‍👩‍👧", "🦙", "\u00a0", "\u3000", "½",
      "\xff", "\x80\x80", "\xc3", "\xe2\x82", "\xf0\x9f\x99", "\xed\xa0\x80", "<|", "endoftext"};
  std::mt19937 rng(7);
  std::uniform_int_distribution<std::size_t> pick(0, std::size(kPieces) - 1);
  for (int i = 0; i < 300; ++i) {
    std::string text;
    for (int k = 0; k < 1 + i % 20; ++k) text += kPieces[pick(rng)];
    const std::vector<int32_t> ids = EncodeOrDie(Gpt2(), text);
    for (int32_t id : ids) ASSERT_TRUE(id >= 0 && id < 50257);
    EXPECT_EQ(Gpt2().Decode(ids), text);
  }
  std::string all_bytes;
  for (int b = 0; b < 256; ++b) all_bytes.push_back(static_cast<char>(b));
  EXPECT_EQ(Gpt2().Decode(EncodeOrDie(Gpt2(), all_bytes)), all_bytes);
}

TEST(Gpt2TokenizerTest, EncodesLongTextFast) {
  std::string text;
  const std::vector<std::string> inputs =
      testing::ReadGgmlVocabInputs(Dir() + "/ggml-vocab-gpt-2.gguf.inp");
  while (text.size() < 200000) {
    for (const std::string& s : inputs) text += s + " ";
  }
  text += std::string(20000, 'a');  // one very long word
  const auto start = std::chrono::steady_clock::now();
  const std::vector<int32_t> ids = EncodeOrDie(Gpt2(), text);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(seconds, 2.0);
  EXPECT_EQ(Gpt2().Decode(ids), text);
}

TEST(Gpt2TokenizerTest, TokenizerJsonMatchesVocabAndMerges) {
  const std::vector<std::string> inputs =
      testing::ReadGgmlVocabInputs(Dir() + "/ggml-vocab-gpt-2.gguf.inp");
  const std::vector<std::vector<int32_t>> outputs =
      testing::ReadGgmlVocabOutputs(Dir() + "/ggml-vocab-gpt-2.gguf.out");
  for (bool pairs : {false, true}) {
    auto tok = Gpt2Tokenizer::FromTokenizerJson(Gpt2TokenizerJson(pairs), "tokenizer.json");
    ASSERT_TRUE(tok.ok()) << tok.status();
    EXPECT_EQ((*tok)->vocab_size(), 50257);
    EXPECT_EQ((*tok)->eos_id(), 50256);
    ASSERT_EQ((*tok)->added_tokens().size(), 1u);
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      EXPECT_EQ(EncodeOrDie(**tok, inputs[i]), outputs[i]) << "case " << i;
    }
    EXPECT_THAT(EncodeOrDie(**tok, "x<|endoftext|>"), ElementsAre(87, 50256));
  }
}

TEST(Gpt2TokenizerTest, TokenizerJsonAddPrefixSpace) {
  auto tok = Gpt2Tokenizer::FromTokenizerJson(Gpt2TokenizerJson(false, true), "tokenizer.json");
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_THAT(EncodeOrDie(**tok, "Hello world"), ElementsAre(18435, 995));
  EXPECT_THAT(EncodeOrDie(**tok, " Hello world"), ElementsAre(18435, 995));
}

TEST(Gpt2TokenizerTest, LoadsTokenizerJsonFile) {
  const std::string dir = testing::MakeTempDir("gpt2-json");
  ASSERT_TRUE(testing::WriteFile(dir + "/tokenizer.json", Gpt2TokenizerJson(false).dump()));
  auto tok = Gpt2Tokenizer::LoadTokenizerJson(dir + "/tokenizer.json");
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_THAT(EncodeOrDie(**tok, " Hello World!"), ElementsAre(18435, 2159, 0));
}

// --- bad files --------------------------------------------------------------

absl::Status LoadPairStatus(const std::string& vocab, const std::string& merges) {
  const std::string dir = testing::MakeTempDir("gpt2-bad");
  EXPECT_TRUE(testing::WriteFile(dir + "/vocab.json", vocab));
  EXPECT_TRUE(testing::WriteFile(dir + "/merges.txt", merges));
  return Gpt2Tokenizer::LoadVocabAndMerges(dir + "/vocab.json", dir + "/merges.txt").status();
}

TEST(Gpt2TokenizerTest, SmallVocabularyAndErrors) {
  // The 256 byte-level characters of encoder.py are ids 0..255 of encoder.json.
  const nlohmann::json full = testing::ReadJsonFile(Dir() + "/encoder.json");
  nlohmann::json small = nlohmann::json::object();
  for (const auto& [token, id] : full.items()) {
    if (id.get<int>() < 256) small[token] = id;
  }
  ASSERT_EQ(small.size(), 256u);
  small["ab"] = 256;
  EXPECT_TRUE(LoadPairStatus(small.dump(), "#version: 0.2\na b\n").ok());

  struct Case {
    std::string name, vocab, merges, message;
  };
  nlohmann::json missing_byte = small;
  missing_byte.erase("!");
  nlohmann::json bad_id = small;
  bad_id["ab"] = -4;
  nlohmann::json dup_id = small;
  dup_id["ab"] = 3;
  const std::vector<Case> cases = {
      {"not json", "{\"a\": ", "", "not valid JSON"},
      {"not an object", "[1, 2]", "", "not a JSON object"},
      {"bad id", bad_id.dump(), "", "id -4"},
      {"duplicate id", dup_id.dump(), "", "id 3 is used by both"},
      {"missing byte token", missing_byte.dump(), "", "byte 0x21"},
      {"unknown merge token", small.dump(), "#version: 0.2\na zz\n",
       "\"zz\" is not in the vocabulary"},
      {"unknown merge result", small.dump(), "b a\n", "\"ba\" is not in the vocabulary"},
      {"bad merge line", small.dump(), "#version: 0.2\na b c\n", "line 2"},
      {"empty merge line", small.dump(), "a b\n\na b\n", "line 2"},
  };
  for (const Case& c : cases) {
    const absl::Status s = LoadPairStatus(c.vocab, c.merges);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.name << ": " << s;
    EXPECT_THAT(std::string(s.message()), HasSubstr(c.message)) << c.name;
  }
  EXPECT_EQ(Gpt2Tokenizer::LoadVocabAndMerges("/nonexistent/vocab.json", "/nonexistent/m.txt")
                .status()
                .code(),
            absl::StatusCode::kNotFound);
}

TEST(Gpt2TokenizerTest, RejectsUnsupportedTokenizerJson) {
  nlohmann::json j = Gpt2TokenizerJson(false);
  struct Case {
    std::string name;
    std::function<void(nlohmann::json&)> edit;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"metaspace", [](nlohmann::json& j) { j["pre_tokenizer"] = {{"type", "Metaspace"}}; },
       "needs \"ByteLevel\""},
      {"normalizer", [](nlohmann::json& j) { j["normalizer"] = {{"type", "NFC"}}; }, "NFC"},
      {"wordpiece", [](nlohmann::json& j) { j["model"]["type"] = "WordPiece"; }, "WordPiece"},
      {"no vocab", [](nlohmann::json& j) { j["model"].erase("vocab"); }, "model.vocab"},
      {"bad merges", [](nlohmann::json& j) { j["model"]["merges"] = {1, 2}; }, "model.merges[0]"},
      {"bad added token", [](nlohmann::json& j) { j["added_tokens"][0]["id"] = "x"; },
       "added_tokens[0]"},
      {"dropout", [](nlohmann::json& j) { j["model"]["dropout"] = 0.1; }, "dropout"},
  };
  for (const Case& c : cases) {
    nlohmann::json edited = j;
    c.edit(edited);
    auto tok = Gpt2Tokenizer::FromTokenizerJson(edited, "tokenizer.json");
    EXPECT_EQ(tok.status().code(), absl::StatusCode::kInvalidArgument) << c.name;
    EXPECT_THAT(std::string(tok.status().message()), HasSubstr(c.message)) << c.name;
  }
}

}  // namespace
}  // namespace llmserve
