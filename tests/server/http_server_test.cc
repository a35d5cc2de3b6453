// The OpenAI-compatible HTTP front (server/http) on the real engine serving
// stories260K in process: response shapes, greedy text against the golden
// file, streaming, the OpenAI error statuses, 400 concurrent SSE streams on a
// bounded thread count, a client disconnecting mid-stream, a slow client,
// keep-alive and the drain.


#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "engine/llm_engine.h"
#include "server/metrics.h"
#include "server/server_app.h"
#include "tests/server/http_client.h"
#include "tests/server/metrics_scrape.h"
#include "tests/test_util.h"

namespace llmserve::server {
namespace {

using llmserve::testing::HttpConnection;
using llmserve::testing::HttpReply;
using llmserve::testing::HttpRequest;
using llmserve::testing::SseData;
using nlohmann::json;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;

using llmserve::testing::ThreadsOfThisProcess;

class HttpServerTest : public ::testing::Test {
 protected:
  void StartServer(const std::function<void(EngineOptions&, ServerOptions&)>& customize = nullptr) {
    EngineOptions options;
    options.model_path = llmserve::testing::SharedPath("models/stories260K/stories260K.bin");
    options.num_threads = 1;
    ServerOptions server_options;
    server_options.listen_address = "127.0.0.1:0";
    server_options.http.listen_address = "127.0.0.1:0";
    server_options.service.logger = [](const RequestLogEntry&) {};
    if (customize) customize(options, server_options);
    metrics_ = std::make_shared<Metrics>();
    auto engine = LLMEngine::Create(options, metrics_.get());
    ASSERT_TRUE(engine.ok()) << engine.status();
    auto app = ServerApp::Start(*std::move(engine), server_options, metrics_);
    ASSERT_TRUE(app.ok()) << app.status();
    app_ = *std::move(app);
    port_ = app_->http_port();
    ASSERT_GT(port_, 0);
  }
  void TearDown() override { app_.reset(); }

  HttpReply Post(const std::string& target, const json& body,
                 const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    return HttpRequest(port_, "POST", target, body.dump(), headers);
  }

  /// Waits (bounded) until the engine holds nothing and no HTTP call is open.
  bool WaitForIdle() {
    for (int i = 0; i < 6000; ++i) {
      const EngineStats stats = app_->engine().GetStats();
      if (stats.num_running == 0 && stats.num_waiting == 0 && stats.num_kv_blocks_used == 0 &&
          app_->http_server()->active_calls() == 0) {
        return true;
      }
      absl::SleepFor(absl::Milliseconds(10));
    }
    return false;
  }

  std::shared_ptr<Metrics> metrics_;
  std::unique_ptr<ServerApp> app_;
  int port_ = 0;
};

/// Golden greedy cases: prompt ids and the first `max_tokens` golden ids
/// (cut before an id generation would stop at: BOS 1 for run.c, EOS 2 here).
struct GoldenCase {
  std::vector<int32_t> prompt;
  std::vector<int32_t> completion;
};
std::vector<GoldenCase> GoldenCases(size_t max_tokens) {
  const json golden = llmserve::testing::ReadJsonFile(
      llmserve::testing::SharedPath("reference/stories260K-greedy.json"));
  std::vector<GoldenCase> out;
  for (const json& c : golden["cases"]) {
    GoldenCase g;
    g.prompt = c["prompt_token_ids"].get<std::vector<int32_t>>();
    for (int32_t id : c["greedy_completion_token_ids"]) {
      if (id == 1 || id == 2 || g.completion.size() == max_tokens) break;
      g.completion.push_back(id);
    }
    if (!g.completion.empty()) out.push_back(std::move(g));
  }
  return out;
}

TEST_F(HttpServerTest, GreedyCompletionsEqualTheGoldenTextStreamedOrNot) {
  StartServer();
  const std::vector<GoldenCase> cases = GoldenCases(24);
  ASSERT_GE(cases.size(), 3u);
  const Tokenizer& tokenizer = app_->engine().tokenizer();
  for (const GoldenCase& c : cases) {
    // The completion's text after its prompt (a token's text depends on its
    // predecessor: llama2.c drops the space of a piece after BOS).
    std::vector<int32_t> all = c.prompt;
    all.insert(all.end(), c.completion.begin(), c.completion.end());
    const std::string prompt_text = tokenizer.Decode(c.prompt);
    const std::string expected = tokenizer.Decode(all).substr(prompt_text.size());
    const json request = {{"model", "stories260K"},
                          {"prompt", c.prompt},
                          {"max_tokens", c.completion.size()},
                          {"temperature", 0}};
    const HttpReply reply = Post("/v1/completions", request);
    ASSERT_EQ(reply.status, 200) << reply.body << reply.error;
    const json body = json::parse(reply.body);
    EXPECT_EQ(body["object"], "text_completion");
    EXPECT_EQ(body["model"], "stories260K");
    EXPECT_EQ(body["choices"][0]["text"], expected);
    EXPECT_EQ(body["choices"][0]["finish_reason"], "length");
    EXPECT_EQ(body["usage"]["prompt_tokens"], c.prompt.size());
    EXPECT_EQ(body["usage"]["completion_tokens"], c.completion.size());
    EXPECT_EQ(body["usage"]["total_tokens"], c.prompt.size() + c.completion.size());
    EXPECT_TRUE(body["usage"]["prompt_tokens_details"]["cached_tokens"].is_number());

    json stream_request = request;
    stream_request["stream"] = true;
    stream_request["stream_options"] = {{"include_usage", true}};
    const HttpReply streamed = Post("/v1/completions", stream_request);
    ASSERT_EQ(streamed.status, 200) << streamed.body;
    EXPECT_EQ(streamed.headers[bhttp::field::content_type], "text/event-stream");
    const std::vector<std::string> events = SseData(streamed.body);
    ASSERT_GE(events.size(), 3u);
    EXPECT_EQ(events.back(), "[DONE]");
    std::string text;
    for (size_t i = 0; i + 2 < events.size(); ++i) {
      const json chunk = json::parse(events[i]);
      EXPECT_EQ(chunk["object"], "text_completion");
      text += chunk["choices"][0]["text"].get<std::string>();
      EXPECT_EQ(chunk["choices"][0]["finish_reason"].is_null(), i + 3 < events.size());
    }
    EXPECT_EQ(text, expected);
    const json usage = json::parse(events[events.size() - 2]);
    EXPECT_TRUE(usage["choices"].empty());
    EXPECT_EQ(usage["usage"]["completion_tokens"], c.completion.size());
  }
}

TEST_F(HttpServerTest, ModelsHealthKeepAliveAndNWithLogprobs) {
  StartServer();
  HttpConnection connection(port_);
  const HttpReply health = connection.Request("GET", "/health");
  EXPECT_EQ(health.status, 200);
  const HttpReply models = connection.Request("GET", "/v1/models");
  ASSERT_EQ(models.status, 200);
  EXPECT_EQ(json::parse(models.body)["data"][0]["id"], "stories260K");
  // Same connection again (keep-alive): n = 2 greedy completions with logprobs.
  const HttpReply reply = connection.Request(
      "POST", "/v1/completions",
      json{{"prompt", "Once upon a time"}, {"max_tokens", 4}, {"temperature", 0}, {"n", 2},
           {"logprobs", 2}}
          .dump());
  ASSERT_EQ(reply.status, 200) << reply.body << reply.error;
  const json body = json::parse(reply.body);
  ASSERT_EQ(body["choices"].size(), 2u);
  for (const json& choice : body["choices"]) {
    const json& lp = choice["logprobs"];
    ASSERT_EQ(lp["tokens"].size(), 4u);
    std::string joined;
    for (size_t i = 0; i < 4; ++i) {
      joined += lp["tokens"][i].get<std::string>();
      EXPECT_LE(lp["token_logprobs"][i].get<double>(), 0.0);
      EXPECT_EQ(lp["top_logprobs"][i].size(), 2u);
      // Greedy: the chosen token is the most likely one.
      double best = -1e30;
      for (const auto& [token, logprob] : lp["top_logprobs"][i].items()) {
        best = std::max(best, logprob.get<double>());
      }
      EXPECT_DOUBLE_EQ(best, lp["token_logprobs"][i].get<double>());
    }
    EXPECT_EQ(joined, choice["text"]);
  }
  EXPECT_EQ(body["usage"]["completion_tokens"], 8);
  // Stop string.
  const HttpReply stopped = connection.Request(
      "POST", "/v1/completions",
      json{{"prompt", "Once upon a time"}, {"max_tokens", 30}, {"temperature", 0}, {"stop", "girl"}}
          .dump());
  ASSERT_EQ(stopped.status, 200);
  const json stop_body = json::parse(stopped.body);
  EXPECT_EQ(stop_body["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(stop_body["choices"][0]["text"], ", there was a little ");
}

TEST_F(HttpServerTest, ErrorsHaveOpenAIShapeAndStatus) {
  StartServer([](EngineOptions&, ServerOptions& s) { s.http.max_request_bytes = 1 << 20; });
  auto expect_error = [](const HttpReply& reply, int status, const std::string& message_part,
                         const json& param) {
    ASSERT_EQ(reply.status, status) << reply.body << reply.error;
    const json body = json::parse(reply.body);
    ASSERT_TRUE(body["error"].is_object()) << reply.body;
    EXPECT_NE(body["error"]["message"].get<std::string>().find(message_part), std::string::npos)
        << reply.body;
    EXPECT_TRUE(body["error"]["type"].is_string());
    EXPECT_EQ(body["error"]["param"], param) << reply.body;
    EXPECT_TRUE(body["error"].contains("code"));
  };
  // The engine validator's own message, as gRPC gives it.
  expect_error(Post("/v1/completions", {{"prompt", "Once"}, {"top_p", 0}}), 400,
               "sampling_params.top_p must be in (0, 1], got 0", "top_p");
  expect_error(Post("/v1/completions", {{"prompt", {1, 100000}}}), 400, "vocab_size", "prompt");
  expect_error(Post("/v1/completions", {{"prompt", "Once"}, {"temperature", "hot"}}), 400,
               "temperature must be a number, got string", "temperature");
  expect_error(Post("/v1/completions", {{"prompt", "Once"}, {"max_tokens", 100000}}), 400,
               "max_tokens", "max_tokens");
  expect_error(HttpRequest(port_, "POST", "/v1/completions", "{\"prompt\": \"Once"), 400,
               "not valid JSON", nullptr);
  expect_error(HttpRequest(port_, "POST", "/v1/completions", std::string(100, '[')), 400,
               "deeper than", nullptr);
  expect_error(Post("/v1/chat/completions", {{"messages", {{{"role", "user"}, {"content", "hi"}}}}}),
               400, "no chat template", "messages");
  expect_error(Post("/v1/completions", {{"model", "gpt-4"}, {"prompt", "Once"}}), 404,
               "gpt-4", "model");
  expect_error(HttpRequest(port_, "GET", "/v2/nothing"), 404, "no such endpoint", nullptr);
  // A 10 MB string: refused from the header's length, nothing parsed.
  expect_error(Post("/v1/completions", {{"prompt", std::string(10 << 20, 'a')}}), 413,
               "--max-request-bytes", nullptr);
  // The server is fine afterwards.
  EXPECT_EQ(Post("/v1/completions", {{"prompt", "Once"}, {"max_tokens", 2}}).status, 200);
  const llmserve::testing::Scrape scrape(app_->metrics().SerializeText());
  EXPECT_EQ(scrape.Value("llmserve_request_failure_total",
                         {{"api", "http"}, {"code", "INVALID_ARGUMENT"}}),
            7);
  EXPECT_EQ(scrape.Value("llmserve_request_success_total",
                         {{"api", "http"}, {"finish_reason", "length"}}),
            1);
  EXPECT_EQ(scrape.Value("llmserve_request_success_total", {{"api", "grpc"}}), 0);
}

TEST_F(HttpServerTest, BearerTokenIsRequiredExceptForHealth) {
  const std::string dir = llmserve::testing::MakeTempDir("http_auth");
  const std::string token_file = dir + "/token";
  ASSERT_TRUE(llmserve::testing::WriteFile(token_file, "s3cret\n"));
  StartServer([&](EngineOptions&, ServerOptions& s) { s.auth_token_file = token_file; });
  EXPECT_EQ(HttpRequest(port_, "GET", "/health").status, 200);
  const HttpReply missing = Post("/v1/completions", {{"prompt", "Once"}});
  EXPECT_EQ(missing.status, 401);
  EXPECT_EQ(json::parse(missing.body)["error"]["type"], "authentication_error");
  EXPECT_EQ(Post("/v1/completions", {{"prompt", "Once"}}, {{"Authorization", "Bearer wrong"}}).status,
            401);
  EXPECT_EQ(HttpRequest(port_, "GET", "/v1/models").status, 401);
  EXPECT_EQ(Post("/v1/completions", {{"prompt", "Once"}, {"max_tokens", 2}},
                 {{"Authorization", "Bearer s3cret"}})
                .status,
            200);
  llmserve::testing::RunCommand("rm -rf " + dir);
}

TEST_F(HttpServerTest, QueueFullIs429WithRetryAfter) {
  StartServer([](EngineOptions& e, ServerOptions&) { e.max_queued_requests = 1; });
  app_->engine().SetSchedulingPausedForTesting(true);
  // The first request waits in the queue (scheduling paused) on its own thread.
  std::thread first([&] {
    EXPECT_EQ(Post("/v1/completions", {{"prompt", "Once"}, {"max_tokens", 2}}).status, 200);
  });
  while (app_->engine().GetStats().num_waiting == 0) absl::SleepFor(absl::Milliseconds(5));
  const HttpReply refused = Post("/v1/completions", {{"prompt", "Once"}, {"max_tokens", 2}});
  EXPECT_EQ(refused.status, 429) << refused.body;
  EXPECT_EQ(refused.headers[bhttp::field::retry_after], "1");
  EXPECT_EQ(json::parse(refused.body)["error"]["type"], "rate_limit_error");
  app_->engine().SetSchedulingPausedForTesting(false);
  first.join();
}

TEST_F(HttpServerTest, DrainRefusesNewRequestsWith503AndFinishesRunningOnes) {
  StartServer();
  app_->engine().SetSchedulingPausedForTesting(true);
  HttpReply running;
  std::thread first([&] {
    running = Post("/v1/completions",
                   {{"prompt", "Once"}, {"max_tokens", 4}, {"stream", true}, {"ignore_eos", true}});
  });
  while (app_->http_server()->active_calls() == 0) absl::SleepFor(absl::Milliseconds(5));
  std::thread drain([&] { app_->Shutdown(absl::Seconds(60)); });
  while (app_->serving()) absl::SleepFor(absl::Milliseconds(5));
  const HttpReply refused = Post("/v1/completions", {{"prompt", "Once"}, {"max_tokens", 2}});
  EXPECT_EQ(refused.status, 503) << refused.body;
  EXPECT_EQ(HttpRequest(port_, "GET", "/health").status, 503);
  app_->engine().SetSchedulingPausedForTesting(false);
  first.join();
  drain.join();
  EXPECT_EQ(running.status, 200);
  const std::vector<std::string> events = SseData(running.body);
  ASSERT_GE(events.size(), 2u);
  EXPECT_EQ(events.back(), "[DONE]");
  EXPECT_EQ(json::parse(events[events.size() - 2])["choices"][0]["finish_reason"], "length");
}

/// An asynchronous SSE client: `count` streams at once on one thread.
class StreamClients {
 public:
  StreamClients(int port, int count, const std::string& body) : port_(port) {
    for (int i = 0; i < count; ++i) streams_.push_back(std::make_unique<Stream>());
    for (auto& stream : streams_) {
      Stream& s = *stream;
      s.socket = std::make_unique<net::ip::tcp::socket>(io_);
      s.request = bhttp::request<bhttp::string_body>(bhttp::verb::post, "/v1/completions", 11);
      s.request.set(bhttp::field::host, "127.0.0.1");
      s.request.set(bhttp::field::content_type, "application/json");
      s.request.body() = body;
      s.request.prepare_payload();
      s.parser.body_limit(1 << 20);
    }
  }
  void Run() {
    for (auto& stream : streams_) {
      Stream& s = *stream;
      s.socket->async_connect(
          {net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port_)},
          [this, &s](beast::error_code ec) {
            if (ec) return Done(s, ec);
            bhttp::async_write(*s.socket, s.request, [this, &s](beast::error_code ec, size_t) {
              if (ec) return Done(s, ec);
              bhttp::async_read(*s.socket, s.buffer, s.parser,
                                [this, &s](beast::error_code ec, size_t) { Done(s, ec); });
            });
          });
    }
    io_.run();
  }
  struct Stream {
    std::unique_ptr<net::ip::tcp::socket> socket;
    bhttp::request<bhttp::string_body> request;
    beast::flat_buffer buffer;
    bhttp::response_parser<bhttp::string_body> parser;
    std::string error;
    bool done = false;
  };
  const std::vector<std::unique_ptr<Stream>>& streams() const { return streams_; }

 private:
  void Done(Stream& s, beast::error_code ec) {
    if (ec) s.error = ec.message();
    s.done = true;
  }
  int port_;
  net::io_context io_;
  std::vector<std::unique_ptr<Stream>> streams_;
};

TEST_F(HttpServerTest, FourHundredConcurrentSseStreamsOnAtMost64Threads) {
  constexpr int kStreams = 400;
  StartServer([](EngineOptions& e, ServerOptions&) {
    e.max_queued_requests = 1000;
    e.max_num_seqs = 64;
  });
  // Paused: every stream is admitted and open before any token is generated.
  app_->engine().SetSchedulingPausedForTesting(true);
  StreamClients clients(
      port_, kStreams,
      json{{"prompt", "Once upon a time"}, {"max_tokens", 8}, {"ignore_eos", true},
           {"temperature", 0}, {"stream", true}}
          .dump());
  std::thread client_thread([&] { clients.Run(); });
  int max_threads = 0;
  while (app_->http_server()->active_calls() < kStreams) {
    max_threads = std::max(max_threads, ThreadsOfThisProcess());
    absl::SleepFor(absl::Milliseconds(5));
  }
  max_threads = std::max(max_threads, ThreadsOfThisProcess());
  app_->engine().SetSchedulingPausedForTesting(false);
  while (app_->http_server()->active_calls() > 0) {
    max_threads = std::max(max_threads, ThreadsOfThisProcess());
    absl::SleepFor(absl::Milliseconds(5));
  }
  client_thread.join();
  // The whole test process: engine, gRPC, HTTP and the client thread.
  RecordProperty("max_threads", max_threads);
  std::printf("400 concurrent SSE streams: at most %d threads in the process\n", max_threads);
  EXPECT_LE(max_threads, 64);
  EXPECT_GT(max_threads, 0);
  for (const auto& stream : clients.streams()) {
    const auto& s = *stream;
    ASSERT_TRUE(s.error.empty()) << s.error;
    ASSERT_EQ(s.parser.get().result_int(), 200);
    const std::vector<std::string> events = SseData(s.parser.get().body());
    ASSERT_EQ(events.size(), 9u);  // 8 tokens, [DONE]
    EXPECT_EQ(events.back(), "[DONE]");
  }
  EXPECT_TRUE(WaitForIdle());
}

TEST_F(HttpServerTest, ClientDisconnectMidStreamFreesEverything) {
  StartServer();
  for (int round = 0; round < 3; ++round) {
    HttpConnection connection(port_);
    bhttp::request<bhttp::string_body> request(bhttp::verb::post, "/v1/completions", 11);
    request.set(bhttp::field::host, "127.0.0.1");
    request.body() = json{{"prompt", "Once upon a time"}, {"max_tokens", 400},
                          {"ignore_eos", true}, {"stream", true}}
                         .dump();
    request.prepare_payload();
    bhttp::write(connection.socket(), request);
    // Read until the first token's event has arrived, then hang up.
    std::string received;
    char data[4096];
    while (received.find("\"text\"") == std::string::npos) {
      beast::error_code ec;
      const size_t n = connection.socket().read_some(net::buffer(data), ec);
      ASSERT_FALSE(ec) << ec.message();
      received.append(data, n);
    }
    connection.socket().close();
  }
  EXPECT_TRUE(WaitForIdle());
  const llmserve::testing::Scrape scrape(app_->metrics().SerializeText());
  EXPECT_EQ(scrape.Value("llmserve_request_map_entries", {{"map", "http_calls"}}), 0);
  EXPECT_EQ(scrape.Value("llmserve_request_map_entries", {{"map", "engine_request_ids"}}), 0);
  EXPECT_EQ(scrape.Value("llmserve_request_map_entries", {{"map", "kv_block_tables"}}), 0);
  EXPECT_EQ(scrape.Value("llmserve_num_requests_running"), 0);
  EXPECT_EQ(scrape.Value("llmserve_request_failure_total", {{"api", "http"}, {"code", "CANCELLED"}}),
            3);
}

// A client that hangs up the moment it has read `data: [DONE]`, while the
// server's last writes of the stream may still be in flight (seen crashing
// the server: a write completion ran after the call had ended). 4 threads x
// 25 streams; the server must keep serving and free everything.
TEST_F(HttpServerTest, ClientClosingRightAfterDoneIsHarmless) {
  StartServer();
  const std::string body = json{{"prompt", "Once upon a time"}, {"max_tokens", 3},
                                {"ignore_eos", true}, {"stream", true}}
                               .dump();
  std::atomic<int> done_seen{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int round = 0; round < 25; ++round) {
        HttpConnection connection(port_);
        bhttp::request<bhttp::string_body> request(bhttp::verb::post, "/v1/completions", 11);
        request.set(bhttp::field::host, "127.0.0.1");
        request.body() = body;
        request.prepare_payload();
        beast::error_code ec;
        bhttp::write(connection.socket(), request, ec);
        if (ec) continue;
        std::string received;
        char data[4096];
        while (received.find("[DONE]") == std::string::npos) {
          const size_t n = connection.socket().read_some(net::buffer(data), ec);
          if (ec) break;
          received.append(data, n);
        }
        if (received.find("[DONE]") != std::string::npos) ++done_seen;
        connection.socket().close();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(done_seen.load(), 100);
  EXPECT_TRUE(WaitForIdle());
  EXPECT_EQ(HttpRequest(port_, "GET", "/health").status, 200);
  const llmserve::testing::Scrape scrape(app_->metrics().SerializeText());
  EXPECT_EQ(scrape.Value("llmserve_request_map_entries", {{"map", "http_calls"}}), 0);
  EXPECT_EQ(scrape.Value("llmserve_request_map_entries", {{"map", "engine_request_ids"}}), 0);
}

TEST_F(HttpServerTest, SlowClientIsClosedWithoutDelayingOthers) {
  StartServer([](EngineOptions&, ServerOptions& s) { s.http.request_timeout = absl::Seconds(1); });
  HttpConnection slow(port_);
  net::write(slow.socket(), net::buffer(std::string("POST /v1/completions HTTP/1.1\r\nHo")));
  // Another client is served while the slow one holds its connection.
  EXPECT_EQ(Post("/v1/completions", {{"prompt", "Once"}, {"max_tokens", 2}}).status, 200);
  // The slow client is disconnected (its read ends) instead of being waited for forever.
  char byte;
  beast::error_code ec;
  slow.socket().read_some(net::buffer(&byte, 1), ec);
  EXPECT_TRUE(ec == net::error::eof || ec == net::error::connection_reset) << ec.message();
}

/// A TLS client's POST of a short completion to 127.0.0.1:port, trusting
/// `ca_file`, presenting `cert`/`key` when given: the status, or the error.
std::string TlsPost(int port, const std::string& ca_file, const std::string& cert = "",
                    const std::string& key = "") {
  net::io_context io;
  net::ssl::context context(net::ssl::context::tls_client);
  context.load_verify_file(ca_file);
  context.set_verify_mode(net::ssl::verify_peer);
  if (!cert.empty()) {
    context.use_certificate_chain_file(cert);
    context.use_private_key_file(key, net::ssl::context::pem);
  }
  net::ssl::stream<net::ip::tcp::socket> stream(io, context);
  beast::error_code ec;
  stream.next_layer().connect(
      {net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)}, ec);
  if (!ec) stream.handshake(net::ssl::stream_base::client, ec);
  if (ec) return "handshake: " + ec.message();
  bhttp::request<bhttp::string_body> request(bhttp::verb::post, "/v1/completions", 11);
  request.set(bhttp::field::host, "localhost");
  request.body() = json{{"prompt", "Once upon a time"}, {"max_tokens", 3}, {"temperature", 0}}.dump();
  request.prepare_payload();
  bhttp::write(stream, request, ec);
  beast::flat_buffer buffer;
  bhttp::response<bhttp::string_body> response;
  if (!ec) bhttp::read(stream, buffer, response, ec);
  if (ec) return "exchange: " + ec.message();
  return absl::StrCat(response.result_int(), " ",
                      json::parse(response.body())["choices"][0]["text"].get<std::string>());
}

TEST_F(HttpServerTest, ServesTlsAndMutualTlsWithTheGrpcFlags) {
  ASSERT_EQ(std::system("openssl version > /dev/null 2>&1"), 0)
      << "the openssl command is missing (scripts/install-deps.sh installs it)";
  const std::string dir = llmserve::testing::MakeTempDir("http_tls");
  for (const char* name : {"server", "client"}) {
    ASSERT_EQ(std::system(absl::StrCat("openssl req -x509 -newkey rsa:2048 -nodes -days 2 ",
                                       "-subj /CN=localhost -addext subjectAltName=DNS:localhost,"
                                       "IP:127.0.0.1 -keyout ", dir, "/", name, ".key -out ", dir,
                                       "/", name, ".crt > /dev/null 2>&1")
                              .c_str()),
              0);
  }
  StartServer([&](EngineOptions&, ServerOptions& s) {
    s.tls_cert_file = dir + "/server.crt";
    s.tls_key_file = dir + "/server.key";
    s.tls_client_ca_file = dir + "/client.crt";
  });
  // Mutual TLS: with the client certificate, served; without, refused.
  EXPECT_EQ(TlsPost(port_, dir + "/server.crt", dir + "/client.crt", dir + "/client.key"),
            "200 , there was");
  EXPECT_NE(TlsPost(port_, dir + "/server.crt").substr(0, 3), "200");
  // Plaintext HTTP to the TLS port gets no HTTP answer.
  EXPECT_EQ(HttpRequest(port_, "GET", "/health").status, 0);
  app_.reset();
  // TLS without client certificates.
  StartServer([&](EngineOptions&, ServerOptions& s) {
    s.tls_cert_file = dir + "/server.crt";
    s.tls_key_file = dir + "/server.key";
  });
  EXPECT_EQ(TlsPost(port_, dir + "/server.crt"), "200 , there was");
  // A client that does not trust the server's certificate stops at the handshake.
  EXPECT_EQ(TlsPost(port_, dir + "/client.crt").substr(0, 10), "handshake:");
  llmserve::testing::RunCommand("rm -rf " + dir);
}

}  // namespace
}  // namespace llmserve::server
