#pragma once
// http:// and https:// URLs as vcdn's own configs and messages carry them: the control plane's
// address, edge and origin base URLs, fill sources, steering answers. One parser for all.
//
//   http://host[:port][/path][?query]     host: a name, an IPv4 address or [IPv6]
//
// Strict: no userinfo, no fragment, no spaces or control bytes, a port of 1-65535, a host of at
// most 253 bytes. The path is kept as written (no decoding); an empty path is "". Pure.
#include <cstdint>
#include <string>
#include <string_view>

#include <vcdn/base/result.h>

namespace vcdn::http {

struct Url {
    std::string scheme; // "http" | "https"
    std::string host;   // without brackets for IPv6 ("::1")
    uint16_t port = 0;  // explicit or the scheme's default
    std::string path;   // "" or starting with '/'
    std::string query;  // without '?'
    bool https() const { return scheme == "https"; }
    bool ipv6() const { return host.find(':') != std::string::npos; }
    // "host:port" / "[v6]:port": what a socket address parser takes.
    std::string host_port() const;
    // "http://host:port" (the port always written), no path.
    std::string base() const;
    std::string to_string() const;
    bool operator==(const Url&) const = default;
};

// One-line errors: "'ftp://x': the scheme must be http or https".
Result<Url> parse_url(std::string_view text);
// A base URL: parse_url() and no path (a lone "/" is allowed and dropped), no query.
Result<Url> parse_base_url(std::string_view text);

} // namespace vcdn::http
