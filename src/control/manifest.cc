#include <vcdn/control/manifest.h>

#include <algorithm>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include <vcdn/base/sha256.h>
#include <vcdn/steer/steering.h>

namespace vcdn::control {

std::vector<double> group_popularity(const std::vector<CatalogEntry>& files,
                                     const std::map<std::string, double>* demand) {
    std::vector<double> out(files.size());
    for (size_t i = 0; i < files.size(); ++i) {
        double p = files[i].popularity;
        if (demand)
            if (auto it = demand->find(files[i].path); it != demand->end())
                p = std::max(p, it->second);
        out[i] = p;
    }
    return out;
}

std::vector<uint64_t> title_groups(const std::vector<CatalogEntry>& files) {
    std::unordered_set<uint32_t> packaged;
    for (const CatalogEntry& f : files)
        if (f.title != 0 && (f.path.ends_with(".mpd") || f.path.ends_with(".m3u8")))
            packaged.insert(f.title);
    std::vector<uint64_t> out(files.size(), 0);
    for (size_t i = 0; i < files.size(); ++i)
        if (packaged.count(files[i].title))
            out[i] = steer::hash64(fmt::format("vcdn-title|{}", files[i].title)) | 1;
    return out;
}

namespace {

struct SitePlan {
    std::vector<const EdgeSpec*> edges; // the cluster: edges with storage
    // file index -> the cluster's holders (indices into `edges`), first-ranked first
    std::map<uint32_t, std::vector<uint32_t>> holders;
    std::vector<std::vector<place::PlacedCopy>> per_edge;
    // Make-before-break: per edge, files it keeps until their new holders have them; and per
    // file, the edges of this site that keep it (fill sources for the new holders).
    std::vector<std::vector<uint32_t>> retained;
    std::map<uint32_t, std::vector<uint32_t>> retainers;
};

// Adds the retained copies to every site's plan (see FleetState).
void retain(std::map<std::string, SitePlan>* plans, const std::vector<CatalogEntry>& files,
            const FleetState& state) {
    std::unordered_map<std::string_view, uint32_t> index;
    index.reserve(files.size());
    for (uint32_t i = 0; i < files.size(); ++i)
        index.emplace(files[i].path, i);
    std::unordered_map<std::string_view, std::unordered_set<uint32_t>> held; // edge id -> files
    for (const auto& [id, paths] : *state.inventory) {
        auto& h = held[id];
        for (const std::string& p : paths)
            if (auto it = index.find(p); it != index.end()) h.insert(it->second);
    }
    auto serves = [&](const EdgeSpec* e, uint32_t f) {
        if (!state.up.count(e->id)) return false;
        auto it = held.find(e->id);
        return it != held.end() && it->second.count(f);
    };
    std::vector<char> planned(files.size(), 0), served(files.size(), 0);
    for (const auto& [name, sp] : *plans)
        for (const auto& [f, hs] : sp.holders) {
            planned[f] = 1;
            for (uint32_t h : hs)
                served[f] = served[f] || serves(sp.edges[h], f);
        }
    for (auto& [name, sp] : *plans) {
        sp.retained.assign(sp.edges.size(), {});
        for (size_t e = 0; e < sp.edges.size(); ++e) {
            auto it = held.find(sp.edges[e]->id);
            if (it == held.end()) continue;
            std::unordered_set<uint32_t> mine;
            uint64_t placed_bytes = 0;
            for (const place::PlacedCopy& c : sp.per_edge[e]) {
                mine.insert(c.file);
                placed_bytes += files[c.file].size;
            }
            std::vector<uint32_t> keep;
            for (uint32_t f : it->second) {
                if (mine.count(f) || !planned[f]) continue;
                bool covered = served[f];
                if (auto hs = sp.holders.find(f); hs != sp.holders.end() && !hs->second.empty()) {
                    covered = false; // the site's own new holders must have it
                    for (uint32_t h : hs->second)
                        covered = covered || serves(sp.edges[h], f);
                }
                if (covered) continue;
                keep.push_back(f);
            }
            // What is kept must fit beside what is placed, or an edge full of files it keeps
            // could never fill the ones it is given (and two such edges could wait on each
            // other for ever): the most popular are kept, the rest dropped now.
            std::sort(keep.begin(), keep.end(), [&](uint32_t a, uint32_t b) {
                return files[a].popularity != files[b].popularity
                           ? files[a].popularity > files[b].popularity
                           : a < b;
            });
            const uint64_t room = sp.edges[e]->storage_bytes + sp.edges[e]->flash_bytes;
            uint64_t used = placed_bytes;
            for (uint32_t f : keep) {
                if (used > room || files[f].size > room - used) continue;
                used += files[f].size;
                sp.retained[e].push_back(f);
                sp.retainers[f].push_back(static_cast<uint32_t>(e));
            }
            std::sort(sp.retained[e].begin(), sp.retained[e].end());
        }
    }
}

} // namespace

FleetPlan plan_fleet(const Fleet& fleet, const std::vector<CatalogEntry>& files,
                     const std::map<std::string, std::map<std::string, double>>& demand,
                     const place::PlacementOptions& opt, const FleetState* state) {
    FleetPlan out;
    if (files.empty()) return out;
    const std::vector<uint64_t> groups = title_groups(files);
    std::vector<uint64_t> file_hash(files.size());
    for (size_t i = 0; i < files.size(); ++i)
        file_hash[i] = groups[i] ? groups[i] : steer::hash64(files[i].path);

    // Placement per site, with its group's popularity.
    std::map<std::string, std::vector<double>> pop_by_group;
    std::map<std::string, SitePlan> plans;
    for (const SiteSpec& s : fleet.sites) {
        SitePlan sp;
        std::vector<place::EdgeStorage> storage;
        size_t taking = 0; // edges that take new files (not drained)
        for (const EdgeSpec& e : s.edges) {
            if (e.storage_bytes == 0 && e.flash_bytes == 0) continue;
            sp.edges.push_back(&e);
            // A drained edge is placed nothing: its files go to the others (it keeps them
            // until those have them: retain()).
            const bool drained = state && state->drained.count(e.id);
            storage.push_back({e.id, drained ? 0 : e.storage_bytes, drained ? 0 : e.flash_bytes,
                               e.capacity_gbps});
            taking += !drained;
        }
        if (sp.edges.empty()) continue;
        place::PlacementOptions site_opt = opt;
        site_opt.min_copies = std::max<uint32_t>(
            opt.min_copies, s.min_copies ? s.min_copies : (taking >= 2 ? 2u : 1u));
        auto pit = pop_by_group.find(s.group_name());
        if (pit == pop_by_group.end()) {
            auto d = demand.find(s.group_name());
            pit = pop_by_group
                      .emplace(s.group_name(),
                               group_popularity(files, d == demand.end() ? nullptr : &d->second))
                      .first;
        }
        std::vector<place::FileDemand> fd(files.size());
        for (size_t i = 0; i < files.size(); ++i)
            fd[i] = {files[i].path, files[i].size, pit->second[i], groups[i]};
        place::ClusterPlan cp = place::place_cluster(fd, storage, site_opt);
        for (size_t e = 0; e < cp.per_edge.size(); ++e)
            for (const place::PlacedCopy& c : cp.per_edge[e])
                sp.holders[c.file].push_back(static_cast<uint32_t>(e));
        std::vector<uint64_t> edge_hash(sp.edges.size());
        for (size_t e = 0; e < sp.edges.size(); ++e)
            edge_hash[e] = steer::hash64(sp.edges[e]->id);
        for (auto& [f, h] : sp.holders)
            std::sort(h.begin(), h.end(), [&](uint32_t a, uint32_t b) {
                const uint64_t sa = steer::rendezvous_score(file_hash[f], edge_hash[a]);
                const uint64_t sb = steer::rendezvous_score(file_hash[f], edge_hash[b]);
                return sa != sb ? sa > sb : a < b;
            });
        sp.per_edge = std::move(cp.per_edge);
        sp.retained.assign(sp.edges.size(), {});
        plans.emplace(s.name, std::move(sp));
    }
    if (state && state->inventory) retain(&plans, files, *state);

    for (const SiteSpec& s : fleet.sites) {
        auto pit = plans.find(s.name);
        if (pit == plans.end()) continue;
        const SitePlan& sp = pit->second;
        // The fill hierarchy: explicit parents, or every exchange site for an embedded one.
        std::vector<const SitePlan*> parents;
        if (!s.fill_from.empty()) {
            for (const std::string& p : s.fill_from)
                if (auto it = plans.find(p); it != plans.end()) parents.push_back(&it->second);
        } else if (s.tier == Tier::kEmbedded) {
            for (const SiteSpec& o : fleet.sites)
                if (o.tier == Tier::kIx)
                    if (auto it = plans.find(o.name); it != plans.end())
                        parents.push_back(&it->second);
        }
        for (size_t e = 0; e < sp.edges.size(); ++e) {
            EdgeManifest m;
            m.edge_id = sp.edges[e]->id;
            m.site = s.name;
            m.peer_wait_ms = s.fill_peer_wait_s * 1000;
            m.tier_wait_ms = s.fill_tier_wait_s * 1000;
            Sha256 digest;
            digest.update(fmt::format("{} {} {}\n", m.site, m.peer_wait_ms, m.tier_wait_ms));
            std::vector<place::PlacedCopy> copies = sp.per_edge[e];
            const size_t placed_count = copies.size();
            for (uint32_t f : sp.retained[e])
                copies.push_back(place::PlacedCopy{f, place::StorageTier::kDisk});
            for (size_t ci = 0; ci < copies.size(); ++ci) {
                const place::PlacedCopy& c = copies[ci];
                ManifestEntry me;
                me.file = c.file;
                me.tier = c.tier;
                me.retained = ci >= placed_count;
                out.retained += me.retained;
                m.retained += me.retained;
                static const std::vector<uint32_t> kNone;
                auto hi = sp.holders.find(c.file);
                const std::vector<uint32_t>& holders = hi == sp.holders.end() ? kNone : hi->second;
                for (uint32_t h : holders) {
                    if (h == e) break; // only those ranked before this edge
                    me.sources.push_back({SourceKind::kPeer, sp.edges[h]->url, sp.edges[h]->id});
                }
                // The site's edges that keep the file for now: the nearest copy there is.
                if (auto ri = sp.retainers.find(c.file); ri != sp.retainers.end())
                    for (uint32_t r : ri->second)
                        if (r != e)
                            me.sources.push_back(
                                {SourceKind::kPeer, sp.edges[r]->url, sp.edges[r]->id});
                for (const SitePlan* p : parents)
                    if (auto it = p->holders.find(c.file); it != p->holders.end())
                        for (uint32_t h : it->second)
                            me.sources.push_back(
                                {SourceKind::kTier, p->edges[h]->url, p->edges[h]->id});
                if (!fleet.origin_url.empty())
                    me.sources.push_back({SourceKind::kOrigin, fleet.origin_url, {}});
                for (const std::string& mirror : fleet.origin_mirrors)
                    me.sources.push_back({SourceKind::kOrigin, mirror, {}});
                const CatalogEntry& f = files[c.file];
                m.bytes += f.size;
                digest.update(fmt::format("{} {} {} {}{}", f.path, f.size, f.sha256,
                                          c.tier == place::StorageTier::kFlash ? "f" : "d",
                                          me.retained ? " r" : ""));
                for (const FillSource& src : me.sources)
                    digest.update(fmt::format(" {}:{}", source_kind_name(src.kind), src.url));
                digest.update("\n");
                m.files.push_back(std::move(me));
            }
            m.digest = digest.final_hex();
            out.edges.emplace(m.edge_id, std::move(m));
        }
    }
    return out;
}

wire::Manifest to_wire_manifest(
    const EdgeManifest& m, int64_t version, int64_t generation,
    const std::vector<CatalogEntry>& files, int64_t signed_until,
    const std::function<std::string(const FillSource& source, const std::string& path)>& sign) {
    wire::Manifest out;
    out.edge = m.edge_id;
    out.site = m.site;
    out.version = version;
    out.generation = generation;
    out.peer_wait_ms = m.peer_wait_ms;
    out.tier_wait_ms = m.tier_wait_ms;
    out.signed_until = signed_until;
    out.files.reserve(m.files.size());
    for (const ManifestEntry& e : m.files) {
        const CatalogEntry& f = files[e.file];
        wire::WantedFile w{f.path, f.size, f.sha256, e.tier == place::StorageTier::kFlash,
                           e.sources};
        for (wire::Source& src : w.sources)
            src.query = sign(src, f.path);
        out.files.push_back(std::move(w));
    }
    return out;
}

} // namespace vcdn::control
