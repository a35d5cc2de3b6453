#ifndef LLMSERVE_ENGINE_SAMPLING_STRUCTURED_OUTPUT_PARAMS_H_
#define LLMSERVE_ENGINE_SAMPLING_STRUCTURED_OUTPUT_PARAMS_H_

#include <string>
#include <vector>

namespace llmserve {

/// What a request's completion must match (structured output, issue #23;
/// the API's `sampling_params.structured_output`, OpenAI's `response_format`,
/// vLLM's `guided_*` / `structured_outputs`). Plain data: compiled into a
/// token-level automaton by engine/structured (StructuredOutputCompiler).
struct StructuredOutputParams {
  enum class Kind {
    kJsonSchema,  ///< `text` is a JSON Schema document (docs/generation-controls.md lists the keywords)
    kJsonObject,  ///< any JSON object (`text` unused)
    kRegex,       ///< `text` is a regular expression the whole completion matches
    kChoice,      ///< the completion is exactly one of `choices`
    kGrammar,     ///< `text` is a grammar in llama.cpp's GBNF syntax (root rule `root`)
  };
  Kind kind = Kind::kJsonObject;
  std::string text;
  std::vector<std::string> choices;

  bool operator==(const StructuredOutputParams& o) const {
    return kind == o.kind && text == o.text && choices == o.choices;
  }
};

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_SAMPLING_STRUCTURED_OUTPUT_PARAMS_H_
