#include "engine/tokenizer/tokenizer_loader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "engine/tokenizer/gpt2_tokenizer.h"
#include "engine/tokenizer/hf_llama_tokenizer.h"
#include "engine/tokenizer/llama2c_tokenizer.h"
#include "tests/test_util.h"

namespace llmserve {
namespace {

using ::llmserve::testing::SharedPath;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

template <typename T>
const T* LoadAs(const std::string& model_path, const std::string& tokenizer_path,
                int32_t vocab_size, std::unique_ptr<Tokenizer>* holder) {
  auto tok = LoadTokenizer(model_path, tokenizer_path, vocab_size);
  EXPECT_TRUE(tok.ok()) << model_path << " | " << tokenizer_path << ": " << tok.status();
  if (!tok.ok()) return nullptr;
  *holder = *std::move(tok);
  const T* typed = dynamic_cast<const T*>(holder->get());
  EXPECT_NE(typed, nullptr) << "wrong tokenizer type for " << model_path << " | " << tokenizer_path;
  return typed;
}

absl::Status LoadStatus(const std::string& model_path, const std::string& tokenizer_path,
                        int32_t vocab_size = -1) {
  return LoadTokenizer(model_path, tokenizer_path, vocab_size).status();
}

TEST(TokenizerLoaderTest, ExplicitTokenizerFiles) {
  std::unique_ptr<Tokenizer> holder;
  const auto* llama2c =
      LoadAs<Llama2cTokenizer>("", SharedPath("models/stories260K/tok512.bin"), 512, &holder);
  ASSERT_NE(llama2c, nullptr);
  EXPECT_EQ(llama2c->vocab_size(), 512);
  for (const char* file : {"encoder.json", "vocab.bpe", ""}) {
    const auto* gpt2 =
        LoadAs<Gpt2Tokenizer>("", SharedPath("models/gpt2-tokenizer/") + file, 50257, &holder);
    ASSERT_NE(gpt2, nullptr) << file;
    EXPECT_EQ(gpt2->vocab_size(), 50257);
    auto ids = gpt2->Encode("Hello world", false);
    ASSERT_TRUE(ids.ok());
    EXPECT_THAT(*ids, ElementsAre(15496, 995));
  }
}

TEST(TokenizerLoaderTest, SearchesTheModelDirectoryOrBesideTheCheckpoint) {
  std::unique_ptr<Tokenizer> holder;
  // A llama2.c checkpoint file: tok512.bin beside it (not the checkpoint itself).
  const auto* beside =
      LoadAs<Llama2cTokenizer>(SharedPath("models/stories260K/stories260K.bin"), "", 512, &holder);
  ASSERT_NE(beside, nullptr);
  EXPECT_EQ(beside->vocab_size(), 512);
  // A Hugging Face directory with tok512.bin.
  ASSERT_NE(LoadAs<Llama2cTokenizer>(SharedPath("models/stories260K-hf"), "", 512, &holder),
            nullptr);
  // tokenizer.bin.
  const auto* llama32k =
      LoadAs<Llama2cTokenizer>(SharedPath("models/llama2c-tokenizer32k"), "", 32000, &holder);
  ASSERT_NE(llama32k, nullptr);
  EXPECT_EQ(llama32k->vocab_size(), 32000);
  // encoder.json + vocab.bpe.
  ASSERT_NE(LoadAs<Gpt2Tokenizer>(SharedPath("models/gpt2-tokenizer"), "", -1, &holder), nullptr);
}

TEST(TokenizerLoaderTest, NotFoundListsWhatWasLookedFor) {
  const absl::Status s = LoadStatus(SharedPath("models/gpt2-tiny-random"), "");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(s.message()), HasSubstr("gpt2-tiny-random"));
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("tokenizer.json, vocab.json + merges.txt, encoder.json + vocab.bpe, "
                        "tokenizer.bin, tok*.bin"));
  EXPECT_EQ(LoadStatus("/nonexistent/model.bin", "").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(LoadStatus("", "/nonexistent/tokenizer.json").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(LoadStatus("", "").code(), absl::StatusCode::kInvalidArgument);
  // vocab.json without merges beside it.
  const std::string dir = testing::MakeTempDir("loader-nomerges");
  ASSERT_TRUE(testing::WriteFile(dir + "/vocab.json", "{}"));
  const absl::Status no_merges = LoadStatus("", dir + "/vocab.json");
  EXPECT_EQ(no_merges.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(no_merges.message()), HasSubstr("merges.txt"));
}

TEST(TokenizerLoaderTest, RejectsMismatchedOrUnknownFiles) {
  // More tokens than the model has.
  const absl::Status big = LoadStatus(SharedPath("models/gpt2-tokenizer"), "", 1000);
  EXPECT_EQ(big.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(big.message()), HasSubstr("50257"));
  // Fewer is fine (a padded embedding).
  EXPECT_TRUE(LoadStatus(SharedPath("models/gpt2-tokenizer"), "", 50304).ok());
  // llama2.c reads exactly vocab_size tokens.
  EXPECT_EQ(LoadStatus("", SharedPath("models/stories260K/tok512.bin"), 32000).code(),
            absl::StatusCode::kInvalidArgument);
  // llm.c's tokenizer format is recognized and refused.
  const absl::Status llmc = LoadStatus("", SharedPath("models/gpt2-tokenizer/gpt2_tokenizer.bin"));
  EXPECT_EQ(llmc.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(llmc.message()), HasSubstr("llm.c"));
  // Unknown file types.
  const std::string dir = testing::MakeTempDir("loader-unknown");
  ASSERT_TRUE(testing::WriteFile(dir + "/tokenizer.model", "x"));
  EXPECT_EQ(LoadStatus("", dir + "/tokenizer.model").code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(testing::WriteFile(dir + "/config.json", R"({"vocab_size": 3})"));
  EXPECT_THAT(std::string(LoadStatus("", dir + "/config.json").message()), HasSubstr("model"));
  ASSERT_TRUE(testing::WriteFile(
      dir + "/wordpiece.json",
      R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "normalizer": null,
          "pre_tokenizer": {"type": "Whitespace"}})"));
  const absl::Status neither = LoadStatus("", dir + "/wordpiece.json");
  EXPECT_EQ(neither.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(neither.message()), HasSubstr("neither GPT-2"));
}

TEST(TokenizerLoaderTest, ChoosesTheTokenizerJsonKind) {
  // GPT-2-style: ByteLevel pre-tokenizer over the 256 byte-level characters.
  const nlohmann::json encoder =
      testing::ReadJsonFile(SharedPath("models/gpt2-tokenizer/encoder.json"));
  nlohmann::json byte_vocab = nlohmann::json::object();
  for (const auto& [token, id] : encoder.items()) {
    if (id.get<int>() < 256) byte_vocab[token] = id;
  }
  byte_vocab["Hi"] = 256;
  const nlohmann::json gpt2 = {
      {"model", {{"type", "BPE"}, {"vocab", byte_vocab}, {"merges", {"H i"}}}},
      {"normalizer", nullptr},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}}},
      {"decoder", {{"type", "ByteLevel"}}}};
  // Llama-style: Metaspace and byte fallback.
  nlohmann::json llama_vocab = {{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}, {"\xE2\x96\x81", 3},
                                {"H", 4},     {"i", 5},   {"Hi", 6},   {"\xE2\x96\x81Hi", 7}};
  const nlohmann::json llama = {
      {"model",
       {{"type", "BPE"},
        {"byte_fallback", true},
        {"unk_token", "<unk>"},
        {"vocab", llama_vocab},
        {"merges", {"H i", "\xE2\x96\x81 Hi"}}}},
      {"pre_tokenizer", {{"type", "Metaspace"}, {"prepend_scheme", "first"}, {"split", false}}},
      {"decoder", {{"type", "Metaspace"}, {"prepend_scheme", "first"}}}};

  const std::string gpt2_dir = testing::MakeTempDir("loader-gpt2json");
  const std::string llama_dir = testing::MakeTempDir("loader-llamajson");
  ASSERT_TRUE(testing::WriteFile(gpt2_dir + "/tokenizer.json", gpt2.dump()));
  ASSERT_TRUE(testing::WriteFile(llama_dir + "/tokenizer.json", llama.dump()));
  // tokenizer.json wins over other files in the directory.
  ASSERT_TRUE(testing::WriteFile(llama_dir + "/tokenizer.bin",
                                 testing::ReadFile(SharedPath("models/stories260K/tok512.bin"))));

  std::unique_ptr<Tokenizer> holder;
  const auto* g = LoadAs<Gpt2Tokenizer>(gpt2_dir, "", -1, &holder);
  ASSERT_NE(g, nullptr);
  auto ids = g->Encode("Hi", false);
  ASSERT_TRUE(ids.ok());
  EXPECT_THAT(*ids, ElementsAre(256));
  const auto* l = LoadAs<HfLlamaTokenizer>(llama_dir, "", -1, &holder);
  ASSERT_NE(l, nullptr);
  ids = l->Encode("Hi", true);
  ASSERT_TRUE(ids.ok());
  EXPECT_THAT(*ids, ElementsAre(1, 7));
  EXPECT_NE(LoadAs<HfLlamaTokenizer>("", llama_dir + "/tokenizer.json", -1, &holder), nullptr);
}

}  // namespace
}  // namespace llmserve
