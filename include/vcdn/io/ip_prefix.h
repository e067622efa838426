#pragma once
// IP addresses and CIDR prefixes (IPv4 and IPv6): parsing, formatting, containment. Pure.
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>

#include <vcdn/base/result.h>

namespace vcdn::io {

struct IpAddress {
    uint8_t family = 0; // AF_INET or AF_INET6; 0 = none
    uint8_t bytes[16] = {};

    static Result<IpAddress> parse(std::string_view text);
    // From a socket address; an IPv4-mapped IPv6 address (::ffff:a.b.c.d) becomes IPv4.
    static IpAddress from_sockaddr(const sockaddr* sa);
    // This address with an IPv4-mapped IPv6 one (::ffff:a.b.c.d) as the IPv4 it maps, as
    // from_sockaddr makes peers: so that a text address matches prefixes and peers alike.
    IpAddress unmapped() const;
    size_t length() const { return family == AF_INET ? 4 : 16; }
    std::string to_string() const;
    bool operator==(const IpAddress& o) const;
};

struct IpPrefix {
    IpAddress addr; // host bits cleared
    uint8_t bits = 0;

    // "10.1.0.0/16", "2001:db8::/32"; a bare address is a /32 or /128. Host bits must be
    // zero ("10.1.2.3/16" is refused: it is almost always a typo).
    static Result<IpPrefix> parse(std::string_view text);
    bool contains(const IpAddress& a) const;
    std::string to_string() const;
    bool operator==(const IpPrefix& o) const { return bits == o.bits && addr == o.addr; }
};

// For unordered containers keyed by prefix (routing tables of ~1M entries).
struct IpPrefixHash {
    size_t operator()(const IpPrefix& p) const;
};

} // namespace vcdn::io
