// llmserve-tools: offline utilities.
//
//   llmserve-tools make-random-model --preset llama-110m --out /tmp/llama110m.bin
//   llmserve-tools make-random-model --preset gpt2-124m --out /tmp/gpt2-124m [--dtype bf16]
//
// Presets give real model shapes; any field can be overridden (--hidden, --layers,
// --heads, --kv-heads, --ffn, --vocab, --context). Llama shapes are written as
// llama2.c checkpoints, GPT-2 shapes as Hugging Face directories.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "cli/cli_flags.h"
#include "tools/random_model_writer.h"

ABSL_FLAG(std::string, preset, "llama-110m",
          "llama-110m (hidden 768, 12 layers, 12 heads, FFN 2048, vocab 32000, context 1024), "
          "llama-15m, gpt2-124m (768, 12 layers, 12 heads, 1024 positions, vocab 50257)");
ABSL_FLAG(std::string, out, "", "output file (llama) or directory (gpt2)");
ABSL_FLAG(int, hidden, 0, "override: hidden size");
ABSL_FLAG(int, layers, 0, "override: layers");
ABSL_FLAG(int, heads, 0, "override: attention heads");
ABSL_FLAG(int, kv_heads, 0, "override: key/value heads (llama)");
ABSL_FLAG(int, ffn, 0, "override: MLP inner size");
ABSL_FLAG(int, vocab, 0, "override: vocabulary size");
ABSL_FLAG(int, context, 0, "override: context length");
ABSL_FLAG(std::string, dtype, "f32", "gpt2 tensor dtype: f32 or bf16");
ABSL_FLAG(uint64_t, seed, 0, "random seed");

int main(int argc, char** argv) {
  constexpr const char* kUsage =
      "llmserve-tools COMMAND [flags]\n\n"
      "Commands:\n"
      "  make-random-model   writes a model with random weights at a real shape\n"
      "                      (--preset, overrides; llama: llama2.c file, gpt2: Hugging Face directory)\n\n"
      "Example: llmserve-tools make-random-model --preset llama-110m --out /tmp/llama110m.bin";
  llmserve::cli::SetUsage(kUsage, "tools/llmserve_tools.cc");
  std::vector<std::string> args = llmserve::cli::ParseFlags(argc, argv);
  if (args.size() != 2 || args[1] != "make-random-model") {
    std::fprintf(stderr, "usage: %s\n", kUsage);
    return 2;
  }
  using llmserve::tools::RandomModelShape;
  RandomModelShape s;
  const std::string preset = absl::GetFlag(FLAGS_preset);
  if (preset == "llama-110m") {
    s = {"llama", 768, 12, 12, 12, 2048, 32000, 1024};
  } else if (preset == "llama-15m") {
    s = {"llama", 288, 6, 6, 6, 768, 32000, 256};
  } else if (preset == "gpt2-124m") {
    s = {"gpt2", 768, 12, 12, 12, 3072, 50257, 1024};
  } else {
    std::fprintf(stderr, "unknown --preset %s\n", preset.c_str());
    return 2;
  }
  auto override_int = [](int flag, int& field) {
    if (flag > 0) field = flag;
  };
  override_int(absl::GetFlag(FLAGS_hidden), s.hidden);
  override_int(absl::GetFlag(FLAGS_layers), s.layers);
  override_int(absl::GetFlag(FLAGS_heads), s.heads);
  override_int(absl::GetFlag(FLAGS_kv_heads), s.kv_heads);
  override_int(absl::GetFlag(FLAGS_ffn), s.ffn);
  override_int(absl::GetFlag(FLAGS_vocab), s.vocab);
  override_int(absl::GetFlag(FLAGS_context), s.context);
  s.seed = absl::GetFlag(FLAGS_seed);
  auto dtype = llmserve::ParseDType(absl::GetFlag(FLAGS_dtype));
  if (!dtype.ok() || (*dtype != llmserve::DType::kF32 && *dtype != llmserve::DType::kBF16)) {
    std::fprintf(stderr, "--dtype must be f32 or bf16\n");
    return 2;
  }
  s.dtype = *dtype;
  const std::string out = absl::GetFlag(FLAGS_out);
  if (out.empty()) {
    std::fprintf(stderr, "--out is required\n");
    return 2;
  }
  if (s.hidden % s.heads != 0 || s.heads % s.kv_heads != 0) {
    std::fprintf(stderr, "hidden must be divisible by heads, heads by kv_heads\n");
    return 2;
  }
  absl::Status status = s.arch == "gpt2" ? llmserve::tools::WriteRandomGpt2(s, out)
                                         : llmserve::tools::WriteRandomLlama2c(s, out);
  if (!status.ok()) {
    std::fprintf(stderr, "%s\n", std::string(status.message()).c_str());
    return 1;
  }
  std::printf("wrote %s (%s: hidden %d, layers %d, heads %d/%d, ffn %d, vocab %d, context %d)\n",
              out.c_str(), s.arch.c_str(), s.hidden, s.layers, s.heads, s.kv_heads, s.ffn, s.vocab,
              s.context);
  return 0;
}
