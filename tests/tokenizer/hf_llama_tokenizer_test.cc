#include "engine/tokenizer/hf_llama_tokenizer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <random>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "engine/tokenizer/llama2c_tokenizer.h"
#include "tests/test_util.h"
#include "tests/tokenizer/ggml_vocab_cases.h"
#include "tests/tokenizer/llama_spm_vectors.h"

namespace llmserve {
namespace {

using ::llmserve::testing::SharedPath;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::string kMeta = "\xE2\x96\x81";  // "▁"

enum class Form {
  // normalizer Prepend("▁") + Replace(" " → "▁"); decoder Replace, ByteFallback, Fuse, Strip
  kLegacy,
  // pre_tokenizer Metaspace (prepend_scheme "first"); decoder Metaspace
  kMetaspace,
};

nlohmann::json SpecialTokens() {
  nlohmann::json added = nlohmann::json::array();
  for (auto [id, content] : {std::pair{0, "<unk>"}, std::pair{1, "<s>"}, std::pair{2, "</s>"}}) {
    added.push_back({{"id", id}, {"content", content}, {"single_word", false}, {"lstrip", false},
                     {"rstrip", false}, {"normalized", false}, {"special", true}});
  }
  return added;
}

// A tokenizer.json around `vocab` and `merges` in the given form, with the
// pieces and components `transformers`' LlamaConverter writes.
nlohmann::json TokenizerJson(nlohmann::json vocab, nlohmann::json merges, Form form,
                             bool byte_fallback = true) {
  nlohmann::json j;
  j["version"] = "1.0";
  j["added_tokens"] = SpecialTokens();
  if (form == Form::kLegacy) {
    j["normalizer"] = {{"type", "Sequence"},
                       {"normalizers",
                        {{{"type", "Prepend"}, {"prepend", kMeta}},
                         {{"type", "Replace"},
                          {"pattern", {{"String", " "}}},
                          {"content", kMeta}}}}};
    j["pre_tokenizer"] = nullptr;
    j["decoder"] = {
        {"type", "Sequence"},
        {"decoders",
         {{{"type", "Replace"}, {"pattern", {{"String", kMeta}}}, {"content", " "}},
          {{"type", "ByteFallback"}},
          {{"type", "Fuse"}},
          {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}};
  } else {
    j["normalizer"] = nullptr;
    j["pre_tokenizer"] = {{"type", "Metaspace"}, {"replacement", kMeta},
                          {"prepend_scheme", "first"}, {"split", false}};
    j["decoder"] = {{"type", "Metaspace"}, {"replacement", kMeta}, {"prepend_scheme", "first"},
                    {"split", false}};
  }
  j["post_processor"] = {
      {"type", "TemplateProcessing"},
      {"single", {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
                  {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
      {"pair", nlohmann::json::array()},
      {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {1}}, {"tokens", {"<s>"}}}}}}};
  j["model"] = {{"type", "BPE"},
                {"dropout", nullptr},
                {"unk_token", "<unk>"},
                {"continuing_subword_prefix", nullptr},
                {"end_of_word_suffix", nullptr},
                {"fuse_unk", true},
                {"byte_fallback", byte_fallback},
                {"ignore_merges", false},
                {"vocab", std::move(vocab)},
                {"merges", std::move(merges)}};
  return j;
}

// The Llama tokenizer.json of a llama2.c vocabulary, as LlamaConverter derives
// it from the SentencePiece model: pieces with "▁" for " ", and as merges every
// split of a piece into two pieces, ordered by the merged piece's score (then
// its id, then the left piece's id).
nlohmann::json FromLlama2c(const Llama2cTokenizer& src, Form form) {
  auto meta = [](std::string_view piece) {
    std::string out;
    for (char c : piece) {
      if (c == ' ') {
        out += kMeta;
      } else {
        out.push_back(c);
      }
    }
    return out;
  };
  nlohmann::json vocab = nlohmann::json::object();
  std::map<std::string, int32_t> ids;
  vocab["<unk>"] = 0;
  vocab["<s>"] = 1;
  vocab["</s>"] = 2;
  for (int32_t id = 3; id < src.vocab_size(); ++id) {
    const std::string piece = meta(src.piece(id));
    vocab[piece] = id;
    if (id >= 3 + 256) ids[piece] = id;
  }
  std::vector<std::tuple<float, int32_t, int32_t, std::string, std::string>> merges;
  for (const auto& [piece, id] : ids) {
    for (std::size_t cut = 1; cut < piece.size(); ++cut) {
      if ((piece[cut] & 0xC0) == 0x80) continue;  // inside a UTF-8 character
      auto left = ids.find(piece.substr(0, cut));
      auto right = ids.find(piece.substr(cut));
      if (left == ids.end() || right == ids.end()) continue;
      merges.emplace_back(-src.score(id), id, left->second, left->first, right->first);
    }
  }
  std::sort(merges.begin(), merges.end());
  nlohmann::json merge_list = nlohmann::json::array();
  for (const auto& m : merges) merge_list.push_back(std::get<3>(m) + " " + std::get<4>(m));
  return TokenizerJson(std::move(vocab), std::move(merge_list), form);
}

std::unique_ptr<HfLlamaTokenizer> Make(const nlohmann::json& j) {
  auto tok = HfLlamaTokenizer::FromTokenizerJson(j, "tokenizer.json");
  EXPECT_TRUE(tok.ok()) << tok.status();
  return tok.ok() ? *std::move(tok) : nullptr;
}

std::unique_ptr<Llama2cTokenizer> LoadLlama2c(const std::string& relative) {
  auto tok = Llama2cTokenizer::Load(SharedPath(relative));
  EXPECT_TRUE(tok.ok()) << tok.status();
  return tok.ok() ? *std::move(tok) : nullptr;
}

std::vector<int32_t> EncodeOrDie(const Tokenizer& tok, std::string_view text, bool add_bos) {
  auto ids = tok.Encode(text, add_bos);
  EXPECT_TRUE(ids.ok()) << ids.status();
  return ids.ok() ? *ids : std::vector<int32_t>{};
}

// Valid UTF-8 without "▁" (which Hugging Face reads as a space) and without
// special-token text: where llama2.c and Hugging Face must agree.
std::string RandomValidText(std::mt19937& rng, int parts) {
  static const char* const kPieces[] = {
      "a", "b", "the", " the", "Lily", " and", "Once", " upon", " ", "  ", "   ", "\n", "\n\n",
      "\t", "!", ".", ",", "\"", "'s", "é", "ü", "café", "日本語", "中", "한국어", "🙂", "👍🏽",
      "🦙", "½", "3", "42", "Hello", " World", "3.3", "...", "``", "<", ">", "s>"};
  std::uniform_int_distribution<std::size_t> pick(0, std::size(kPieces) - 1);
  std::string s;
  for (int i = 0; i < parts; ++i) s += kPieces[pick(rng)];
  return s;
}

TEST(HfLlamaTokenizerTest, MatchesLlama2cOnStories260KVocabulary) {
  auto ref = LoadLlama2c("models/stories260K/tok512.bin");
  ASSERT_NE(ref, nullptr);
  auto tok = Make(FromLlama2c(*ref, Form::kLegacy));
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->vocab_size(), 512);
  EXPECT_EQ(tok->bos_id(), 1);
  EXPECT_EQ(tok->eos_id(), 2);
  // The golden prompts.
  const nlohmann::json golden =
      testing::ReadJsonFile(SharedPath("reference/stories260K-greedy.json"));
  for (const auto& c : golden["cases"]) {
    EXPECT_EQ(EncodeOrDie(*tok, c["prompt"].get<std::string>(), true),
              c["prompt_token_ids"].get<std::vector<int32_t>>());
  }
  std::mt19937 rng(3);
  for (int i = 0; i < 300; ++i) {
    const std::string text = RandomValidText(rng, 1 + i % 20);
    const std::vector<int32_t> ids = EncodeOrDie(*tok, text, true);
    EXPECT_EQ(ids, EncodeOrDie(*ref, text, true)) << text;
    EXPECT_EQ(tok->Decode(ids), text);
  }
}

TEST(HfLlamaTokenizerTest, ReproducesSentencePieceVectorsOnLlama32kVocabulary) {
  auto ref = LoadLlama2c("models/llama2c-tokenizer32k/tokenizer.bin");
  ASSERT_NE(ref, nullptr);
  auto tok = Make(FromLlama2c(*ref, Form::kLegacy));
  ASSERT_NE(tok, nullptr);
  const std::vector<std::string> inputs = testing::ReadGgmlVocabInputs(
      SharedPath("models/gpt2-tokenizer/ggml-vocab-gpt-2.gguf.inp"));
  ASSERT_EQ(inputs.size(), 46u);
  for (const testing::SpmVector& v : testing::LlamaSpmVectors()) {
    const std::string& text = inputs.at(v.input_index);
    EXPECT_EQ(EncodeOrDie(*tok, text, false), v.ids) << "case " << v.input_index << ": " << text;
    EXPECT_EQ(tok->Decode(EncodeOrDie(*tok, text, true)), text) << "case " << v.input_index;
  }
}

TEST(HfLlamaTokenizerTest, MetaspaceFormDoesNotDoublePrefixLeadingSpace) {
  auto ref = LoadLlama2c("models/stories260K/tok512.bin");
  ASSERT_NE(ref, nullptr);
  auto legacy = Make(FromLlama2c(*ref, Form::kLegacy));
  auto meta = Make(FromLlama2c(*ref, Form::kMetaspace));
  ASSERT_NE(legacy, nullptr);
  ASSERT_NE(meta, nullptr);
  // Text not starting with a space: both forms give "▁" + text.
  std::mt19937 rng(11);
  for (int i = 0; i < 100; ++i) {
    const std::string text = absl::StrCat("x", RandomValidText(rng, 1 + i % 10));
    EXPECT_EQ(EncodeOrDie(*meta, text, true), EncodeOrDie(*legacy, text, true)) << text;
    EXPECT_EQ(meta->Decode(EncodeOrDie(*meta, text, true)), text);
  }
  // A leading space is the prefix itself in the Metaspace form.
  EXPECT_EQ(EncodeOrDie(*meta, " Once upon", true), EncodeOrDie(*legacy, "Once upon", true));
  EXPECT_NE(EncodeOrDie(*legacy, " Once upon", true), EncodeOrDie(*legacy, "Once upon", true));
}

// A hand-made vocabulary: specials, 256 byte tokens, then a few pieces.
nlohmann::json TinyVocab() {
  nlohmann::json vocab = {{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}};
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    vocab[name] = 3 + b;
  }
  const std::vector<std::string> pieces = {kMeta, "a", "b", "ab", kMeta + "a", kMeta + "ab",
                                           "c",   "bc", "a" + kMeta};
  for (std::size_t i = 0; i < pieces.size(); ++i) vocab[pieces[i]] = 259 + static_cast<int>(i);
  return vocab;
}
// Ids of TinyVocab.
constexpr int32_t kSp = 259, kA = 260, kB = 261, kAb = 262, kSpA = 263, kSpAb = 264, kC = 265,
                  kBc = 266, kASp = 267;

TEST(HfLlamaTokenizerTest, HandComputedMergesByRank) {
  const nlohmann::json merges = {"a b", kMeta + " a", kMeta + " ab", "b c"};
  auto tok = Make(TokenizerJson(TinyVocab(), merges, Form::kLegacy));
  ASSERT_NE(tok, nullptr);
  // "▁ab": (a,b) has rank 0, then (▁,ab) rank 2.
  EXPECT_THAT(EncodeOrDie(*tok, "ab", true), ElementsAre(1, kSpAb));
  EXPECT_THAT(EncodeOrDie(*tok, "ba", false), ElementsAre(kSp, kB, kA));
  EXPECT_THAT(EncodeOrDie(*tok, "a b", false), ElementsAre(kSpA, kSp, kB));
  // The lowest rank wins wherever it is: "ab" (rank 0) before "bc" (rank 3).
  EXPECT_THAT(EncodeOrDie(*tok, "abc", false), ElementsAre(kSpAb, kC));
  auto bc_first = Make(TokenizerJson(TinyVocab(), {"b c", "a b", kMeta + " a"}, Form::kLegacy));
  ASSERT_NE(bc_first, nullptr);
  EXPECT_THAT(EncodeOrDie(*bc_first, "abc", false), ElementsAre(kSpA, kBc));
  // Byte fallback for characters not in the vocabulary.
  EXPECT_THAT(EncodeOrDie(*tok, "é", false), ElementsAre(kSp, 3 + 0xC3, 3 + 0xA9));
  // Ill-formed UTF-8 falls back to bytes as well.
  EXPECT_THAT(EncodeOrDie(*tok, "a\xff", false), ElementsAre(kSpA, 3 + 0xFF));
  // Empty text: nothing but BOS.
  EXPECT_THAT(EncodeOrDie(*tok, "", true), ElementsAre(1));
  EXPECT_THAT(EncodeOrDie(*tok, "", false), ElementsAre());
}

TEST(HfLlamaTokenizerTest, AddedTokensSplitTheText) {
  const nlohmann::json merges = {"a b", kMeta + " a", kMeta + " ab"};
  auto legacy = Make(TokenizerJson(TinyVocab(), merges, Form::kLegacy));
  auto meta = Make(TokenizerJson(TinyVocab(), merges, Form::kMetaspace));
  ASSERT_NE(legacy, nullptr);
  ASSERT_NE(meta, nullptr);
  // Legacy: every segment gets its "▁" prefix; Metaspace "first": only the
  // segment at the start of the text.
  EXPECT_THAT(EncodeOrDie(*legacy, "a<s>b", false), ElementsAre(kSpA, 1, kSp, kB));
  EXPECT_THAT(EncodeOrDie(*meta, "a<s>b", false), ElementsAre(kSpA, 1, kB));
  EXPECT_THAT(EncodeOrDie(*meta, "</s>ab", false), ElementsAre(2, kAb));
  // Like llama2.c, a token right after BOS loses its leading space.
  EXPECT_EQ(legacy->Decode(EncodeOrDie(*legacy, "a<s>b", false)), "ab");
}

TEST(HfLlamaTokenizerTest, MetaspaceSplitKeepsMergesInsideWords) {
  const nlohmann::json merges = {"a " + kMeta, kMeta + " a"};
  nlohmann::json split = TokenizerJson(TinyVocab(), merges, Form::kMetaspace);
  auto unsplit = Make(split);
  split["pre_tokenizer"]["split"] = true;
  auto words = Make(split);
  ASSERT_NE(unsplit, nullptr);
  ASSERT_NE(words, nullptr);
  EXPECT_THAT(EncodeOrDie(*unsplit, "a b", false), ElementsAre(kSp, kASp, kB));
  EXPECT_THAT(EncodeOrDie(*words, "a b", false), ElementsAre(kSpA, kSp, kB));
}

TEST(HfLlamaTokenizerTest, UnknownCharactersWithoutByteFallback) {
  nlohmann::json j = TokenizerJson(TinyVocab(), nlohmann::json::array(), Form::kLegacy, false);
  auto fused = Make(j);
  ASSERT_NE(fused, nullptr);
  EXPECT_THAT(EncodeOrDie(*fused, "éé", false), ElementsAre(kSp, 0));
  EXPECT_THAT(EncodeOrDie(*fused, "éaé", false), ElementsAre(kSp, 0, kA, 0));
  j["model"]["fuse_unk"] = false;
  auto unfused = Make(j);
  ASSERT_NE(unfused, nullptr);
  EXPECT_THAT(EncodeOrDie(*unfused, "éé", false), ElementsAre(kSp, 0, 0));
  j["model"]["unk_token"] = nullptr;
  auto no_unk = Make(j);
  ASSERT_NE(no_unk, nullptr);
  EXPECT_EQ(no_unk->Encode("é", false).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(HfLlamaTokenizerTest, DecodesPiecesBytesAndLeadingSpace) {
  for (Form form : {Form::kLegacy, Form::kMetaspace}) {
    auto tok = Make(TokenizerJson(TinyVocab(), nlohmann::json::array(), form));
    ASSERT_NE(tok, nullptr);
    EXPECT_EQ(tok->TokenBytes(-1, kSpAb), "ab");  // first token of a text
    EXPECT_EQ(tok->TokenBytes(1, kSpAb), "ab");   // after BOS
    EXPECT_EQ(tok->TokenBytes(kA, kSpAb), " ab");
    EXPECT_EQ(tok->TokenBytes(kA, kASp), "a ");
    EXPECT_EQ(tok->TokenBytes(kA, 3 + 0xC3), "\xC3");
    EXPECT_EQ(tok->TokenBytes(kA, 1), "");
    EXPECT_EQ(tok->TokenBytes(kA, 2), "");
    EXPECT_EQ(tok->TokenBytes(kA, 9999), "");
    EXPECT_EQ(tok->Decode({1, kSpA, kSp, 3 + 0xC3, 3 + 0xA9, 2}), "a é");
  }
}

TEST(HfLlamaTokenizerTest, BosFromPostProcessorOrVocabulary) {
  nlohmann::json j = TokenizerJson(TinyVocab(), nlohmann::json::array(), Form::kLegacy);
  j["post_processor"]["special_tokens"]["<s>"]["ids"] = {kA};  // a template naming another id
  auto templated = Make(j);
  ASSERT_NE(templated, nullptr);
  EXPECT_EQ(templated->bos_id(), kA);
  j["post_processor"] = nullptr;
  auto plain = Make(j);
  ASSERT_NE(plain, nullptr);
  EXPECT_EQ(plain->bos_id(), 1);
  EXPECT_EQ(plain->eos_id(), 2);
  EXPECT_THAT(EncodeOrDie(*plain, "b", true), ElementsAre(1, kSp, kB));
}

TEST(HfLlamaTokenizerTest, RejectsUnsupportedOrBrokenFiles) {
  const nlohmann::json good = TokenizerJson(TinyVocab(), {"a b"}, Form::kLegacy);
  struct Case {
    std::string name;
    std::function<void(nlohmann::json&)> edit;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"nfkc", [](nlohmann::json& j) { j["normalizer"] = {{"type", "NFKC"}}; }, "NFKC"},
      {"regex replace",
       [](nlohmann::json& j) { j["normalizer"]["normalizers"][1]["pattern"] = {{"Regex", " +"}}; },
       "Regex"},
      {"byte level", [](nlohmann::json& j) { j["pre_tokenizer"] = {{"type", "ByteLevel"}}; },
       "ByteLevel"},
      {"decoder", [](nlohmann::json& j) { j["decoder"] = {{"type", "WordPiece"}}; }, "WordPiece"},
      {"strip", [](nlohmann::json& j) { j["decoder"]["decoders"][3]["stop"] = 2; }, "Strip"},
      {"scheme",
       [](nlohmann::json& j) {
         j["normalizer"] = nullptr;
         j["pre_tokenizer"] = {{"type", "Metaspace"}, {"prepend_scheme", "sometimes"}};
       },
       "sometimes"},
      {"unigram", [](nlohmann::json& j) { j["model"]["type"] = "Unigram"; }, "Unigram"},
      {"merge of unknown", [](nlohmann::json& j) { j["model"]["merges"] = {"x y"}; }, "\"x\""},
      {"unk not in vocab", [](nlohmann::json& j) { j["model"]["unk_token"] = "<?>"; }, "<?>"},
      {"bad vocab id", [](nlohmann::json& j) { j["model"]["vocab"]["a"] = "one"; }, "\"a\""},
  };
  for (const Case& c : cases) {
    nlohmann::json edited = good;
    c.edit(edited);
    auto tok = HfLlamaTokenizer::FromTokenizerJson(edited, "tokenizer.json");
    EXPECT_EQ(tok.status().code(), absl::StatusCode::kInvalidArgument) << c.name;
    EXPECT_THAT(std::string(tok.status().message()), HasSubstr(c.message)) << c.name;
    EXPECT_THAT(std::string(tok.status().message()), HasSubstr("tokenizer.json")) << c.name;
  }
}

TEST(HfLlamaTokenizerTest, LoadsFromFile) {
  const std::string dir = testing::MakeTempDir("hf-llama");
  ASSERT_TRUE(testing::WriteFile(dir + "/tokenizer.json",
                                 TokenizerJson(TinyVocab(), {"a b"}, Form::kLegacy).dump()));
  auto tok = HfLlamaTokenizer::Load(dir + "/tokenizer.json");
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_THAT(EncodeOrDie(**tok, "ab", true), ElementsAre(1, kSp, kAb));
  ASSERT_TRUE(testing::WriteFile(dir + "/broken.json", "{\"model\": [}"));
  EXPECT_EQ(HfLlamaTokenizer::Load(dir + "/broken.json").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(HfLlamaTokenizer::Load(dir + "/missing.json").status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace llmserve
