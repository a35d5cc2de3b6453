#ifndef LLMSERVE_TESTS_SERVER_RAW_GRPC_CONNECTION_H_
#define LLMSERVE_TESTS_SERVER_RAW_GRPC_CONNECTION_H_

// gRPC server-streaming calls spoken by hand over a plain TCP socket (HTTP/2
// preface, SETTINGS, then per call one HEADERS frame of literal HPACK fields
// and one DATA frame), so a test can end the TCP connection the way a crashed
// client or a middlebox does: with a RST (SO_LINGER 0), not a gRPC cancel or
// a FIN. Header-only; plaintext only.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace llmserve::testing {

/// One HTTP/2 connection carrying one or more calls.
class RawGrpcConnection {
 public:
  RawGrpcConnection() = default;
  RawGrpcConnection(const RawGrpcConnection&) = delete;
  RawGrpcConnection& operator=(const RawGrpcConnection&) = delete;
  RawGrpcConnection(RawGrpcConnection&& other) noexcept
      : fd_(std::exchange(other.fd_, -1)), num_streams_(other.num_streams_) {}
  ~RawGrpcConnection() {
    if (fd_ >= 0) close(fd_);
  }

  /// Connects to 127.0.0.1:`port` and sends `streams` calls of `path` (e.g.
  /// "/llmserve.v1.Generation/GenerateStream") with the serialized request
  /// `message`, multiplexed on the connection (streams 1, 3, 5, ...), each
  /// ending the client's half of its stream. Socket reads time out after
  /// `timeout_seconds`. False on any socket error.
  bool Start(int port, const std::string& path, const std::string& message, int streams = 1,
             int timeout_seconds = 60) {
    num_streams_ = streams;
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) return false;
    timeval timeout{timeout_seconds, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return false;

    std::string out = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    out += Frame(kSettings, 0, 0, "");
    std::string headers;
    for (const auto& [name, value] : {std::pair<std::string, std::string>{":method", "POST"},
                                      {":scheme", "http"},
                                      {":path", path},
                                      {":authority", absl::StrCat("127.0.0.1:", port)},
                                      {"content-type", "application/grpc"},
                                      {"te", "trailers"}}) {
      // HPACK "literal header field without indexing, new name" (RFC 7541
      // 6.2.2), strings without Huffman coding; every length here is < 127.
      headers += '\0';
      headers += static_cast<char>(name.size());
      headers += name;
      headers += static_cast<char>(value.size());
      headers += value;
    }
    std::string grpc_message(5, '\0');  // not compressed, 4-byte big-endian length
    const uint32_t size = static_cast<uint32_t>(message.size());
    for (int i = 0; i < 4; ++i) grpc_message[1 + i] = static_cast<char>(size >> (24 - 8 * i));
    grpc_message += message;
    for (int i = 0; i < streams; ++i) {
      const uint32_t stream = 2 * i + 1;
      out += Frame(kHeaders, kEndHeaders, stream, headers);
      out += Frame(kData, kEndStream, stream, grpc_message);
    }
    return SendAll(out);
  }

  /// Reads frames (acknowledging the server's SETTINGS and PINGs) until a
  /// DATA frame with a payload has arrived on every stream: the server has
  /// started streaming them all. False on EOF, error, timeout, or a
  /// RST_STREAM / GOAWAY first.
  bool WaitForData() {
    std::vector<bool> streaming(num_streams_, false);
    int remaining = num_streams_;
    while (remaining > 0) {
      uint8_t header[9];
      if (!RecvAll(header, sizeof(header))) return false;
      const uint32_t length = (uint32_t{header[0]} << 16) | (uint32_t{header[1]} << 8) | header[2];
      const uint8_t type = header[3];
      const uint8_t flags = header[4];
      const uint32_t stream = ((uint32_t{header[5]} << 24) | (uint32_t{header[6]} << 16) |
                               (uint32_t{header[7]} << 8) | header[8]) &
                              0x7fffffffu;
      std::string payload(length, '\0');
      if (length > 0 && !RecvAll(reinterpret_cast<uint8_t*>(payload.data()), length)) return false;
      if (type == kSettings && (flags & kAck) == 0) {
        if (!SendAll(Frame(kSettings, kAck, 0, ""))) return false;
      } else if (type == kPing && (flags & kAck) == 0) {
        if (!SendAll(Frame(kPing, kAck, 0, payload))) return false;
      } else if (type == kRstStream || type == kGoAway) {
        return false;
      } else if (type == kData && length > 0 && stream % 2 == 1 &&
                 static_cast<int>(stream / 2) < num_streams_ && !streaming[stream / 2]) {
        streaming[stream / 2] = true;
        --remaining;
      }
    }
    return true;
  }

  /// Closes the connection with a TCP RST (SO_LINGER on, timeout 0): the
  /// server sees ECONNRESET, not an orderly shutdown.
  void Reset() {
    if (fd_ < 0) return;
    linger abort{1, 0};
    setsockopt(fd_, SOL_SOCKET, SO_LINGER, &abort, sizeof(abort));
    close(fd_);
    fd_ = -1;
  }

 private:
  static constexpr uint8_t kData = 0x0, kHeaders = 0x1, kRstStream = 0x3, kSettings = 0x4,
                           kPing = 0x6, kGoAway = 0x7;
  static constexpr uint8_t kEndStream = 0x1, kAck = 0x1, kEndHeaders = 0x4;

  static std::string Frame(uint8_t type, uint8_t flags, uint32_t stream,
                           const std::string& payload) {
    std::string f(9, '\0');
    const uint32_t length = static_cast<uint32_t>(payload.size());
    f[0] = static_cast<char>(length >> 16);
    f[1] = static_cast<char>(length >> 8);
    f[2] = static_cast<char>(length);
    f[3] = static_cast<char>(type);
    f[4] = static_cast<char>(flags);
    for (int i = 0; i < 4; ++i) f[5 + i] = static_cast<char>(stream >> (24 - 8 * i));
    return f + payload;
  }

  bool SendAll(const std::string& bytes) {
    size_t sent = 0;
    while (sent < bytes.size()) {
      const ssize_t n = send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += static_cast<size_t>(n);
    }
    return true;
  }

  bool RecvAll(uint8_t* buffer, size_t size) {
    size_t got = 0;
    while (got < size) {
      const ssize_t n = recv(fd_, buffer + got, size - got, 0);
      if (n <= 0) return false;
      got += static_cast<size_t>(n);
    }
    return true;
  }

  int fd_ = -1;
  int num_streams_ = 0;
};

}  // namespace llmserve::testing

#endif  // LLMSERVE_TESTS_SERVER_RAW_GRPC_CONNECTION_H_
