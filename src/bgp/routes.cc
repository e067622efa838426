#include <vcdn/bgp/routes.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <fmt/format.h>

#include <vcdn/steer/steering.h>

namespace vcdn::bgp {

std::string route_line(const io::IpPrefix& p, const RouteAttrs& a) {
    std::string s = p.to_string();
    fmt::format_to(std::back_inserter(s), " {} {}", a.med, a.path_len);
    if (!a.communities.empty()) {
        s.push_back(' ');
        s.append(a.communities);
    }
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
    if (line.size() > 4096) return Error{"route line: communities over 4 KiB"};
    for (char c : line)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
            return Error{"route line: control character in communities"};
    a.communities = std::string(line);
    return std::pair{*p, std::move(a)};
}

uint64_t route_hash(const io::IpPrefix& p, const RouteAttrs& a) {
    return steer::hash64(route_line(p, a));
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
    std::vector<const std::pair<const io::IpPrefix, RouteAttrs>*> rows;
    rows.reserve(t.size());
    for (const auto& r : t)
        rows.push_back(&r);
    std::sort(rows.begin(), rows.end(), [](const auto* x, const auto* y) {
        const io::IpPrefix &a = x->first, &b = y->first;
        if (a.addr.family != b.addr.family) return a.addr.family < b.addr.family;
        const int c = std::memcmp(a.addr.bytes, b.addr.bytes, 16);
        return c != 0 ? c < 0 : a.bits < b.bits;
    });
    std::string out;
    out.reserve(rows.size() * 24);
    for (const auto* r : rows) {
        out.append(route_line(r->first, r->second));
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

} // namespace vcdn::bgp
