#pragma once
// Socket addresses: parsing "ADDR:PORT" / "[v6]:PORT" and rendering them.
#include <netinet/in.h>
#include <string>
#include <string_view>
#include <sys/socket.h>

#include <vcdn/base/result.h>

namespace vcdn::io {

struct SocketAddress {
    sockaddr_storage storage{};
    socklen_t len = 0;

    int family() const { return storage.ss_family; }
    const sockaddr* sa() const { return reinterpret_cast<const sockaddr*>(&storage); }
    sockaddr* sa() { return reinterpret_cast<sockaddr*>(&storage); }
    uint16_t port() const;
    void set_port(uint16_t port);
    std::string to_string() const;   // "127.0.0.1:8080", "[::1]:8080"
    std::string host_string() const; // "127.0.0.1", "::1"
};

// Accepts "1.2.3.4:80", "[::1]:80", "localhost:80" is refused (numeric only: no DNS at
// start-up), ":80" and "*:80" mean all IPv4 addresses.
Result<SocketAddress> parse_socket_address(std::string_view text);

// Writes "ip:port" for an address into out (at most 48 bytes incl. NUL); returns length.
size_t format_address(const sockaddr* sa, char* out, size_t cap);

} // namespace vcdn::io
