#pragma once
// BGP-learned client prefixes as the edge reports them and the control plane keeps them: one
// route per prefix with the attributes steering ranks by (MED, AS path length) and the
// communities the ISP tagged it with. Pure: tables, their order-independent digest, diffs in
// bounded steps, and a compact text form for the database.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <vcdn/base/result.h>
#include <vcdn/io/ip_prefix.h>

namespace vcdn::wire {

struct RouteAttrs {
    uint32_t med = 0;        // BGP MULTI_EXIT_DISC; absent = 0 (RFC 4271)
    uint32_t path_len = 0;   // AS_PATH length (an AS_SET counts once)
    std::string communities; // "(65001,100) (65001,200)"; large ones as "(a, b, c)"; empty or '('…
    uint32_t origin_as = 0;  // the AS_PATH's last AS; 0 = none (empty path, or it ends in a set)

    bool operator==(const RouteAttrs&) const = default;
    // The better of two routes to one prefix: lower MED, then the shorter AS path.
    bool better_than(const RouteAttrs& o) const {
        return med != o.med ? med < o.med : path_len < o.path_len;
    }
};

using RouteMap = std::unordered_map<io::IpPrefix, RouteAttrs, io::IpPrefixHash>;

// Routes one edge may report: a full IPv4 table is ~1M prefixes and IPv6 ~0.2M today, so 2M
// leaves room for growth while bounding what one edge's token can make the control plane hold
// (~150 MB per edge). The edge keeps the first this many it reads; the control plane refuses
// a heartbeat that would take a table past it.
inline constexpr size_t kMaxRoutesPerEdge = 2000000;

// "10.1.0.0/16 10 2 o65001 (65001,100)": one route as a line (no newline); the unit of the
// digest and of the stored form. The origin token is written only when known, so a route
// without one has the line (and hash) that edges and databases from before it had.
std::string route_line(const io::IpPrefix& p, const RouteAttrs& a);
Result<std::pair<io::IpPrefix, RouteAttrs>> parse_route_line(std::string_view line);

// The digest of a table is the sum (mod 2^64) of its routes' hashes: the edge and the
// control plane can update it per change without walking the table.
uint64_t route_hash(const io::IpPrefix& p, const RouteAttrs& a);
uint64_t table_digest(const RouteMap& t);
std::string digest_hex(uint64_t d);

// What turns `from` into `to`: new or changed routes, and prefixes gone. At most `max`
// entries in all; `more` says the rest waits for the next step.
struct Diff {
    std::vector<std::pair<io::IpPrefix, RouteAttrs>> upserts;
    std::vector<io::IpPrefix> removals;
    bool more = false;
    size_t size() const { return upserts.size() + removals.size(); }
    bool operator==(const Diff&) const = default;
};
Diff diff(const RouteMap& from, const RouteMap& to, size_t max);
// Applies a diff to `t`, keeping `*digest` (the table's digest) current.
void apply(RouteMap* t, const Diff& d, uint64_t* digest);
// The digest `t` would have after apply(t, d, ...), without changing it.
uint64_t digest_after(const RouteMap& t, uint64_t digest, const Diff& d);

// A line per route (in the map's order).
std::string serialise(const RouteMap& t);
Result<RouteMap> parse_serialised(std::string_view text);

} // namespace vcdn::wire
