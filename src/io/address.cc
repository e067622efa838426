#include <vcdn/io/address.h>

#include <arpa/inet.h>
#include <cstring>
#include <fmt/format.h>

#include <vcdn/base/strings.h>

namespace vcdn::io {

uint16_t SocketAddress::port() const {
    if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port);
    if (family() == AF_INET6)
        return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
    return 0;
}

void SocketAddress::set_port(uint16_t p) {
    if (family() == AF_INET) reinterpret_cast<sockaddr_in*>(&storage)->sin_port = htons(p);
    if (family() == AF_INET6) reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port = htons(p);
}

std::string SocketAddress::to_string() const {
    char buf[64];
    size_t n = format_address(sa(), buf, sizeof buf);
    return std::string(buf, n);
}

std::string SocketAddress::host_string() const {
    char buf[INET6_ADDRSTRLEN] = "?";
    if (family() == AF_INET)
        inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage)->sin_addr, buf,
                  sizeof buf);
    else if (family() == AF_INET6)
        inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_addr, buf,
                  sizeof buf);
    return buf;
}

size_t format_address(const sockaddr* sa, char* out, size_t cap) {
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    bool v6 = false;
    if (sa->sa_family == AF_INET) {
        auto* in = reinterpret_cast<const sockaddr_in*>(sa);
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        port = ntohs(in->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        port = ntohs(in6->sin6_port);
        v6 = true;
    }
    auto r = v6 ? fmt::format_to_n(out, cap - 1, "[{}]:{}", host, port)
                : fmt::format_to_n(out, cap - 1, "{}:{}", host, port);
    size_t n = std::min(r.size, cap - 1);
    out[n] = '\0';
    return n;
}

Result<SocketAddress> parse_socket_address(std::string_view text) {
    SocketAddress a;
    std::string_view host, port_text;
    if (!text.empty() && text.front() == '[') {
        size_t close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
            return Error{fmt::format("bad address '{}': expected [IPv6]:PORT", text)};
        host = text.substr(1, close - 1);
        port_text = text.substr(close + 2);
    } else {
        size_t colon = text.rfind(':');
        if (colon == std::string_view::npos)
            return Error{fmt::format("bad address '{}': expected ADDR:PORT", text)};
        host = text.substr(0, colon);
        port_text = text.substr(colon + 1);
        if (host.find(':') != std::string_view::npos)
            return Error{fmt::format("bad address '{}': put IPv6 addresses in brackets", text)};
    }
    uint64_t port = 0;
    if (!parse_u64(port_text, &port) || port > 65535)
        return Error{fmt::format("bad address '{}': port must be 0-65535", text)};
    std::string h(host);
    if (h.empty() || h == "*") h = "0.0.0.0";
    auto* in = reinterpret_cast<sockaddr_in*>(&a.storage);
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&a.storage);
    if (inet_pton(AF_INET, h.c_str(), &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        a.len = sizeof(sockaddr_in);
    } else if (inet_pton(AF_INET6, h.c_str(), &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        a.len = sizeof(sockaddr_in6);
    } else {
        return Error{fmt::format("bad address '{}': '{}' is not a numeric IP address", text, h)};
    }
    a.set_port(static_cast<uint16_t>(port));
    return a;
}

} // namespace vcdn::io
