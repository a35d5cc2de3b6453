// Fault: SIGTERM under full load on the real llmserve binary. 32 closed-loop
// clients keep the server saturated with streamed and unary greedy requests
// of mixed lengths (each with its own request_id) — 8 running in the batch
// (--max-num-seqs 8), the rest waiting in the queue — and SIGTERM arrives
// while all 32 are in flight. Every call ends OK with all its tokens or with
// UNAVAILABLE (in flight past the drain timeout, or refused once the server
// stopped listening) — no other status, nothing lost: the server's request
// log has exactly one line per call that reached it, with the status the
// client saw. One exception, counted and printed: a call that was on the wire
// when gRPC's own shutdown (GOAWAY) began, and that gRPC dropped before
// handing it to the service, ends CANCELLED on the client (gRPC 1.51's
// behaviour; no log line, nothing computed). The process exits 0 within --drain-timeout plus the
// shutdown grace (and a generous margin for a loaded machine). Run with a drain timeout of 2 s
// (calls in flight mostly finish) and of 0 (they are cut at once: UNAVAILABLE "server draining").

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "llmserve/v1/generation.grpc.pb.h"
#include "tests/server/server_process.h"
#include "tests/test_util.h"

namespace llmserve::server {
namespace {

using ::llmserve::testing::ProcessExit;
using ::llmserve::testing::ServerProcess;
using ::testing::HasSubstr;

constexpr int kClients = 32;
constexpr int kGraceSeconds = 5;

/// What a client saw of one call.
struct CallOutcome {
  grpc::StatusCode code = grpc::StatusCode::UNKNOWN;
  std::string message;
  int tokens = 0;
  int max_tokens = 0;
  bool streamed_before_sigterm = false;  ///< a message arrived before SIGTERM was sent
  bool ended_after_sigterm = false;      ///< its status came after SIGTERM was sent
};

/// request id → status name, from the server's request-log lines.
std::map<std::string, std::string> LoggedStatuses(const std::string& log, int* duplicates) {
  std::map<std::string, std::string> statuses;
  for (absl::string_view line : absl::StrSplit(log, '\n')) {
    const size_t id = line.find(" id=load-");
    const size_t status = line.find(" status=");
    if (id == absl::string_view::npos || status == absl::string_view::npos) continue;
    const size_t id_end = line.find(' ', id + 4);
    const std::string key(line.substr(id + 4, id_end - (id + 4)));
    const size_t status_end = line.find(' ', status + 8);
    if (!statuses.emplace(key, std::string(line.substr(status + 8, status_end - (status + 8))))
             .second) {
      ++*duplicates;
    }
  }
  return statuses;
}

/// The parameter: --drain-timeout in seconds.
class SigtermUnderLoadFaultTest : public ::testing::TestWithParam<int> {};

TEST_P(SigtermUnderLoadFaultTest, EveryCallFinishesOrGetsUnavailableAndTheServerExitsZero) {
  const int kDrainSeconds = GetParam();
  const std::string dir = llmserve::testing::MakeTempDir("llmserve_sigterm_load");
  // Removed however the test ends (after the server process, declared below, is gone).
  struct RemoveDir {
    std::string path;
    ~RemoveDir() { std::filesystem::remove_all(path); }
  } remove_dir{dir};
  ServerProcess server;
  ASSERT_TRUE(
      server.Start({"--model", llmserve::testing::SharedPath("models/stories260K/stories260K.bin"),
                    "--listen", "127.0.0.1:0", "--metrics-address=127.0.0.1:0", "--threads=1",
                    absl::StrCat("--drain-timeout=", kDrainSeconds),
                    absl::StrCat("--shutdown-grace=", kGraceSeconds, "s"),
                    "--max-queued-requests=100000", "--max-num-seqs=8"},
                   dir + "/server.log"));
  const std::optional<std::string> address = server.WaitForAddress();
  ASSERT_TRUE(address.has_value()) << server.Log();

  std::atomic<bool> sigterm_sent{false};
  std::atomic<int> next_id{0};
  std::mutex mu;
  std::map<std::string, CallOutcome> outcomes;  // by request id
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      // 4 channels (HTTP/2 connections) shared by the clients.
      auto channel = grpc::CreateCustomChannel(*address, grpc::InsecureChannelCredentials(), [c] {
        grpc::ChannelArguments args;
        args.SetInt("llmserve_channel", c % 4);
        return args;
      }());
      auto stub = v1::Generation::NewStub(channel);
      std::mt19937 rng(c);
      while (true) {
        const std::string id = absl::StrCat("load-", next_id++);
        v1::GenerateRequest request;
        request.set_request_id(id);
        request.set_text(c % 3 == 0 ? "Once upon a time" : "Tom and his dog");
        CallOutcome outcome;
        outcome.max_tokens = std::uniform_int_distribution<int>(8, 480)(rng);
        request.mutable_sampling_params()->set_max_tokens(outcome.max_tokens);
        request.mutable_sampling_params()->set_temperature(0);
        request.mutable_sampling_params()->set_ignore_eos(true);
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(300));
        grpc::Status status;
        if (c % 2 == 0) {
          auto reader = stub->GenerateStream(&context, request);
          v1::GenerateStreamResponse message;
          while (reader->Read(&message)) {
            if (!sigterm_sent) outcome.streamed_before_sigterm = true;
            outcome.tokens += message.token_ids_size();
          }
          status = reader->Finish();
        } else {
          v1::GenerateResponse response;
          status = stub->Generate(&context, request, &response);
          outcome.tokens = response.token_ids_size();
        }
        outcome.code = status.error_code();
        outcome.ended_after_sigterm = sigterm_sent;
        outcome.message = status.error_message();
        const bool refused_after_sigterm =
            sigterm_sent && status.error_code() == grpc::StatusCode::UNAVAILABLE;
        {
          std::lock_guard<std::mutex> lock(mu);
          outcomes[id] = outcome;
        }
        // Stop once the server no longer takes calls (or on an unexpected error).
        if (refused_after_sigterm || (!status.ok() && !sigterm_sent)) return;
        if (sigterm_sent && status.ok()) continue;  // the drain may still take it
      }
    });
  }

  // Full load: every client has a call in flight and, on average, one behind
  // it. Up to 120 s: a sanitizer build on a busy host is that slow.
  bool loaded = false;
  for (int i = 0; i < 12000 && !loaded; ++i) {
    {
      std::lock_guard<std::mutex> lock(mu);
      loaded = next_id >= 2 * kClients;
    }
    if (!loaded) absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_TRUE(loaded) << "the clients made no progress";  // no ASSERT: the clients must be joined
  const absl::Time sigterm_at = absl::Now();
  sigterm_sent = true;
  EXPECT_TRUE(server.Signal(SIGTERM));
  const ProcessExit exit = server.WaitForExit(absl::Seconds(kDrainSeconds + kGraceSeconds + 60));
  const absl::Duration exit_after = absl::Now() - sigterm_at;
  for (std::thread& t : clients) t.join();

  EXPECT_TRUE(exit.exited && exit.code == 0) << exit.Describe() << "\n" << server.Log();
  EXPECT_LE(exit_after, absl::Seconds(kDrainSeconds + kGraceSeconds + 30))
      << "took " << exit_after << " to exit";
  const std::string log = server.Log();
  EXPECT_THAT(log, HasSubstr("SIGTERM received"));
  EXPECT_THAT(log, HasSubstr("llmserve: stopped"));

  int duplicates = 0;
  const std::map<std::string, std::string> logged = LoggedStatuses(log, &duplicates);
  EXPECT_EQ(duplicates, 0) << "a call was logged twice";
  int ok = 0, unavailable = 0, cut_by_drain = 0, in_flight_at_sigterm = 0, lost_to_goaway = 0;
  for (const auto& [id, outcome] : outcomes) {
    in_flight_at_sigterm += outcome.streamed_before_sigterm;
    auto it = logged.find(id);
    if (outcome.code == grpc::StatusCode::OK) {
      ++ok;
      EXPECT_EQ(outcome.tokens, outcome.max_tokens) << id << " finished short";
      ASSERT_NE(it, logged.end()) << id << " succeeded but is not in the server's log";
      EXPECT_EQ(it->second, "OK") << id;
    } else if (outcome.code == grpc::StatusCode::UNAVAILABLE) {
      ++unavailable;
      if (it != logged.end()) {  // reached the server: cancelled by the drain timeout
        ++cut_by_drain;
        EXPECT_EQ(it->second, "UNAVAILABLE") << id;
        EXPECT_THAT(outcome.message, HasSubstr("draining")) << id;
      }
    } else if (outcome.code == grpc::StatusCode::CANCELLED && it == logged.end() &&
               outcome.ended_after_sigterm && !outcome.streamed_before_sigterm) {
      // Known, not fixed here: a call whose stream reached the connection as
      // grpc::Server::Shutdown began (GOAWAY) but before gRPC handed it to the
      // service is dropped by gRPC itself, and the client sees CANCELLED; it
      // never reached the service, so nothing of it was computed or lost.
      ++lost_to_goaway;
    } else {
      ADD_FAILURE() << id << " ended with " << outcome.code << ": " << outcome.message
                    << " (server's log: " << (it != logged.end() ? it->second : "no entry")
                    << (outcome.streamed_before_sigterm ? ", streaming before SIGTERM)" : ")");
    }
  }
  // The server logged nothing the clients did not see the same way.
  for (const auto& [id, status] : logged) {
    EXPECT_TRUE(outcomes.count(id)) << id << " logged by the server, unknown to the clients";
  }
  EXPECT_EQ(static_cast<int>(outcomes.size()), ok + unavailable + lost_to_goaway);
  // At most one per client: the call it had on the wire when GOAWAY came.
  EXPECT_LE(lost_to_goaway, kClients);
  EXPECT_GT(ok, 0);
  EXPECT_GT(in_flight_at_sigterm, 0) << "no stream was in flight at SIGTERM";
  if (kDrainSeconds == 0) EXPECT_GT(cut_by_drain, 0) << "no call in flight was cut at once";
  std::printf(
      "calls %zu: %d OK, %d UNAVAILABLE (%d cut by the drain timeout), %d CANCELLED by gRPC "
      "racing its GOAWAY; exited after %s\n",
      outcomes.size(), ok, unavailable, cut_by_drain, lost_to_goaway,
      absl::FormatDuration(exit_after).c_str());
}

INSTANTIATE_TEST_SUITE_P(DrainTimeouts, SigtermUnderLoadFaultTest, ::testing::Values(2, 0),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return absl::StrCat("Drain", info.param, "s");
                         });

}  // namespace
}  // namespace llmserve::server
