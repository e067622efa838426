#pragma once
// Steering: client address + file -> ranked edges. Pure and immutable: the control plane
// builds a Topology from its state whenever that changes and swaps it in; any number of
// threads rank against one Topology without locks.
//
// Rank: sites whose prefixes cover the client, most specific prefix first, then tier
// (embedded before ix), then the MED and AS path length the ISP gave a BGP-learned prefix
// (lower first); then the covering sites' configured fallback sites; then every other
// exchange (ix) site (embedded sites serve only their own ISP's clients); the origin last.
// Within a site: only edges that hold the file, are up and under their load threshold, in
// rendezvous-hash order of (file, edge) — (title, edge) for a packaged title's files — so the
// same file goes to the same edge while the fleet is unchanged and adding or removing an edge
// moves only that edge's share.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <vcdn/base/hash.h>
#include <vcdn/io/ip_prefix.h>
#include <vcdn/steer/prefix_table.h>

namespace vcdn::steer {

enum class SiteTier : uint8_t { kEmbedded = 0, kIx = 1 };

struct TopoEdge {
    std::string id;
    std::string url;       // base URL, no trailing '/'
    std::string https_url; // may be empty
    uint32_t site = 0;
    bool eligible = false; // up, not drained, under its load threshold
    // Drained by an operator but alive (fresh heartbeats, reports itself healthy): used for a
    // file only when no eligible edge anywhere holds it — it keeps its files until their new
    // holders have them (make-before-break).
    bool last_resort = false;
    uint64_t hash = 0; // of the id, for rendezvous
};

struct TopoSite {
    std::string name;
    SiteTier tier = SiteTier::kEmbedded;
    std::vector<uint32_t> edges;    // indices into Topology::edges: ascending and contiguous
    std::vector<uint32_t> fallback; // site indices
};

struct TopoFile {
    // Edge indices that hold the file, ascending. Edges are numbered site by site, so the
    // holders of one site are contiguous (rank() finds them by binary search).
    std::vector<uint32_t> holders;
    uint64_t size = 0; // bytes (0: unknown); what edges served of it counts as views
    // The rendezvous key within a site (0: the hash of the path). The files of one packaged
    // title share one, so a player is sent to the same edge for all of them.
    uint64_t group = 0;
};

// Heterogeneous lookup: a steering request finds its file by string_view, without a copy.
struct PathHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// A client prefix a site serves: from the fleet's config, or learned over BGP by its edges.
struct SitePrefix {
    io::IpPrefix prefix;
    uint32_t med = 0;
    uint32_t path_len = 0;
    bool bgp = false;
};

// One site announcing one prefix (Topology::prefix_sites).
struct PrefixSite {
    uint32_t site = 0;
    uint32_t med = 0;
    uint32_t path_len = 0;
    bool bgp = false;
};

struct Topology {
    std::vector<TopoEdge> edges;
    std::vector<TopoSite> sites;
    std::string origin_url; // empty: no origin
    std::unordered_map<std::string, TopoFile, PathHash, std::equal_to<>> files;
    // Prefix -> index into prefix_sites (the sites announcing exactly that prefix, in rank
    // order: tier, MED, AS path length, fleet order).
    // Shared: a topology is copied when an edge's eligibility changes; the tables are not.
    std::shared_ptr<const PrefixTable> prefixes = std::make_shared<const PrefixTable>();
    std::shared_ptr<const std::vector<std::vector<PrefixSite>>> prefix_sites =
        std::make_shared<const std::vector<std::vector<PrefixSite>>>();
    std::vector<uint32_t> ix_sites; // every ix site, in fleet order

    // Builds `prefixes` and `prefix_sites` from each site's prefixes (call after sites).
    void index_prefixes(const std::vector<std::vector<io::IpPrefix>>& site_prefixes);
    void index_prefixes(const std::vector<std::vector<SitePrefix>>& site_prefixes);
};

enum class RankReason : uint8_t { kPrefix, kFallback, kExchange, kOrigin };

struct Ranked {
    int32_t edge = -1; // -1: the origin
    int32_t site = -1;
    int32_t via = -1; // kFallback: the covering site whose fallback this is
    RankReason reason = RankReason::kOrigin;
    io::IpPrefix matched; // the client prefix that put this site in the list (kPrefix)
    bool bgp = false;     // kPrefix: learned over BGP (with this MED)
    uint32_t med = 0;
};

// Ids and paths are hashed with vcdn::hash64 (base/hash.h).
using vcdn::hash64;
// Rendezvous score of an edge for a file.
uint64_t rendezvous_score(uint64_t file_hash, uint64_t edge_hash);

// Ranks for `file` (which must be in topo.files; else only the origin) and `client`.
// At most `max` entries; the origin is always last when configured (even beyond max).
std::vector<Ranked> rank(const Topology& topo, std::string_view file, const io::IpAddress& client,
                         size_t max);
// The same with the file already looked up (nullptr: not in the topology).
std::vector<Ranked> rank(const Topology& topo, std::string_view file, const TopoFile* tf,
                         const io::IpAddress& client, size_t max);
const TopoFile* find_file(const Topology& topo, std::string_view file);

// "prefix 10.1.0.0/16", "prefix 10.1.0.0/16 (bgp, med 10)", "fallback of isp-a",
// "exchange", "origin".
std::string describe(const Topology& topo, const Ranked& r);

} // namespace vcdn::steer
