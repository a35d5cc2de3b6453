#include "server/tcp_listener.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace llmserve::server {
namespace {

absl::Status Unavailable(const std::string& what, const std::string& address) {
  return absl::UnavailableError(
      absl::StrCat("cannot listen on ", address, ": ", what, ": ", std::strerror(errno)));
}

int BoundPort(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return 0;
  if (addr.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  return ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
}

void SetPort(sockaddr* addr, int port) {
  if (addr->sa_family == AF_INET) {
    reinterpret_cast<sockaddr_in*>(addr)->sin_port = htons(static_cast<uint16_t>(port));
  } else {
    reinterpret_cast<sockaddr_in6*>(addr)->sin6_port = htons(static_cast<uint16_t>(port));
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<TcpListener>> TcpListener::Bind(const std::string& address) {
  const std::size_t colon = address.rfind(':');
  int port = -1;
  if (colon == std::string::npos || !absl::SimpleAtoi(address.substr(colon + 1), &port) ||
      port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("listen address \"", address, "\" is not host:port"));
  }
  std::string host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* results = nullptr;
  const std::string service = std::to_string(port);
  if (const int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints,
                                 &results);
      rc != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", address, ": ", gai_strerror(rc)));
  }
  std::unique_ptr<TcpListener> listener(new TcpListener());
  int count = 0;
  for (addrinfo* ai = results; ai != nullptr; ai = ai->ai_next) ++count;
  absl::Status status;
  absl::Status skipped;  // an address of a family this host lacks (no IPv6)
  for (addrinfo* ai = results; ai != nullptr && status.ok(); ai = ai->ai_next) {
    const int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if (fd < 0) {
      if (errno == EAFNOSUPPORT && count > 1) {
        skipped = Unavailable("socket", address);
        continue;
      }
      status = Unavailable("socket", address);
      break;
    }
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (ai->ai_family == AF_INET6) {
      // One address: dual-stack ("[::]" takes IPv4 too, as gRPC's own
      // listener does); several (a wildcard): each family on its own socket.
      const int v6only = count > 1 ? 1 : 0;
      setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
    }
    if (listener->port_ != 0) SetPort(ai->ai_addr, listener->port_);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
      // "localhost" on a host without IPv6 also resolves to ::1: like gRPC's
      // own listener, bind the addresses that exist.
      if ((errno == EADDRNOTAVAIL || errno == EAFNOSUPPORT) && count > 1) {
        skipped = Unavailable("bind", address);
        close(fd);
        continue;
      }
      status = Unavailable("bind", address);
    } else if (listen(fd, SOMAXCONN) != 0) {
      status = Unavailable("listen", address);
    } else if (listener->port_ == 0) {
      listener->port_ = BoundPort(fd);
    }
    listener->fds_.push_back(fd);
  }
  freeaddrinfo(results);
  if (!status.ok()) return status;  // the destructor closes what was opened
  if (listener->fds_.empty() || listener->port_ == 0) {
    return skipped.ok() ? absl::UnavailableError(absl::StrCat("cannot listen on ", address))
                        : skipped;
  }
  if (pipe2(listener->wake_fds_, O_CLOEXEC) != 0) return Unavailable("pipe", address);
  return listener;
}

TcpListener::~TcpListener() { Close(); }

void TcpListener::Start(std::function<void(int fd)> on_connection) {
  thread_ = std::thread([this, on_connection = std::move(on_connection)]() mutable {
    AcceptLoop(std::move(on_connection));
  });
}

void TcpListener::AcceptLoop(std::function<void(int fd)> on_connection) {
  std::vector<pollfd> polled;
  for (int fd : fds_) polled.push_back({fd, POLLIN, 0});
  polled.push_back({wake_fds_[0], POLLIN, 0});
  while (true) {
    if (poll(polled.data(), polled.size(), -1) < 0) {
      if (errno == EINTR) continue;
      for (std::size_t i = 0; i + 1 < polled.size(); ++i) close(polled[i].fd);
      return;  // cannot happen with valid descriptors; the sockets are closed either way
    }
    const bool closing = polled.back().revents != 0;
    for (std::size_t i = 0; i + 1 < polled.size(); ++i) {
      if (!closing && (polled[i].revents & POLLIN) == 0) continue;
      // Closing: take every connection the kernel has queued, so that closing
      // the socket right after resets (almost) none that a client already
      // sent a request on — nginx cannot replay a gRPC request it has sent.
      do {
        const int fd = accept4(polled[i].fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
          // A peer that gave up before its turn: the next one may be queued.
          if (errno == ECONNABORTED || errno == EINTR) continue;
          // Out of descriptors: the connection stays queued; wait a little
          // rather than spin on a listening socket that stays readable.
          if (!closing && (errno == EMFILE || errno == ENFILE)) poll(nullptr, 0, 10);
          break;  // queue empty or out of descriptors
        }
        const int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        on_connection(fd);
      } while (closing);
      // Close right after the queue ran dry: a connection completed between
      // the last accept and the close is reset, so keep that gap to a system
      // call (not a thread exit and a join, as closing in Close() would).
      if (closing) {
        close(polled[i].fd);
        polled[i].fd = -1;
      }
    }
    if (closing) return;
  }
}

void TcpListener::Close() {
  if (wake_fds_[1] >= 0) {
    const char byte = 0;
    while (write(wake_fds_[1], &byte, 1) < 0 && errno == EINTR) {
    }
  }
  // A started accept thread closes the listening sockets itself.
  if (thread_.joinable()) {
    thread_.join();
  } else {
    for (int fd : fds_) close(fd);
  }
  fds_.clear();
  for (int& fd : wake_fds_) {
    if (fd >= 0) close(fd);
    fd = -1;
  }
}

}  // namespace llmserve::server
