#include <vcdn/steer/steering.h>

#include <algorithm>
#include <cstring>
#include <fmt/format.h>

namespace vcdn::steer {

uint64_t rendezvous_score(uint64_t file_hash, uint64_t edge_hash) {
    return mix64(file_hash ^ mix64(edge_hash));
}

void Topology::index_prefixes(const std::vector<std::vector<io::IpPrefix>>& site_prefixes) {
    std::vector<std::vector<SitePrefix>> sp(site_prefixes.size());
    for (size_t s = 0; s < site_prefixes.size(); ++s)
        for (const io::IpPrefix& p : site_prefixes[s])
            sp[s].push_back(SitePrefix{p, 0, 0, false});
    index_prefixes(sp);
}

void Topology::index_prefixes(const std::vector<std::vector<SitePrefix>>& site_prefixes) {
    // One table entry per distinct prefix; several sites may announce the same one. Sorted
    // rather than hashed: with a full BGP table (1M prefixes per site) a sort of a flat
    // vector is several times faster than a node-based map.
    struct Item {
        io::IpPrefix prefix;
        PrefixSite ps;
    };
    std::vector<Item> items;
    size_t total = 0;
    for (const auto& v : site_prefixes)
        total += v.size();
    items.reserve(total);
    for (uint32_t s = 0; s < site_prefixes.size(); ++s)
        for (const SitePrefix& p : site_prefixes[s])
            items.push_back(Item{p.prefix, PrefixSite{s, p.med, p.path_len, p.bgp}});
    auto key_less = [](const io::IpPrefix& a, const io::IpPrefix& b) {
        if (a.addr.family != b.addr.family) return a.addr.family < b.addr.family;
        const int c = std::memcmp(a.addr.bytes, b.addr.bytes, sizeof a.addr.bytes);
        return c != 0 ? c < 0 : a.bits < b.bits;
    };
    std::sort(items.begin(), items.end(), [&](const Item& a, const Item& b) {
        if (key_less(a.prefix, b.prefix)) return true;
        if (key_less(b.prefix, a.prefix)) return false;
        return a.ps.site < b.ps.site;
    });
    std::vector<PrefixTable::Entry> entries;
    auto ps = std::make_shared<std::vector<std::vector<PrefixSite>>>();
    for (size_t i = 0; i < items.size();) {
        size_t j = i;
        const uint32_t idx = static_cast<uint32_t>(ps->size());
        entries.push_back(PrefixTable::Entry{items[i].prefix, idx});
        auto& v = ps->emplace_back();
        for (; j < items.size() && items[j].prefix == items[i].prefix; ++j) {
            const PrefixSite& p = items[j].ps;
            if (v.empty() || v.back().site != p.site) {
                v.push_back(p);
            } else if (p.bgp && (!v.back().bgp || p.med < v.back().med ||
                                 (p.med == v.back().med && p.path_len < v.back().path_len))) {
                v.back() = p; // one site, twice: the better BGP route
            }
        }
        i = j;
    }
    // Rank order within one prefix: tier, then what the ISP prefers (MED, AS path), then the
    // fleet's order.
    for (auto& v : *ps)
        if (v.size() > 1)
            std::sort(v.begin(), v.end(), [&](const PrefixSite& a, const PrefixSite& b) {
                const auto ta = a.site < sites.size() ? sites[a.site].tier : SiteTier::kEmbedded;
                const auto tb = b.site < sites.size() ? sites[b.site].tier : SiteTier::kEmbedded;
                if (ta != tb) return ta < tb;
                if (a.med != b.med) return a.med < b.med;
                if (a.path_len != b.path_len) return a.path_len < b.path_len;
                return a.site < b.site;
            });
    prefixes = std::make_shared<const PrefixTable>(PrefixTable::build(std::move(entries)));
    prefix_sites = std::move(ps);
}

const TopoFile* find_file(const Topology& topo, std::string_view file) {
    auto it = topo.files.find(file);
    return it == topo.files.end() ? nullptr : &it->second;
}

std::vector<Ranked> rank(const Topology& topo, std::string_view file, const io::IpAddress& client,
                         size_t max) {
    return rank(topo, file, find_file(topo, file), client, max);
}

std::vector<Ranked> rank(const Topology& topo, std::string_view file, const TopoFile* tf,
                         const io::IpAddress& client, size_t max) {
    std::vector<Ranked> sites; // site order, before edges are chosen
    sites.reserve(8);
    // Sites already listed: a per-thread scratch, cleared entry by entry below (a fleet has
    // thousands of sites; a steering answer lists a few dozen).
    thread_local std::vector<uint8_t> seen;
    if (seen.size() < topo.sites.size()) seen.resize(topo.sites.size(), 0);
    auto add_site = [&](uint32_t s, RankReason why, int32_t via, const io::IpPrefix* matched) {
        if (s >= topo.sites.size() || seen[s]) return;
        seen[s] = 1;
        Ranked r;
        r.site = static_cast<int32_t>(s);
        r.reason = why;
        r.via = via;
        if (matched) r.matched = *matched;
        sites.push_back(r);
    };
    if (client.family) {
        const PrefixTable::Entry* matches[129];
        size_t n = topo.prefixes->lookup_all(client, matches, 129);
        for (size_t i = 0; i < n; ++i) {
            // Already in rank order (tier, MED, AS path length): see index_prefixes.
            for (const PrefixSite& ps : (*topo.prefix_sites)[matches[i]->value]) {
                const size_t before = sites.size();
                add_site(ps.site, RankReason::kPrefix, -1, &matches[i]->prefix);
                if (sites.size() > before) {
                    sites.back().bgp = ps.bgp;
                    sites.back().med = ps.med;
                }
            }
        }
        const size_t covering = sites.size();
        for (size_t i = 0; i < covering; ++i) {
            const uint32_t from = static_cast<uint32_t>(sites[i].site);
            for (uint32_t fb : topo.sites[from].fallback)
                add_site(fb, RankReason::kFallback, static_cast<int32_t>(from), nullptr);
        }
    }
    // Every other exchange comes next, in fleet order. They are walked lazily below: most
    // answers are full before the first few, and a fleet may have many exchanges.

    std::vector<Ranked> out;
    out.reserve(max + 1);
    if (tf) {
        const uint64_t fh = tf->group ? tf->group : hash64(file);
        thread_local std::vector<std::pair<uint64_t, uint32_t>> cand;
        const std::vector<uint32_t>& holders = tf->holders;
        bool resort = false; // the second walk: drained holders that are still alive
        auto take = [&](const Ranked& sr) {
            cand.clear();
            const uint32_t site = static_cast<uint32_t>(sr.site);
            // A site's edges are a contiguous, ascending range of indices: search the holders
            // by index (no look-up of each probed edge's site, which missed the cache).
            const std::vector<uint32_t>& range = topo.sites[site].edges;
            if (range.empty()) return;
            auto it = std::lower_bound(holders.begin(), holders.end(), range.front());
            for (; it != holders.end() && *it <= range.back(); ++it) {
                const TopoEdge& te = topo.edges[*it];
                if (resort ? te.last_resort : te.eligible)
                    cand.emplace_back(rendezvous_score(fh, te.hash), *it);
            }
            std::sort(cand.begin(), cand.end(), [](const auto& a, const auto& b) {
                return a.first > b.first || (a.first == b.first && a.second < b.second);
            });
            for (const auto& c : cand) {
                if (out.size() >= max) break;
                Ranked r = sr;
                r.edge = static_cast<int32_t>(c.second);
                out.push_back(r);
            }
        };
        auto walk = [&] {
            for (const Ranked& sr : sites) {
                if (out.size() >= max) break;
                take(sr);
            }
            for (uint32_t s : topo.ix_sites) {
                if (out.size() >= max) break;
                if (s >= topo.sites.size() || seen[s]) continue;
                Ranked r;
                r.site = static_cast<int32_t>(s);
                r.reason = RankReason::kExchange;
                take(r);
            }
        };
        walk();
        // No eligible edge holds the file: a drained one that still does serves it rather
        // than nobody (or the origin) until its new holders have it.
        if (out.empty() && max > 0)
            for (uint32_t h : holders)
                if (topo.edges[h].last_resort) {
                    resort = true;
                    walk();
                    break;
                }
    }
    for (const Ranked& r : sites)
        seen[static_cast<size_t>(r.site)] = 0;
    if (!topo.origin_url.empty()) {
        Ranked r;
        r.reason = RankReason::kOrigin;
        out.push_back(r);
    }
    return out;
}

std::string describe(const Topology& topo, const Ranked& r) {
    switch (r.reason) {
    case RankReason::kPrefix:
        if (r.bgp) return fmt::format("prefix {} (bgp, med {})", r.matched.to_string(), r.med);
        return "prefix " + r.matched.to_string();
    case RankReason::kFallback:
        return r.via >= 0 ? "fallback of " + topo.sites[static_cast<size_t>(r.via)].name
                          : "fallback";
    case RankReason::kExchange:
        return "exchange";
    case RankReason::kOrigin:
        return "origin";
    }
    return "?";
}

} // namespace vcdn::steer
