#include <gtest/gtest.h>

#include <map>

#include <vcdn/steer/steering.h>

namespace vcdn::steer {
namespace {

io::IpAddress ip(const char* s) {
    return *io::IpAddress::parse(s);
}
io::IpPrefix pfx(const char* s) {
    return *io::IpPrefix::parse(s);
}

// Sites: 0 isp-a (embedded, 10.1.0.0/16, fallback ix-1), 1 isp-b (embedded, 10.1.2.0/24),
// 2 ix-1 (ix, 10.0.0.0/8), 3 ix-2 (ix, no prefixes). Two edges per site.
Topology make_topo() {
    Topology t;
    t.origin_url = "http://origin";
    const char* names[] = {"isp-a", "isp-b", "ix-1", "ix-2"};
    for (int s = 0; s < 4; ++s) {
        TopoSite ts;
        ts.name = names[s];
        ts.tier = s >= 2 ? SiteTier::kIx : SiteTier::kEmbedded;
        for (int k = 0; k < 2; ++k) {
            TopoEdge e;
            e.id = std::string(names[s]) + "-e" + std::to_string(k);
            e.url = "http://" + e.id;
            e.site = static_cast<uint32_t>(s);
            e.eligible = true;
            e.hash = hash64(e.id);
            ts.edges.push_back(static_cast<uint32_t>(t.edges.size()));
            t.edges.push_back(e);
        }
        t.sites.push_back(ts);
    }
    t.sites[0].fallback = {2};
    t.ix_sites = {2, 3};
    t.index_prefixes({{pfx("10.1.0.0/16")}, {pfx("10.1.2.0/24")}, {pfx("10.0.0.0/8")}, {}});
    TopoFile all;
    for (uint32_t i = 0; i < t.edges.size(); ++i)
        all.holders.push_back(i);
    t.files["/t/1/a.mp4"] = all;
    t.files["/t/1/nowhere.mp4"] = TopoFile{};
    return t;
}

std::vector<std::string> sites_of(const Topology& t, const std::vector<Ranked>& r) {
    std::vector<std::string> out;
    for (const Ranked& x : r)
        out.push_back(x.edge < 0 ? "origin"
                                 : t.sites[t.edges[static_cast<size_t>(x.edge)].site].name);
    return out;
}

TEST(Steering, LongestPrefixFirstThenShorterThenFallbackThenIxThenOrigin) {
    Topology t = make_topo();
    auto r = rank(t, "/t/1/a.mp4", ip("10.1.2.3"), 100);
    EXPECT_EQ(sites_of(t, r), (std::vector<std::string>{"isp-b", "isp-b", "isp-a", "isp-a", "ix-1",
                                                        "ix-1", "ix-2", "ix-2", "origin"}));
    EXPECT_EQ(r[0].reason, RankReason::kPrefix);
    EXPECT_EQ(describe(t, r[0]), "prefix 10.1.2.0/24");
    EXPECT_EQ(describe(t, r[2]), "prefix 10.1.0.0/16");
    EXPECT_EQ(describe(t, r[4]), "prefix 10.0.0.0/8"); // ix-1 covers the client itself
    EXPECT_EQ(describe(t, r[6]), "exchange");
    EXPECT_EQ(describe(t, r.back()), "origin");
}

TEST(Steering, BgpMedThenAsPathBreakTiesBetweenSitesOfOneTier) {
    Topology t = make_topo();
    // isp-a and isp-b hear the same /16 over BGP; isp-b with the lower MED.
    std::vector<std::vector<SitePrefix>> sp(4);
    sp[0] = {SitePrefix{pfx("10.1.0.0/16"), 20, 1, true}};
    sp[1] = {SitePrefix{pfx("10.1.0.0/16"), 5, 3, true}};
    sp[2] = {SitePrefix{pfx("10.1.0.0/16"), 0, 1, true}}; // ix: after the embedded sites
    t.index_prefixes(sp);
    auto r = rank(t, "/t/1/a.mp4", ip("10.1.9.9"), 100);
    EXPECT_EQ(sites_of(t, r), (std::vector<std::string>{"isp-b", "isp-b", "isp-a", "isp-a", "ix-1",
                                                        "ix-1", "ix-2", "ix-2", "origin"}));
    EXPECT_EQ(describe(t, r[0]), "prefix 10.1.0.0/16 (bgp, med 5)");
    EXPECT_EQ(describe(t, r[2]), "prefix 10.1.0.0/16 (bgp, med 20)");
    // Equal MEDs: the shorter AS path first.
    sp[1][0].med = 20;
    t.index_prefixes(sp);
    r = rank(t, "/t/1/a.mp4", ip("10.1.9.9"), 2);
    EXPECT_EQ(sites_of(t, r)[0], "isp-a");
    // A more specific prefix still wins over any MED.
    sp[0].push_back(SitePrefix{pfx("10.1.9.0/24"), 100, 9, true});
    t.index_prefixes(sp);
    r = rank(t, "/t/1/a.mp4", ip("10.1.9.9"), 2);
    EXPECT_EQ(describe(t, r[0]), "prefix 10.1.9.0/24 (bgp, med 100)");
}

TEST(Steering, FallbackSitesComeBeforeOtherExchanges) {
    Topology t = make_topo();
    t.index_prefixes({{pfx("10.1.0.0/16")}, {}, {}, {}}); // ix-1 no longer covers anyone
    auto r = rank(t, "/t/1/a.mp4", ip("10.1.9.9"), 100);
    EXPECT_EQ(sites_of(t, r), (std::vector<std::string>{"isp-a", "isp-a", "ix-1", "ix-1", "ix-2",
                                                        "ix-2", "origin"}));
    EXPECT_EQ(describe(t, r[2]), "fallback of isp-a");
}

TEST(Steering, ClientsOutsideEveryPrefixGetExchangesOnly) {
    Topology t = make_topo();
    auto r = rank(t, "/t/1/a.mp4", ip("192.0.2.1"), 100);
    EXPECT_EQ(sites_of(t, r), (std::vector<std::string>{"ix-1", "ix-1", "ix-2", "ix-2", "origin"}));
    auto v6 = rank(t, "/t/1/a.mp4", ip("2001:db8::1"), 100);
    EXPECT_EQ(sites_of(t, v6).front(), "ix-1");
}

TEST(Steering, OnlyEligibleHoldersAndAtMostMaxPlusOrigin) {
    Topology t = make_topo();
    t.edges[2].eligible = false; // isp-b-e0 down
    t.files["/t/1/a.mp4"].holders = {0, 2, 3, 4};
    auto r = rank(t, "/t/1/a.mp4", ip("10.1.2.3"), 3);
    ASSERT_EQ(r.size(), 4u);
    EXPECT_EQ(t.edges[static_cast<size_t>(r[0].edge)].id, "isp-b-e1");
    EXPECT_EQ(t.edges[static_cast<size_t>(r[1].edge)].id, "isp-a-e0");
    EXPECT_EQ(t.edges[static_cast<size_t>(r[2].edge)].id, "ix-1-e0");
    EXPECT_EQ(r[3].edge, -1);
    // A file nobody holds, or one not in the topology: only the origin.
    EXPECT_EQ(sites_of(t, rank(t, "/t/1/nowhere.mp4", ip("10.1.2.3"), 3)),
              std::vector<std::string>{"origin"});
    EXPECT_EQ(sites_of(t, rank(t, "/unknown", ip("10.1.2.3"), 3)),
              std::vector<std::string>{"origin"});
    t.origin_url.clear();
    EXPECT_TRUE(rank(t, "/unknown", ip("10.1.2.3"), 3).empty());
}

TEST(Steering, ADrainedHolderStillAliveIsTheLastResortBeforeTheOrigin) {
    Topology t = make_topo();
    // isp-b-e0 (drained, alive) and ix-1-e1 (drained, alive) alone hold the file; isp-a-e0
    // holds it too but is down.
    t.files["/t/1/a.mp4"].holders = {0, 2, 5};
    t.edges[0].eligible = false;
    for (uint32_t i : {2u, 5u}) {
        t.edges[i].eligible = false;
        t.edges[i].last_resort = true;
    }
    auto r = rank(t, "/t/1/a.mp4", ip("10.1.2.3"), 3);
    ASSERT_EQ(r.size(), 3u);
    // In the client's order of sites, as any holder would be; then the origin.
    EXPECT_EQ(t.edges[static_cast<size_t>(r[0].edge)].id, "isp-b-e0");
    EXPECT_EQ(t.edges[static_cast<size_t>(r[1].edge)].id, "ix-1-e1");
    EXPECT_EQ(r[2].edge, -1);
    // Once one eligible edge holds it, the drained ones are not listed at all.
    t.edges[0].eligible = true;
    r = rank(t, "/t/1/a.mp4", ip("10.1.2.3"), 3);
    EXPECT_EQ(sites_of(t, r), (std::vector<std::string>{"isp-a", "origin"}));
    // A drained edge that is not alive (last_resort false) is never listed.
    t.edges[0].eligible = false;
    t.edges[2].last_resort = t.edges[5].last_resort = false;
    EXPECT_EQ(sites_of(t, rank(t, "/t/1/a.mp4", ip("10.1.2.3"), 3)),
              std::vector<std::string>{"origin"});
}

TEST(Steering, RendezvousIsStableAndMovesOnlyTheRemovedEdgesFiles) {
    // One site, 8 edges, 2000 files: the first choice per file, before and after removing one.
    Topology t;
    TopoSite s;
    s.name = "ix";
    s.tier = SiteTier::kIx;
    for (uint32_t i = 0; i < 8; ++i) {
        TopoEdge e;
        e.id = "e" + std::to_string(i);
        e.eligible = true;
        e.hash = hash64(e.id);
        s.edges.push_back(i);
        t.edges.push_back(e);
    }
    t.sites.push_back(s);
    t.ix_sites = {0};
    std::vector<std::string> files;
    for (int f = 0; f < 2000; ++f) {
        files.push_back("/t/" + std::to_string(f) + "/v.mp4");
        TopoFile tf;
        for (uint32_t i = 0; i < 8; ++i)
            tf.holders.push_back(i);
        t.files[files.back()] = tf;
    }
    std::map<std::string, int32_t> before;
    std::map<int32_t, int> share;
    for (const std::string& f : files) {
        auto r = rank(t, f, ip("192.0.2.1"), 1);
        before[f] = r[0].edge;
        ++share[r[0].edge];
        EXPECT_EQ(rank(t, f, ip("198.51.100.7"), 1)[0].edge, r[0].edge) << "depends on the client";
    }
    for (const auto& [e, n] : share) // spread: each edge gets 2000/8 = 250 ± 30%
        EXPECT_NEAR(n, 250, 75) << "edge " << e;
    t.edges[3].eligible = false;
    int moved = 0;
    for (const std::string& f : files) {
        int32_t now = rank(t, f, ip("192.0.2.1"), 1)[0].edge;
        if (before[f] != 3) {
            EXPECT_EQ(now, before[f]) << f << " moved although its edge stayed";
        }
        moved += now != before[f];
    }
    EXPECT_EQ(moved, share[3]);
}

TEST(Steering, HashIsStable) {
    // Placement must not change between builds or machines: pin a few values.
    EXPECT_EQ(hash64(""), hash64(""));
    EXPECT_NE(hash64("a1"), hash64("a2"));
    EXPECT_EQ(hash64("a1"), 0x250b907a1315dee5ULL);
}

} // namespace
} // namespace vcdn::steer
