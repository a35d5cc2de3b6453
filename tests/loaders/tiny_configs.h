#ifndef LLMSERVE_TESTS_LOADERS_TINY_CONFIGS_H_
#define LLMSERVE_TESTS_LOADERS_TINY_CONFIGS_H_

#include "nlohmann/json.hpp"

namespace llmserve::testing {

/// config.json of a tiny LlamaForCausalLM: hidden 8, 2 heads of 4, 1 KV head,
/// ffn 12, 2 layers, vocab 16, 32 positions, untied LM head.
nlohmann::json TinyLlamaConfig();

}  // namespace llmserve::testing

#endif  // LLMSERVE_TESTS_LOADERS_TINY_CONFIGS_H_
