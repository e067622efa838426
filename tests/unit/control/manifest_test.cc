#include <gtest/gtest.h>

#include <algorithm>
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

size_t copies_in(const FleetPlan& p, const std::vector<std::string>& edges, uint32_t file,
                 bool retained) {
    size_t n = 0;
    for (const std::string& id : edges)
        if (auto it = p.edges.find(id); it != p.edges.end())
            if (const ManifestEntry* e = entry_for(it->second, file)) n += e->retained == retained;
    return n;
}

TEST(Manifest, EverySiteWithTwoEdgesPlacesTwoCopiesWhateverThePopularity) {
    const auto cat = files(); // 19 files of popularity 1 beside a hit of 1000
    Fleet roomy = fleet();    // room for every file three times
    for (size_t e = 0; e < 3; ++e)
        roomy.sites[0].edges[e].storage_bytes = 10000000;
    FleetPlan p = plan_fleet(roomy, cat, {});
    for (uint32_t f = 0; f < cat.size(); ++f)
        EXPECT_GE(copies_in(p, {"a1", "a2", "a3"}, f, false), 2u) << cat[f].path;
    // A site's own min_copies wins: 1 (an operator who accepts the risk), 3 (more).
    Fleet one = roomy;
    one.sites[0].min_copies = 1;
    Fleet three = roomy;
    three.sites[0].min_copies = 3;
    FleetPlan p1 = plan_fleet(one, cat, {});
    FleetPlan p3 = plan_fleet(three, cat, {});
    size_t single = 0;
    for (uint32_t f = 0; f < cat.size(); ++f) {
        single += copies_in(p1, {"a1", "a2", "a3"}, f, false) == 1;
        EXPECT_EQ(copies_in(p3, {"a1", "a2", "a3"}, f, false), 3u) << cat[f].path;
    }
    EXPECT_GT(single, 10u) << "min_copies = 1 leaves unpopular files with one copy";
    // A lone edge (the exchange) has one copy of each: there is no second.
    for (uint32_t f = 0; f < cat.size(); ++f)
        EXPECT_EQ(copies_in(p, {"x1"}, f, false), 1u);
}

TEST(Manifest, ADrainedEdgeIsPlacedNothingButKeepsWhatNoUpHolderHasYet) {
    const auto cat = files();
    // Before: a1 alone holds every file (say it was the site's only edge).
    std::map<std::string, std::vector<std::string>> inventory;
    for (const CatalogEntry& f : cat)
        inventory["a1"].push_back(f.path);
    FleetState st;
    st.drained = {"a1"};
    st.up = {"a2", "a3", "x1"};
    st.inventory = &inventory;
    Fleet f = fleet(); // a2 and a3 have room for every file
    f.sites[0].edges[0].storage_bytes = 2000000;
    f.sites[0].edges[1].storage_bytes = 2000000;
    f.sites[0].edges[2].storage_bytes = 2000000;
    FleetPlan p = plan_fleet(f, cat, {}, {}, &st);
    const EdgeManifest& a1 = p.edges.at("a1");
    ASSERT_EQ(a1.files.size(), cat.size()) << "a1 keeps every file: nobody else has one";
    EXPECT_EQ(a1.retained, cat.size());
    EXPECT_EQ(p.retained, cat.size());
    for (uint32_t f = 0; f < cat.size(); ++f) {
        EXPECT_EQ(copies_in(p, {"a1"}, f, false), 0u) << "a drained edge is placed nothing";
        EXPECT_EQ(copies_in(p, {"a2", "a3"}, f, false), 2u) << cat[f].path;
        // The new holders fill from a1, the nearest copy there is.
        for (const char* id : {"a2", "a3"}) {
            const ManifestEntry* e = entry_for(p.edges.at(id), f);
            ASSERT_NE(e, nullptr);
            bool from_a1 = false;
            for (const FillSource& src : e->sources)
                from_a1 = from_a1 || (src.kind == SourceKind::kPeer && src.edge == "a1");
            EXPECT_TRUE(from_a1) << id << " " << cat[f].path;
        }
    }
    const std::string kept_digest = a1.digest;

    // a2 has file 0 and is up: a1 lets go of it (one new holder with it is enough); a3 has
    // file 1 but is not up yet: a1 keeps it.
    inventory["a2"] = {cat[0].path};
    inventory["a3"] = {cat[1].path};
    st.up = {"a2", "x1"};
    FleetPlan q = plan_fleet(f, cat, {}, {}, &st);
    const EdgeManifest& a1q = q.edges.at("a1");
    EXPECT_EQ(entry_for(a1q, 0), nullptr) << "a1 still keeps a file a2 serves";
    ASSERT_NE(entry_for(a1q, 1), nullptr) << "a1 let go of a file only a down edge has";
    EXPECT_TRUE(entry_for(a1q, 1)->retained);
    EXPECT_NE(a1q.digest, kept_digest) << "a new manifest version, so the edge deletes file 0";

    // Every new holder up with every file: a1's manifest is empty (it deletes them all).
    for (const CatalogEntry& f : cat)
        inventory["a2"].push_back(f.path);
    st.up = {"a2", "a3", "x1"};
    FleetPlan r = plan_fleet(f, cat, {}, {}, &st);
    EXPECT_TRUE(r.edges.at("a1").files.empty());
    EXPECT_EQ(r.retained, 0u);
}

TEST(Manifest, AnEdgeKeepsWhatItLosesOnlyAsFarAsItsStorageAllows) {
    const auto cat = files(); // 20 files of 100,000 bytes
    // a1 held everything; now a2 and a3 (much larger, new: nothing up there has a file) take
    // most of it. a1 keeps what it loses only beside what it is given, within its 1,000,000
    // bytes: an edge full of kept files could never fill the ones it is given.
    Fleet f = fleet();
    f.sites[0].min_copies = 1;
    f.sites[0].edges[1].storage_bytes = 100000000;
    f.sites[0].edges[2].storage_bytes = 100000000;
    std::map<std::string, std::vector<std::string>> inventory;
    for (const CatalogEntry& c : cat)
        inventory["a1"].push_back(c.path);
    FleetState st;
    st.up = {"a1", "x1"};
    st.inventory = &inventory;
    FleetPlan p = plan_fleet(f, cat, {}, {}, &st);
    const EdgeManifest& a1 = p.edges.at("a1");
    const size_t placed = a1.files.size() - a1.retained;
    const size_t lost = cat.size() - placed;
    const size_t room = (1000000 - placed * 100000) / 100000;
    ASSERT_GT(room, 0u) << "the case needs room for some";
    ASSERT_GT(lost, room) << "the case needs more lost than room";
    EXPECT_EQ(a1.retained, room);
    EXPECT_EQ(a1.bytes, 1000000u);
    // Equal popularity (the hit is placed): the lowest indices are kept, the rest dropped.
    std::set<uint32_t> kept, dropped;
    for (uint32_t i = 0; i < cat.size(); ++i)
        if (const ManifestEntry* e = entry_for(a1, i); !e)
            dropped.insert(i);
        else if (e->retained)
            kept.insert(i);
    ASSERT_FALSE(kept.empty());
    ASSERT_FALSE(dropped.empty());
    EXPECT_LT(*kept.rbegin(), *dropped.begin());
}

TEST(Manifest, AFileNoEdgeIsGivenIsNotKept) {
    // A file placement gives to nobody (it does not fit anywhere) is not kept by its holder:
    // keeping it would keep it for ever.
    std::vector<CatalogEntry> cat = files();
    cat.push_back(CatalogEntry{"/huge.mp4", 500000000, std::string(64, 'b'), 99, 235, 0.0});
    std::map<std::string, std::vector<std::string>> inventory{{"x1", {"/huge.mp4"}}};
    FleetState st;
    st.up = {"x1", "a1", "a2", "a3"};
    st.inventory = &inventory;
    FleetPlan p = plan_fleet(fleet(), cat, {}, {}, &st);
    EXPECT_EQ(entry_for(p.edges.at("x1"), static_cast<uint32_t>(cat.size() - 1)), nullptr);
    EXPECT_EQ(p.retained, 0u);
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
