#include <gtest/gtest.h>

#include <map>
#include <set>

#include <vcdn/control/manifest.h>

namespace vcdn::control {
namespace {

Fleet fleet() {
    Fleet f;
    f.origin_url = "http://origin:8000";
    f.origin_mirrors = {"http://mirror:8000"};
    SiteSpec a;
    a.name = "isp-a";
    a.fill_peer_wait_s = 5;
    a.fill_tier_wait_s = 10;
    for (const char* id : {"a1", "a2", "a3"})
        a.edges.push_back(EdgeSpec{id,
                                   std::string("http://") + id + ":80",
                                   "",
                                   {token_hash("edge-secret-0123-12")},
                                   1000000,
                                   0,
                                   10});
    a.edges.push_back(EdgeSpec{
        "a4", "http://a4:80", "", {token_hash("edge-secret-0123-12")}, 0, 0, 10}); // no storage
    SiteSpec x;
    x.name = "ix-1";
    x.tier = Tier::kIx;
    x.edges.push_back(
        EdgeSpec{"x1", "http://x1:80", "", {token_hash("edge-secret-0123-12")}, 100000000, 0, 10});
    f.sites = {a, x};
    return f;
}

std::vector<CatalogEntry> files() {
    std::vector<CatalogEntry> out;
    for (int i = 0; i < 20; ++i)
        out.push_back(CatalogEntry{"/t/" + std::to_string(i) + "/v.mp4", 100000,
                                   std::string(64, 'a'), static_cast<uint32_t>(i), 235,
                                   i == 0 ? 1000.0 : 1.0});
    return out;
}

const ManifestEntry* entry_for(const EdgeManifest& m, uint32_t file) {
    for (const ManifestEntry& e : m.files)
        if (e.file == file) return &e;
    return nullptr;
}

TEST(Manifest, SourcesArePeersThenParentSitesThenOriginAndMirrors) {
    const auto cat = files();
    FleetPlan p = plan_fleet(fleet(), cat, {});
    EXPECT_EQ(p.edges.count("a4"), 0u) << "an edge without storage has no manifest";
    ASSERT_EQ(p.edges.count("x1"), 1u);
    EXPECT_EQ(p.edges.at("x1").files.size(), cat.size()); // the exchange holds everything
    // The hit is on every edge of isp-a; exactly one of them (the first-ranked) has no peer
    // to wait for, the others list the ones ranked before them.
    size_t without_peers = 0;
    std::set<size_t> peer_counts;
    for (const char* id : {"a1", "a2", "a3"}) {
        const ManifestEntry* e = entry_for(p.edges.at(id), 0);
        ASSERT_NE(e, nullptr) << id << " lacks the hit";
        size_t peers = 0;
        int last_kind = -1;
        for (const FillSource& s : e->sources) {
            EXPECT_GE(static_cast<int>(s.kind), last_kind) << "kinds out of order on " << id;
            last_kind = static_cast<int>(s.kind);
            peers += s.kind == SourceKind::kPeer;
            EXPECT_NE(s.edge, id) << "an edge is its own source";
        }
        without_peers += peers == 0;
        peer_counts.insert(peers);
        ASSERT_GE(e->sources.size(), 3u);
        const FillSource& tier = e->sources[e->sources.size() - 3];
        EXPECT_EQ(tier.kind, SourceKind::kTier);
        EXPECT_EQ(tier.edge, "x1");
        EXPECT_EQ(e->sources[e->sources.size() - 2].url, "http://origin:8000");
        EXPECT_EQ(e->sources.back().url, "http://mirror:8000");
        EXPECT_EQ(e->sources.back().kind, SourceKind::kOrigin);
    }
    EXPECT_EQ(without_peers, 1u);
    EXPECT_EQ(peer_counts, (std::set<size_t>{0, 1, 2}));
    // The exchange's own sources: only the origin and its mirror.
    for (const ManifestEntry& e : p.edges.at("x1").files) {
        ASSERT_EQ(e.sources.size(), 2u);
        EXPECT_EQ(e.sources[0].kind, SourceKind::kOrigin);
    }
    EXPECT_EQ(p.edges.at("a1").peer_wait_ms, 5000u);
    EXPECT_EQ(p.edges.at("a1").tier_wait_ms, 10000u);
}

TEST(Manifest, DigestFollowsTheContentOnly) {
    const auto cat = files();
    FleetPlan p1 = plan_fleet(fleet(), cat, {});
    FleetPlan p2 = plan_fleet(fleet(), cat, {});
    for (const auto& [id, m] : p1.edges)
        EXPECT_EQ(m.digest, p2.edges.at(id).digest) << id;
    Fleet moved = fleet();
    moved.origin_url = "http://origin2:8000";
    FleetPlan p3 = plan_fleet(moved, cat, {});
    EXPECT_NE(p1.edges.at("x1").digest, p3.edges.at("x1").digest);
    // An exchange parent given explicitly: an embedded site with fill_from = [] and no ix
    // site at all has no tier sources.
    Fleet lone = fleet();
    lone.sites.pop_back();
    FleetPlan p4 = plan_fleet(lone, cat, {});
    for (const ManifestEntry& e : p4.edges.at("a1").files)
        for (const FillSource& s : e.sources)
            EXPECT_NE(s.kind, SourceKind::kTier);
}

TEST(Manifest, GroupDemandRaisesAFileAboveTheImportedFeed) {
    auto cat = files();
    Fleet f = fleet();
    // Room for 2 files per edge of isp-a (200 kB): the hit and one more.
    for (auto& e : f.sites[0].edges)
        if (e.storage_bytes) e.storage_bytes = 200000;
    FleetPlan before = plan_fleet(f, cat, {});
    std::map<std::string, std::map<std::string, double>> demand;
    demand["isp-a"]["/t/7/v.mp4"] = 5000; // the site's players want title 7 most
    FleetPlan after = plan_fleet(f, cat, demand);
    auto holds = [&](const FleetPlan& p, uint32_t file) {
        size_t n = 0;
        for (const char* id : {"a1", "a2", "a3"})
            n += entry_for(p.edges.at(id), file) != nullptr;
        return n;
    };
    EXPECT_EQ(holds(before, 7), 0u);
    EXPECT_GE(holds(after, 7), 2u);
    // The exchange site is another group: its plan did not change.
    EXPECT_EQ(before.edges.at("x1").digest, after.edges.at("x1").digest);
}

TEST(Manifest, APackagedTitlesFilesShareOneGroupAndTheirEdges) {
    std::vector<CatalogEntry> cat = {
        {"/t/1/manifest.mpd", 2000, std::string(64, 'a'), 1, 0, 5},
        {"/t/1/r0.mp4", 90000, std::string(64, 'b'), 1, 750, 1},
        {"/t/1/r1.mp4", 40000, std::string(64, 'c'), 1, 300, 1},
        {"/t/2/v-235k.mp4", 90000, std::string(64, 'd'), 2, 235, 1}, // no manifest: on its own
        {"/loose.mp4", 90000, std::string(64, 'e'), 0, 0, 1},
    };
    const std::vector<uint64_t> g = title_groups(cat);
    EXPECT_NE(g[0], 0u);
    EXPECT_EQ(g[1], g[0]);
    EXPECT_EQ(g[2], g[0]);
    EXPECT_EQ(g[3], 0u);
    EXPECT_EQ(g[4], 0u);
    // In the plan, the three files of title 1 are on the same edges.
    const FleetPlan plan = plan_fleet(fleet(), cat, {});
    std::map<std::string, std::set<std::string>> on;
    for (const auto& [id, m] : plan.edges)
        for (const ManifestEntry& me : m.files)
            on[cat[me.file].path].insert(id);
    ASSERT_FALSE(on["/t/1/manifest.mpd"].empty());
    EXPECT_EQ(on["/t/1/r0.mp4"], on["/t/1/manifest.mpd"]);
    EXPECT_EQ(on["/t/1/r1.mp4"], on["/t/1/manifest.mpd"]);
}

} // namespace
} // namespace vcdn::control
