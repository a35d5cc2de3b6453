#ifndef LLMSERVE_TESTS_SERVER_STRUCTURED_OUTPUT_CALLS_H_
#define LLMSERVE_TESTS_SERVER_STRUCTURED_OUTPUT_CALLS_H_

// Helpers of the structured-output server tests (issue #23): requests with a
// constraint, many calls at once (so constrained sequences share steps), and
// validation of JSON outputs against their schemas by Debian's
// python3-jsonschema (tests/server/validate_structured_outputs.py), all
// outputs in one /usr/bin/python3 run. Header-only.

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "llmserve/v1/generation.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "tests/test_util.h"

namespace llmserve::testing {

/// A constraint of each kind.
inline v1::StructuredOutput JsonSchemaConstraint(const std::string& schema) {
  v1::StructuredOutput so;
  so.set_json_schema(schema);
  return so;
}
inline v1::StructuredOutput RegexConstraint(const std::string& regex) {
  v1::StructuredOutput so;
  so.set_regex(regex);
  return so;
}
inline v1::StructuredOutput ChoiceConstraint(const std::vector<std::string>& choices) {
  v1::StructuredOutput so;
  v1::StructuredOutput::Choice* choice = so.mutable_choice();  // set even when empty
  for (const std::string& c : choices) choice->add_choices(c);
  return so;
}

/// A text prompt with `constraint` (none when unset), temperature and seed.
inline v1::GenerateRequest ConstrainedRequest(const std::string& prompt,
                                              const std::optional<v1::StructuredOutput>& constraint,
                                              float temperature, uint64_t seed, int max_tokens) {
  v1::GenerateRequest r;
  r.set_text(prompt);
  v1::SamplingParams* p = r.mutable_sampling_params();
  p->set_temperature(temperature);
  p->set_seed(seed);
  p->set_max_tokens(max_tokens);
  if (constraint.has_value()) *p->mutable_structured_output() = *constraint;
  return r;
}

/// One finished call.
struct CallResult {
  grpc::Status status;
  v1::GenerateResponse response;
};

/// Runs every request as a unary Generate call, `parallel` at a time (so the
/// engine batches them), and returns the results in request order.
inline std::vector<CallResult> GenerateAll(v1::Generation::Stub& stub,
                                           const std::vector<v1::GenerateRequest>& requests,
                                           int parallel = 16) {
  std::vector<CallResult> results(requests.size());
  ForEachIndexInParallel(requests.size(), parallel, [&](std::size_t i) {
    grpc::ClientContext context;
    results[i].status = stub.Generate(&context, requests[i], &results[i].response);
  });
  return results;
}

/// One output to check against a schema file.
struct SchemaCase {
  std::string id;
  std::string schema_file;
  std::string output;
};

/// Validates every case with python3-jsonschema in one run; returns, per id,
/// "" when the output is JSON valid against its schema, else the reason.
/// Fails the test (and returns an empty map) if the validator cannot run.
inline std::map<std::string, std::string> ValidateWithJsonSchema(const std::vector<SchemaCase>& cases) {
  nlohmann::json input = nlohmann::json::array();
  for (const SchemaCase& c : cases) {
    input.push_back({{"id", c.id}, {"schema_file", c.schema_file}, {"output", c.output}});
  }
  const std::string dir = MakeTempDir("llmserve-structured");
  const std::string path = dir + "/cases.json";
  if (!WriteFile(path, input.dump())) {
    ADD_FAILURE() << "cannot write " << path;
    return {};
  }
  const CommandResult run = RunBounded(
      "/usr/bin/python3 " + SourcePath("tests/server/validate_structured_outputs.py") + " " + path,
      120);
  std::filesystem::remove_all(dir);
  if (run.exit_code != 0) {
    ADD_FAILURE() << "the validator failed (exit " << run.exit_code
                  << "; is python3-jsonschema installed? scripts/install-deps.sh): " << run.out;
    return {};
  }
  const nlohmann::json out = nlohmann::json::parse(run.out, nullptr, /*allow_exceptions=*/false);
  if (!out.is_object()) {
    ADD_FAILURE() << "validator output is not a JSON object: " << run.out;
    return {};
  }
  std::map<std::string, std::string> verdicts;
  for (const auto& [id, verdict] : out.items()) {
    verdicts[id] = verdict.is_null() ? "" : verdict.get<std::string>();
  }
  return verdicts;
}

/// The schema files of the corpus (tests/structured_schemas/*.json), sorted.
inline std::vector<std::string> SchemaCorpus() {
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(SourcePath("tests/structured_schemas"))) {
    if (e.path().extension() == ".json") files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace llmserve::testing

#endif  // LLMSERVE_TESTS_SERVER_STRUCTURED_OUTPUT_CALLS_H_
