#ifndef LLMSERVE_CLI_CLI_FLAGS_H_
#define LLMSERVE_CLI_CLI_FLAGS_H_

// Header-only helper shared by the `llmserve` and `llmserve-client` mains
// (link absl::flags_reflection).

#include <string>
#include <utility>
#include <vector>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"

namespace llmserve::cli {

/// Abseil flags are C++ identifiers (`max_tokens`); this lets users also spell
/// them with dashes (`--max-tokens=5`, `--max-tokens 5`, `--no-ignore-eos`).
/// Returns a copy of argv in which every flag argument whose dashed name maps
/// to a registered flag is rewritten with underscores; everything else (values,
/// positional arguments, anything after a bare "--") is left alone. Parsing
/// itself stays with absl::ParseCommandLine.
inline std::vector<std::string> UnderscoreFlagNames(int argc, char** argv) {
  std::vector<std::string> out(argv, argv + argc);
  bool skip_value = false;
  for (size_t i = 1; i < out.size(); ++i) {
    std::string& arg = out[i];
    if (skip_value) {
      skip_value = false;
      continue;
    }
    if (arg == "--") break;
    if (arg.size() < 2 || arg[0] != '-') continue;
    const size_t dashes = arg[1] == '-' ? 2 : 1;
    const size_t eq = arg.find('=');
    std::string name = arg.substr(dashes, eq == std::string::npos ? std::string::npos : eq - dashes);
    for (char& c : name) {
      if (c == '-') c = '_';
    }
    const absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    bool is_negated_bool = false;
    if (flag == nullptr && absl::StartsWith(name, "no")) {
      flag = absl::FindCommandLineFlag(absl::string_view(name).substr(2));
      is_negated_bool = flag != nullptr;
    }
    if (flag == nullptr) continue;
    arg = arg.substr(0, dashes) + name + (eq == std::string::npos ? "" : arg.substr(eq));
    // A non-boolean flag given as "--flag value": its value is the next argument.
    const bool is_bool = flag->IsOfType<bool>();
    if (eq == std::string::npos && !is_bool && !is_negated_bool) skip_value = true;
  }
  return out;
}

/// Sets the program's usage message and makes --help list the flags defined
/// in files whose path ends with one of `flag_files` (e.g. "server/main.cc",
/// "client/generation_flags.cc").
inline void SetUsage(absl::string_view usage, std::vector<std::string> flag_files) {
  absl::SetProgramUsageMessage(usage);
  absl::FlagsUsageConfig config;
  config.contains_help_flags = [flag_files](absl::string_view path) {
    for (const std::string& f : flag_files) {
      if (absl::EndsWith(path, f)) return true;
    }
    return false;
  };
  config.contains_helpshort_flags = config.contains_help_flags;
  absl::SetFlagsUsageConfig(config);
}

/// SetUsage for a program whose flags are all defined in `main_file`.
inline void SetUsage(absl::string_view usage, std::string main_file) {
  SetUsage(usage, std::vector<std::string>{std::move(main_file)});
}

/// argv-style pointers into `args` (valid while `args` lives).
inline std::vector<char*> ArgvPointers(std::vector<std::string>& args) {
  std::vector<char*> ptrs;
  ptrs.reserve(args.size() + 1);
  for (std::string& a : args) ptrs.push_back(a.data());
  ptrs.push_back(nullptr);
  return ptrs;
}

/// Parses the command line with Abseil (dashed flag names accepted, see
/// UnderscoreFlagNames); exits on a bad flag or --help as Abseil does.
/// Returns the positional arguments, argv[0] first.
inline std::vector<std::string> ParseFlags(int argc, char** argv) {
  std::vector<std::string> args = UnderscoreFlagNames(argc, argv);
  std::vector<char*> ptrs = ArgvPointers(args);
  std::vector<char*> positional = absl::ParseCommandLine(static_cast<int>(args.size()), ptrs.data());
  return std::vector<std::string>(positional.begin(), positional.end());
}

}  // namespace llmserve::cli

#endif  // LLMSERVE_CLI_CLI_FLAGS_H_
