#include <vcdn/control/fleet_diff.h>

#include <fmt/format.h>
#include <set>

#include <vcdn/base/strings.h>
#include <vcdn/control/manifest.h>

namespace vcdn::control {

namespace {

std::string join(const std::vector<std::string>& v) {
    std::string out;
    for (const std::string& s : v)
        out += (out.empty() ? "" : ", ") + s;
    return out;
}

// The fields of two sites that differ (edges aside).
std::vector<std::string> site_changes(const SiteSpec& a, const SiteSpec& b) {
    std::vector<std::string> out;
    if (a.tier != b.tier)
        out.push_back(fmt::format("tier {} -> {}", tier_name(a.tier), tier_name(b.tier)));
    if (a.prefixes != b.prefixes) out.push_back("prefixes");
    if (a.fallback != b.fallback) out.push_back("fallback");
    if (a.group_name() != b.group_name()) out.push_back("group");
    if (a.fill_from != b.fill_from) out.push_back("fill_from");
    if (a.fill_peer_wait_s != b.fill_peer_wait_s || a.fill_tier_wait_s != b.fill_tier_wait_s)
        out.push_back("fill waits");
    if (a.bgp_allowed != b.bgp_allowed || a.bgp_allowed_asns != b.bgp_allowed_asns)
        out.push_back("bgp_allowed");
    return out;
}

std::vector<std::string> edge_changes(const EdgeSpec& a, const EdgeSpec& b) {
    std::vector<std::string> out;
    if (a.url != b.url) out.push_back("url");
    if (a.https_url != b.https_url) out.push_back("https_url");
    if (a.token_sha256 != b.token_sha256) out.push_back("token");
    if (a.storage_bytes != b.storage_bytes) out.push_back("storage_bytes");
    if (a.flash_bytes != b.flash_bytes) out.push_back("flash_bytes");
    if (a.capacity_gbps != b.capacity_gbps) out.push_back("capacity_gbps");
    return out;
}

struct EdgeAt {
    const SiteSpec* site = nullptr;
    const EdgeSpec* edge = nullptr;
};

std::map<std::string, EdgeAt> edges_of(const Fleet& f) {
    std::map<std::string, EdgeAt> out;
    for (const SiteSpec& s : f.sites)
        for (const EdgeSpec& e : s.edges)
            out[e.id] = EdgeAt{&s, &e};
    return out;
}

std::map<std::string, std::set<uint32_t>> placed(const FleetPlan& p) {
    std::map<std::string, std::set<uint32_t>> out;
    for (const auto& [id, m] : p.edges)
        for (const ManifestEntry& me : m.files)
            out[id].insert(me.file);
    return out;
}

} // namespace

FleetDiff diff_fleets(const Fleet& before, const Fleet& after,
                      const std::vector<CatalogEntry>& files,
                      const std::map<std::string, std::map<std::string, double>>& demand) {
    FleetDiff d;
    if (before.origin_url != after.origin_url)
        d.lines.push_back(fmt::format("origin: url {} -> {}", before.origin_url, after.origin_url));
    if (before.origin_mirrors != after.origin_mirrors) d.lines.push_back("origin: mirrors changed");
    if (before.origin_serves_players() != after.origin_serves_players())
        d.lines.push_back(fmt::format("origin: {} players", after.origin_serves_players()
                                                                ? "now serves"
                                                                : "no longer serves"));
    std::vector<std::string> kb, ka;
    for (const auth::SigningKey& k : before.origin_keys)
        kb.push_back(k.id);
    for (const auth::SigningKey& k : after.origin_keys)
        ka.push_back(k.id);
    if (kb != ka)
        d.lines.push_back(fmt::format("origin: signing keys [{}] -> [{}]", join(kb), join(ka)));

    for (const SiteSpec& s : after.sites) {
        const SiteSpec* old = before.find_site(s.name);
        if (!old) {
            ++d.sites_added;
            d.lines.push_back(fmt::format("site {}: added ({}, {} edges)", s.name,
                                          tier_name(s.tier), s.edges.size()));
        } else if (auto c = site_changes(*old, s); !c.empty()) {
            ++d.sites_changed;
            d.lines.push_back(fmt::format("site {}: changed: {}", s.name, join(c)));
        }
    }
    for (const SiteSpec& s : before.sites)
        if (!after.find_site(s.name)) {
            ++d.sites_removed;
            d.lines.push_back(
                fmt::format("site {}: removed (with {} edges)", s.name, s.edges.size()));
        }
    const auto eb = edges_of(before), ea = edges_of(after);
    for (const auto& [id, at] : ea) {
        auto it = eb.find(id);
        if (it == eb.end()) {
            ++d.edges_added;
            d.lines.push_back(fmt::format("edge {} ({}): added", id, at.site->name));
            continue;
        }
        std::vector<std::string> c = edge_changes(*it->second.edge, *at.edge);
        if (it->second.site->name != at.site->name)
            c.insert(c.begin(), fmt::format("site {} -> {}", it->second.site->name, at.site->name));
        if (!c.empty()) {
            ++d.edges_changed;
            d.lines.push_back(fmt::format("edge {} ({}): changed: {}", id, at.site->name, join(c)));
        }
    }
    for (const auto& [id, at] : eb)
        if (!ea.count(id)) {
            ++d.edges_removed;
            d.lines.push_back(fmt::format("edge {} ({}): removed", id, at.site->name));
        }

    // What placement does about it: the plans before and after, compared edge by edge.
    if (!files.empty()) {
        const auto pb = placed(plan_fleet(before, files, demand));
        const auto pa = placed(plan_fleet(after, files, demand));
        std::set<uint32_t> held_after;
        for (const auto& [id, set] : pa) {
            held_after.insert(set.begin(), set.end());
            auto it = pb.find(id);
            for (uint32_t f : set)
                if (it == pb.end() || !it->second.count(f)) {
                    ++d.copies_added;
                    d.bytes_to_fill += files[f].size;
                }
        }
        for (const auto& [id, set] : pb) {
            auto it = pa.find(id);
            for (uint32_t f : set)
                if (it == pa.end() || !it->second.count(f)) ++d.copies_removed;
        }
        std::set<uint32_t> only;
        for (const auto& [id, set] : pb)
            if (!ea.count(id))
                for (uint32_t f : set)
                    if (!held_after.count(f)) only.insert(f);
        d.files_only_on_leaving = only.size();
        if (d.copies_added || d.copies_removed)
            d.lines.push_back(fmt::format(
                "placement: {} copies added ({} to fill), {} dropped{}", d.copies_added,
                human_bytes(static_cast<double>(d.bytes_to_fill)), d.copies_removed,
                d.files_only_on_leaving
                    ? fmt::format("; {} files held only by leaving edges are placed on no "
                                  "remaining one",
                                  d.files_only_on_leaving)
                    : std::string()));
    }
    return d;
}

} // namespace vcdn::control
