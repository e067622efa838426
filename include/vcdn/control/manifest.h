#pragma once
// Manifests: what each edge must hold and where it fills each file from. Pure: the control
// plane computes a FleetPlan from its snapshot (fleet, catalog, popularity) whenever one of
// them changes; `vcdn sim` can call the same function.
//
// Per site (a cluster), place::place_cluster decides which files each edge holds. For each
// copy the edge gets a ranked list of fill sources:
//   1. peers: the other edges of its site assigned the file that rank before it (the file's
//      first-ranked holder in a site has none: it is the one that fetches from outside);
//   2. tier: the holders of the file in the site's parent sites (`fill_from`, by default the
//      exchange sites for an embedded site), first-ranked first;
//   3. the origin, then its mirrors.
// Escalation: a peer or tier source that does not hold the file yet answers 404; the edge
// keeps asking it until the site's wait has passed (peer_wait, then tier_wait from the start
// of that file's fill), then moves down the list. Errors move down at once.
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include <vcdn/control/fleet.h>
#include <vcdn/control/store.h>
#include <vcdn/place/placement.h>
#include <vcdn/wire/manifest.h>

namespace vcdn::control {

// The same sources the edge's fill reads (peer, tier, origin): the wire module's.
using wire::source_kind_name;
using wire::SourceKind;
using FillSource = wire::Source;

struct ManifestEntry {
    uint32_t file = 0; // index into the catalog given to plan_fleet
    place::StorageTier tier = place::StorageTier::kDisk;
    std::vector<FillSource> sources;
    // Kept, not placed: the edge holds the file, placement has given it to others, and they do
    // not have it yet (make-before-break: see FleetState).
    bool retained = false;
};

struct EdgeManifest {
    std::string edge_id;
    std::string site;
    uint32_t peer_wait_ms = 0;
    uint32_t tier_wait_ms = 0;
    std::vector<ManifestEntry> files; // hottest first
    uint64_t bytes = 0;
    size_t retained = 0; // entries kept until their new holders have them
    std::string digest;  // SHA-256 of the content: a change makes a new version
};

struct FleetPlan {
    std::map<std::string, EdgeManifest> edges; // edge id -> manifest (edges with storage only)
    size_t retained = 0; // entries kept for make-before-break, over all manifests
};

// Popularity of each catalog file for a group: the smoothed demand of that group, or the
// imported popularity when that is higher (a new title has no history yet).
std::vector<double> group_popularity(const std::vector<CatalogEntry>& files,
                                     const std::map<std::string, double>* demand);

// The rendezvous key of each catalog file (place::FileDemand::group, steer::TopoFile::group):
// the files of a packaged title — a title with a DASH or HLS manifest, whose relative URLs a
// player follows on whatever edge it is on — share their title's; any other file is 0 (its own).
std::vector<uint64_t> title_groups(const std::vector<CatalogEntry>& files);

// What the fleet is doing now, for make-before-break changes. A drained edge is placed nothing
// (its files go to the others). An edge keeps a file placement no longer gives it — the entry
// is `retained` in its manifest, so it keeps the file and steering keeps using it — until an
// edge placement gives the file to (in the same site, or anywhere when the site has none) is
// up and holds it; only then does its manifest drop the file (and the edge delete it, after
// the delete delay). A file placement gives to no edge at all is dropped at once (the origin
// serves it).
struct FleetState {
    std::set<std::string> drained;                                              // edge ids
    std::set<std::string> up;                                                   // edge ids
    const std::map<std::string, std::vector<std::string>>* inventory = nullptr; // id -> paths
};

// Sites whose edges have no storage_bytes take no part (their edges get no manifest). Each
// site places at least its min_copies (default 2 with two or more edges that take new files).
FleetPlan plan_fleet(const Fleet& fleet, const std::vector<CatalogEntry>& files,
                     const std::map<std::string, std::map<std::string, double>>& demand,
                     const place::PlacementOptions& opt = {}, const FleetState* state = nullptr);

// The message an edge fetches (GET /api/v1/edges/<id>/manifest), to be wire::encode()d.
// `sign` gives the query that lets this edge fetch `path` from `source` (a URL signature made
// with the source's own key, scoped to that path: the edge can fetch what its manifest lists
// and nothing else), or "" when the source takes unsigned requests; signed_until is when the
// first of those signatures expires.
wire::Manifest to_wire_manifest(
    const EdgeManifest& m, int64_t version, int64_t generation,
    const std::vector<CatalogEntry>& files, int64_t signed_until,
    const std::function<std::string(const FillSource& source, const std::string& path)>& sign);

} // namespace vcdn::control
