// What a fleet change would do, before it is applied (vcdn control --check-fleet).
#include <gtest/gtest.h>

#include <vcdn/control/fleet_diff.h>

namespace vcdn::control {
namespace {

Fleet two_sites() {
    Fleet f;
    f.origin_url = "http://origin:8000";
    SiteSpec a;
    a.name = "isp-a";
    a.prefixes = {"10.1.0.0/16"};
    for (const char* id : {"a1", "a2"})
        a.edges.push_back(EdgeSpec{id, std::string("http://") + id, "", {}, 1'000'000, 0, 10});
    SiteSpec x;
    x.name = "ix-1";
    x.tier = Tier::kIx;
    x.edges.push_back(EdgeSpec{"x1", "http://x1", "", {}, 1'000'000, 0, 10});
    f.sites = {a, x};
    return f;
}

std::vector<CatalogEntry> catalog() {
    std::vector<CatalogEntry> out;
    for (int i = 0; i < 30; ++i)
        out.push_back(CatalogEntry{"/t/" + std::to_string(i) + "/v.mp4", 20'000,
                                   std::string(64, 'a'), static_cast<uint32_t>(i), 235, 1.0});
    return out;
}

TEST(FleetDiff, NoChangeIsEmpty) {
    const FleetDiff d = diff_fleets(two_sites(), two_sites(), catalog(), {});
    EXPECT_TRUE(d.empty());
    EXPECT_TRUE(d.lines.empty());
}

TEST(FleetDiff, NamesEveryChangeAndWhatPlacementMoves) {
    Fleet after = two_sites();
    after.origin_players = false;
    after.sites[0].prefixes.push_back("10.2.0.0/16");
    after.sites[0].edges[1] = EdgeSpec{"a3", "http://a3", "", {}, 1'000'000, 0, 10}; // a2 -> a3
    after.sites[1].edges[0].url = "http://x1-new";
    SiteSpec b;
    b.name = "isp-b";
    b.edges.push_back(EdgeSpec{"b1", "http://b1", "", {}, 1'000'000, 0, 10});
    after.sites.push_back(b);
    const FleetDiff d = diff_fleets(two_sites(), after, catalog(), {});
    auto has = [&](const std::string& line) {
        return std::find(d.lines.begin(), d.lines.end(), line) != d.lines.end();
    };
    EXPECT_TRUE(has("origin: no longer serves players"));
    EXPECT_TRUE(has("site isp-a: changed: prefixes"));
    EXPECT_TRUE(has("site isp-b: added (embedded, 1 edges)"));
    EXPECT_TRUE(has("edge a3 (isp-a): added"));
    EXPECT_TRUE(has("edge a2 (isp-a): removed"));
    EXPECT_TRUE(has("edge x1 (ix-1): changed: url"));
    EXPECT_TRUE(has("edge b1 (isp-b): added"));
    EXPECT_EQ(d.edges_added, 2u);
    EXPECT_EQ(d.edges_removed, 1u);
    EXPECT_EQ(d.sites_added, 1u);
    // a3 and b1 fill what they are given; a2's copies are dropped.
    EXPECT_GT(d.copies_added, 0u);
    EXPECT_GT(d.copies_removed, 0u);
    EXPECT_EQ(d.bytes_to_fill, d.copies_added * 20'000);
    EXPECT_EQ(d.lines.back().rfind("placement: ", 0), 0u) << d.lines.back();
}

TEST(FleetDiff, FilesOnlyTheLeavingEdgesHoldAreCounted) {
    Fleet after = two_sites();
    after.sites.pop_back(); // the exchange, which holds everything, goes
    const FleetDiff d = diff_fleets(two_sites(), after, catalog(), {});
    EXPECT_EQ(d.sites_removed, 1u);
    // isp-a's edges (1 MB each: 50 files of 20 kB) hold every file: nothing is left only on x1.
    EXPECT_EQ(d.files_only_on_leaving, 0u);
    Fleet tiny = two_sites();
    tiny.sites.pop_back();
    for (EdgeSpec& e : tiny.sites[0].edges)
        e.storage_bytes = 100'000; // 5 files each
    const FleetDiff t = diff_fleets(two_sites(), tiny, catalog(), {});
    EXPECT_GT(t.files_only_on_leaving, 0u);
}

} // namespace
} // namespace vcdn::control
