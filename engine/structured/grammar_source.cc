#include "engine/structured/grammar_source.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/structured/gbnf_parser.h"
#include "engine/structured/json_grammar.h"
#include "engine/structured/json_schema_compiler.h"
#include "engine/structured/regex_parser.h"

namespace llmserve::structured {

std::string FieldName(StructuredOutputParams::Kind kind) {
  switch (kind) {
    case StructuredOutputParams::Kind::kJsonSchema: return "structured_output.json_schema";
    case StructuredOutputParams::Kind::kJsonObject: return "structured_output.json_object";
    case StructuredOutputParams::Kind::kRegex: return "structured_output.regex";
    case StructuredOutputParams::Kind::kChoice: return "structured_output.choice";
    case StructuredOutputParams::Kind::kGrammar: return "structured_output.grammar";
  }
  return "structured_output";
}

absl::StatusOr<Grammar> BuildGrammar(const StructuredOutputParams& params) {
  const std::string field = FieldName(params.kind);
  switch (params.kind) {
    case StructuredOutputParams::Kind::kJsonObject:
      return JsonObjectGrammar();
    case StructuredOutputParams::Kind::kRegex: {
      absl::StatusOr<Expr> e = ParseRegex(params.text, field);
      if (!e.ok()) return e.status();
      return SingleRuleGrammar(*std::move(e));
    }
    case StructuredOutputParams::Kind::kChoice: {
      if (params.choices.empty()) {
        return absl::InvalidArgumentError(absl::StrCat(field, ": no choices given"));
      }
      std::vector<Expr> options;
      for (const std::string& c : params.choices) options.push_back(Literal(c));
      return SingleRuleGrammar(Alt(std::move(options)));
    }
    case StructuredOutputParams::Kind::kJsonSchema:
      return JsonSchemaToGrammar(params.text, field);
    case StructuredOutputParams::Kind::kGrammar:
      return ParseGbnf(params.text, field);
  }
  return absl::InvalidArgumentError(absl::StrCat(field, ": unknown kind"));
}

}  // namespace llmserve::structured
