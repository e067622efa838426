#include <vcdn/http/url.h>

#include <fmt/format.h>

namespace vcdn::http {

namespace {

std::string shown(std::string_view s) {
    std::string out;
    for (char c : s.substr(0, 200))
        out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
    return out;
}

bool host_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_';
}

} // namespace

std::string Url::host_port() const {
    return ipv6() ? fmt::format("[{}]:{}", host, port) : fmt::format("{}:{}", host, port);
}

std::string Url::base() const {
    return fmt::format("{}://{}", scheme, host_port());
}

std::string Url::to_string() const {
    return base() + path + (query.empty() ? "" : "?" + query);
}

Result<Url> parse_url(std::string_view text) {
    auto bad = [&](std::string_view why) {
        return Error{fmt::format("'{}': {}", shown(text), why)};
    };
    if (text.size() > 8192) return bad("longer than 8192 bytes");
    for (char c : text)
        if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f)
            return bad("spaces or control bytes");
    Url u;
    const size_t colon = text.find("://");
    if (colon == std::string_view::npos) return bad("expected http://host[:port]");
    for (char c : text.substr(0, colon))
        u.scheme += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    if (u.scheme != "http" && u.scheme != "https") return bad("the scheme must be http or https");
    std::string_view rest = text.substr(colon + 3);
    if (rest.find('#') != std::string_view::npos) return bad("a fragment ('#') has no place here");
    const size_t end = rest.find_first_of("/?");
    std::string_view authority = rest.substr(0, end);
    std::string_view tail = end == std::string_view::npos ? std::string_view() : rest.substr(end);
    if (authority.find('@') != std::string_view::npos) return bad("no user:password@ in URLs");
    std::string_view port_text;
    if (!authority.empty() && authority.front() == '[') {
        const size_t close = authority.find(']');
        if (close == std::string_view::npos) return bad("an IPv6 host needs its closing ']'");
        u.host = std::string(authority.substr(1, close - 1));
        if (u.host.empty() ||
            u.host.find_first_not_of("0123456789abcdefABCDEF:.") != std::string::npos)
            return bad("not an IPv6 address inside [ ]");
        std::string_view after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') return bad("expected ':port' after the IPv6 address");
            port_text = after.substr(1);
            if (port_text.empty()) return bad("an empty port");
        }
    } else {
        const size_t pc = authority.find(':');
        u.host = std::string(authority.substr(0, pc));
        if (pc != std::string_view::npos) {
            port_text = authority.substr(pc + 1);
            if (port_text.empty()) return bad("an empty port");
        }
        for (char c : u.host)
            if (!host_char(c)) return bad("the host has a character hosts cannot have");
    }
    if (u.host.empty()) return bad("no host");
    if (u.host.size() > 253) return bad("the host is longer than 253 bytes");
    if (!port_text.empty()) {
        uint32_t p = 0;
        for (char c : port_text) {
            if (c < '0' || c > '9' || p > 65535) return bad("the port must be 1-65535");
            p = p * 10 + static_cast<uint32_t>(c - '0');
        }
        if (p < 1 || p > 65535) return bad("the port must be 1-65535");
        u.port = static_cast<uint16_t>(p);
    } else {
        u.port = u.https() ? 443 : 80;
    }
    const size_t q = tail.find('?');
    u.path = std::string(tail.substr(0, q));
    if (q != std::string_view::npos) u.query = std::string(tail.substr(q + 1));
    return u;
}

Result<Url> parse_base_url(std::string_view text) {
    auto u = parse_url(text);
    if (!u) return u;
    if (u->path == "/") u->path.clear();
    if (!u->path.empty() || !u->query.empty())
        return Error{
            fmt::format("'{}': a base URL has no path or query (http://host:port)", shown(text))};
    return u;
}

} // namespace vcdn::http
