#include "client/bench/channel.h"

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace llmserve::bench {

absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

absl::StatusOr<std::vector<std::shared_ptr<grpc::Channel>>> MakeChannels(
    const ChannelOptions& options, int count) {
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  const bool tls = options.tls || !options.tls_ca.empty() || !options.tls_cert.empty() ||
                   !options.tls_key.empty();
  if (tls) {
    if (options.tls_cert.empty() != options.tls_key.empty()) {
      return absl::InvalidArgumentError("--tls-cert and --tls-key must be given together");
    }
    grpc::SslCredentialsOptions ssl;
    for (auto [path, out] : {std::pair{&options.tls_ca, &ssl.pem_root_certs},
                             {&options.tls_cert, &ssl.pem_cert_chain},
                             {&options.tls_key, &ssl.pem_private_key}}) {
      if (path->empty()) continue;
      absl::StatusOr<std::string> contents = ReadWholeFile(*path);
      if (!contents.ok()) return contents.status();
      *out = *std::move(contents);
    }
    credentials = grpc::SslCredentials(ssl);
  }
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int i = 0; i < std::max(1, count); ++i) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("llmserve.bench.connection", i);
    if (!options.tls_server_name.empty()) args.SetSslTargetNameOverride(options.tls_server_name);
    channels.push_back(grpc::CreateCustomChannel(options.address, credentials, args));
  }
  return channels;
}

absl::StatusOr<std::string> LoadAuthToken(const std::string& token,
                                          const std::string& token_file) {
  if (token_file.empty()) return token;
  if (!token.empty()) {
    return absl::InvalidArgumentError("give --auth-token or --auth-token-file, not both");
  }
  absl::StatusOr<std::string> contents = ReadWholeFile(token_file);
  if (!contents.ok()) return contents.status();
  std::string result(absl::StripAsciiWhitespace(*contents));
  if (result.empty()) return absl::InvalidArgumentError(absl::StrCat(token_file, " is empty"));
  return result;
}

}  // namespace llmserve::bench
