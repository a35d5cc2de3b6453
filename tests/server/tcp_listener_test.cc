// TcpListener: address parsing and errors, port 0, every accepted connection
// handed over, and Close() refusing connections at once (what a drain relies on).

#include "server/tcp_listener.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace llmserve::server {
namespace {

using ::testing::HasSubstr;

// connect() to 127.0.0.1:port; the connected socket or -1.
int ConnectLoopback(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

TEST(TcpListenerTest, RejectsAddressesWithoutAPort) {
  for (const char* address : {"localhost", "127.0.0.1:", "127.0.0.1:http", "127.0.0.1:70000",
                              "127.0.0.1:-1"}) {
    auto listener = TcpListener::Bind(address);
    ASSERT_FALSE(listener.ok()) << address;
    EXPECT_EQ(listener.status().code(), absl::StatusCode::kInvalidArgument) << address;
    EXPECT_THAT(listener.status().message(), HasSubstr(address));
  }
}

TEST(TcpListenerTest, UnresolvableHostAndPortInUseAreUnavailable) {
  auto bad_host = TcpListener::Bind("no-such-host.invalid:0");
  ASSERT_FALSE(bad_host.ok());
  EXPECT_EQ(bad_host.status().code(), absl::StatusCode::kUnavailable);

  auto first = TcpListener::Bind("127.0.0.1:0");
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = TcpListener::Bind("127.0.0.1:" + std::to_string((*first)->port()));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(second.status().message(), HasSubstr("bind"));
}

// "localhost" resolves to 127.0.0.1 (and ::1 where IPv6 is up): one port
// for every address, reachable over IPv4; a wildcard host binds too.
TEST(TcpListenerTest, LocalhostAndWildcardBindOnePort) {
  for (const char* address : {"localhost:0", "0.0.0.0:0", ":0"}) {
    auto listener = TcpListener::Bind(address);
    ASSERT_TRUE(listener.ok()) << address << ": " << listener.status();
    const int port = (*listener)->port();
    EXPECT_GT(port, 0) << address;
    std::atomic<int> accepted{0};
    (*listener)->Start([&](int fd) {
      ++accepted;
      close(fd);
    });
    const int fd = ConnectLoopback(port);
    EXPECT_GE(fd, 0) << address;
    if (fd >= 0) close(fd);
    for (int i = 0; i < 3000 && accepted == 0; ++i) absl::SleepFor(absl::Milliseconds(10));
    EXPECT_EQ(accepted, 1) << address;
    (*listener)->Close();
    EXPECT_EQ(ConnectLoopback(port), -1) << address;
  }
}

TEST(TcpListenerTest, HandsOverEveryConnectionAndRefusesAfterClose) {
  auto listener = TcpListener::Bind("127.0.0.1:0");
  ASSERT_TRUE(listener.ok()) << listener.status();
  const int port = (*listener)->port();
  EXPECT_GT(port, 0);

  absl::Mutex mu;
  std::vector<int> accepted;
  (*listener)->Start([&](int fd) {
    absl::MutexLock lock(&mu);
    accepted.push_back(fd);
  });
  std::vector<int> clients;
  for (int i = 0; i < 5; ++i) {
    const int fd = ConnectLoopback(port);
    ASSERT_GE(fd, 0);
    clients.push_back(fd);
  }
  {
    absl::MutexLock lock(&mu);
    auto all = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu) { return accepted.size() == 5; };
    EXPECT_TRUE(mu.AwaitWithTimeout(absl::Condition(&all), absl::Seconds(30)));
  }
  // What one client writes arrives on the socket handed over for it.
  ASSERT_EQ(write(clients[0], "x", 1), 1);

  (*listener)->Close();
  EXPECT_EQ(ConnectLoopback(port), -1) << "still accepting after Close";
  (*listener)->Close();  // idempotent

  int with_data = 0;
  absl::MutexLock lock(&mu);
  for (int fd : accepted) {
    char byte = 0;
    for (int i = 0; i < 50 && read(fd, &byte, 1) != 1; ++i) absl::SleepFor(absl::Milliseconds(10));
    with_data += byte == 'x';
    close(fd);
  }
  EXPECT_EQ(with_data, 1);
  for (int fd : clients) close(fd);
}

}  // namespace
}  // namespace llmserve::server
