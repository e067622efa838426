#include <vcdn/wire/routes.h>

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <fmt/format.h>

#include <vcdn/base/hash.h>

namespace vcdn::wire {

namespace {
// Hand-written: a full table is a million of these per store or heartbeat, and the
// fmt/std::string route costs several allocations each.
void append_u32(std::string* out, uint32_t v) {
    char buf[16];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    out->append(buf, end);
}
void append_route(std::string* out, const io::IpPrefix& p, const RouteAttrs& a) {
    char buf[INET6_ADDRSTRLEN] = "";
    if (p.addr.family) inet_ntop(p.addr.family, p.addr.bytes, buf, sizeof buf);
    out->append(buf);
    out->push_back('/');
    append_u32(out, p.bits);
    out->push_back(' ');
    append_u32(out, a.med);
    out->push_back(' ');
    append_u32(out, a.path_len);
    if (a.origin_as != 0) {
        out->append(" o");
        append_u32(out, a.origin_as);
    }
    if (!a.communities.empty()) {
        out->push_back(' ');
        out->append(a.communities);
    }
}
} // namespace

std::string route_line(const io::IpPrefix& p, const RouteAttrs& a) {
    std::string s;
    append_route(&s, p, a);
    return s;
}

namespace {
bool take_u32(std::string_view* s, uint32_t* out) {
    const size_t sp = s->find(' ');
    std::string_view tok = s->substr(0, sp);
    auto [p, ec] = std::from_chars(tok.data(), tok.data() + tok.size(), *out);
    if (ec != std::errc() || p != tok.data() + tok.size() || tok.empty()) return false;
    s->remove_prefix(sp == std::string_view::npos ? s->size() : sp + 1);
    return true;
}
} // namespace

Result<std::pair<io::IpPrefix, RouteAttrs>> parse_route_line(std::string_view line) {
    const size_t sp = line.find(' ');
    if (sp == std::string_view::npos) return Error{"route line without attributes"};
    auto p = io::IpPrefix::parse(line.substr(0, sp));
    if (!p) return p.error();
    line.remove_prefix(sp + 1);
    RouteAttrs a;
    if (!take_u32(&line, &a.med) || !take_u32(&line, &a.path_len))
        return Error{"route line: MED and AS path length must be numbers"};
    if (line.starts_with('o')) { // communities start with '(': the token is unambiguous
        line.remove_prefix(1);
        if (!take_u32(&line, &a.origin_as) || a.origin_as == 0)
            return Error{"route line: origin AS must be a number from 1"};
    }
    if (!line.empty() && line[0] != '(') // what keeps the origin token unambiguous
        return Error{"route line: communities must start with '('"};
    if (line.size() > 4096) return Error{"route line: communities over 4 KiB"};
    for (char c : line)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
            return Error{"route line: control character in communities"};
    a.communities = std::string(line);
    return std::pair{*p, std::move(a)};
}

uint64_t route_hash(const io::IpPrefix& p, const RouteAttrs& a) {
    thread_local std::string line;
    line.clear();
    append_route(&line, p, a);
    return hash64(line);
}

uint64_t table_digest(const RouteMap& t) {
    uint64_t d = 0;
    for (const auto& [p, a] : t)
        d += route_hash(p, a);
    return d;
}

std::string digest_hex(uint64_t d) {
    return fmt::format("{:016x}", d);
}

Diff diff(const RouteMap& from, const RouteMap& to, size_t max) {
    Diff d;
    for (const auto& [p, a] : to) {
        auto it = from.find(p);
        if (it != from.end() && it->second == a) continue;
        if (d.size() >= max) {
            d.more = true;
            return d;
        }
        d.upserts.emplace_back(p, a);
    }
    for (const auto& [p, a] : from) {
        if (to.count(p)) continue;
        if (d.size() >= max) {
            d.more = true;
            return d;
        }
        d.removals.push_back(p);
    }
    return d;
}

void apply(RouteMap* t, const Diff& d, uint64_t* digest) {
    for (const io::IpPrefix& p : d.removals) {
        auto it = t->find(p);
        if (it == t->end()) continue;
        *digest -= route_hash(it->first, it->second);
        t->erase(it);
    }
    for (const auto& [p, a] : d.upserts) {
        auto [it, fresh] = t->try_emplace(p, a);
        if (!fresh) {
            *digest -= route_hash(it->first, it->second);
            it->second = a;
        }
        *digest += route_hash(p, a);
    }
}

uint64_t digest_after(const RouteMap& t, uint64_t digest, const Diff& d) {
    for (const io::IpPrefix& p : d.removals)
        if (auto it = t.find(p); it != t.end()) digest -= route_hash(it->first, it->second);
    for (const auto& [p, a] : d.upserts) {
        if (auto it = t.find(p); it != t.end()) digest -= route_hash(it->first, it->second);
        digest += route_hash(p, a);
    }
    return digest;
}

std::string serialise(const RouteMap& t) {
    std::string out;
    out.reserve(t.size() * 24);
    for (const auto& [p, a] : t) {
        append_route(&out, p, a);
        out.push_back('\n');
    }
    return out;
}

Result<RouteMap> parse_serialised(std::string_view text) {
    RouteMap t;
    size_t line_no = 0;
    while (!text.empty()) {
        const size_t nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
        ++line_no;
        if (line.empty()) continue;
        auto r = parse_route_line(line);
        if (!r) return Error{fmt::format("line {}: {}", line_no, r.error().message)};
        t[r->first] = std::move(r->second);
    }
    return t;
}

} // namespace vcdn::wire
