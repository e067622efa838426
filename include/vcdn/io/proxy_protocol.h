#pragma once
// The PROXY protocol (HAProxy's, versions 1 and 2): the header an L4 load balancer (HAProxy,
// AWS NLB, Envoy, nginx stream) writes at the start of a TCP connection to name the client it
// accepted. The control plane takes it only from configured proxies (HttpServiceOptions::
// proxy_protocol with trusted_proxies): from anyone else, bytes that look like one are bytes
// of a request, and an ordinary bad request at that.
//
// Threads: a pure function; any thread. Fuzzed (tests/fuzz/fuzz_request_parser.cc).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <vcdn/io/ip_prefix.h>

namespace vcdn::io {

enum class ProxyStatus : uint8_t {
    kIncomplete, // a prefix of a header: read more (bounded by kMaxProxyHeader)
    kOk,
    kBad, // not a PROXY header, or a malformed one
};

struct ProxyHeader {
    size_t length = 0; // bytes of the header, to consume before the request (or TLS)
    // The client: v1 TCP4/TCP6, v2 PROXY over INET/INET6. Absent for v1 UNKNOWN and v2 LOCAL
    // (the balancer's own health check) or other families: the connection is the peer's own.
    bool has_client = false;
    IpAddress client;
    uint16_t client_port = 0;
};

// The longest header taken: v1 is at most 107 bytes; v2 is 16 bytes and the length it gives,
// which is refused beyond 1024 (addresses and a few TLVs need far less).
inline constexpr size_t kMaxProxyHeader = 16 + 1024;

// Parses the header at the start of `in`. *why gets a short reason with kBad.
ProxyStatus parse_proxy_header(std::string_view in, ProxyHeader* out, const char** why);

} // namespace vcdn::io
