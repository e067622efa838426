#include <fmt/format.h>
#include <gtest/gtest.h>

#include <vcdn/sim/sim.h>

namespace vcdn::sim {
namespace {

using nlohmann::json;

// One region, one ISP site with one edge, an exchange, one file of 1000 kbit/s x 10 min
// (75,000,000 bytes).
Scenario one_file(uint64_t edge_disk, uint64_t ix_disk) {
    auto s = parse_scenario_toml(fmt::format(R"(
days = 2
[catalog]
titles = 1
ladder_kbps = [1000]
rung_weights = [1]
min_minutes = 10
max_minutes = 10
[demand]
sessions_per_day = 1000
watch_minutes = 5
[[region]]
name = "r"
ix_only_share = 0
[[site]]
name = "isp"
region = "r"
edge_gbps = 100
disk_bytes = {}
[[site]]
name = "ix"
tier = "ix"
region = "r"
edge_gbps = 100
disk_bytes = {}
)",
                                             edge_disk, ix_disk),
                                 "test");
    EXPECT_TRUE(s) << s.error().message;
    return *s;
}

TEST(Sim, OneFileThatFitsStaysInsideTheIsp) {
    auto r = run(one_file(80000000, 80000000), {});
    ASSERT_TRUE(r) << r.error().message;
    const json& d0 = (*r)["days"][0];
    EXPECT_EQ(d0["sessions"], 1000);
    EXPECT_DOUBLE_EQ(d0["offload_embedded"].get<double>(), 1.0);
    EXPECT_DOUBLE_EQ(d0["content_misses"].get<double>(), 0.0);
    EXPECT_DOUBLE_EQ(d0["health_misses"].get<double>(), 0.0);
    EXPECT_DOUBLE_EQ(d0["offload_ideal"].get<double>(), 1.0);
    // The first night fills the file on both edges: the exchange from the origin, the ISP's
    // edge from the exchange. The second night has nothing to do.
    EXPECT_DOUBLE_EQ(d0["fill_bytes"].get<double>(), 2 * 75000000.0);
    EXPECT_DOUBLE_EQ(d0["fill_bytes_by_source"]["ix"].get<double>(), 75000000.0);
    EXPECT_DOUBLE_EQ(d0["fill_bytes_by_source"]["origin"].get<double>(), 75000000.0);
    EXPECT_DOUBLE_EQ((*r)["days"][1]["fill_bytes"].get<double>(), 0.0);
    EXPECT_DOUBLE_EQ((*r)["days"][1]["churn_bytes"].get<double>(), 0.0);
    EXPECT_DOUBLE_EQ((*r)["total"]["placement_vs_ideal"].get<double>(), 1.0);
}

TEST(Sim, AFileTooBigForTheIspIsAContentMissServedByTheExchange) {
    auto r = run(one_file(70000000, 80000000), {});
    ASSERT_TRUE(r) << r.error().message;
    const json& t = (*r)["total"];
    EXPECT_DOUBLE_EQ(t["offload_ix"].get<double>(), 1.0);
    EXPECT_DOUBLE_EQ(t["content_misses"].get<double>(), 1.0);
    EXPECT_DOUBLE_EQ(t["offload_ideal"].get<double>(), 0.0);
    // And with nowhere to hold it, the origin serves everything.
    r = run(one_file(70000000, 70000000), {});
    ASSERT_TRUE(r);
    EXPECT_DOUBLE_EQ((*r)["total"]["offload_origin"].get<double>(), 1.0);
    EXPECT_DOUBLE_EQ((*r)["days"][0]["fill_bytes"].get<double>(), 0.0);
}

TEST(Sim, AFullEdgeShedsToTheNextRankAsAHealthMiss) {
    Scenario s = one_file(80000000, 80000000);
    // 1000 sessions a day at 1 Mbit/s for 5 minutes: a peak of a few concurrent sessions; an
    // edge of 2 Mbit/s overflows.
    s.sites[0].edge_gbps = 0.002;
    auto r = run(s, {});
    ASSERT_TRUE(r) << r.error().message;
    const json& t = (*r)["total"];
    EXPECT_GT(t["health_misses"].get<double>(), 0.0);
    EXPECT_DOUBLE_EQ(t["content_misses"].get<double>(), 0.0);
    EXPECT_NEAR(t["offload_embedded"].get<double>() + t["health_misses"].get<double>(), 1.0, 1e-9);
    EXPECT_LE(t["peak_edge_utilisation"].get<double>(), 1.0 + 1e-9);
}

TEST(Sim, InvariantsHoldOnTheSmallPreset) {
    auto s = preset("small");
    ASSERT_TRUE(s) << s.error().message;
    auto r = run(*s, {});
    ASSERT_TRUE(r) << r.error().message;
    for (const json& d : (*r)["days"]) {
        // Bytes are conserved: every byte is served by exactly one tier.
        EXPECT_NEAR(d["offload_embedded"].get<double>() + d["offload_ix"].get<double>() +
                        d["offload_origin"].get<double>(),
                    1.0, 1e-9);
        EXPECT_EQ(d["sessions"].get<uint64_t>(), static_cast<uint64_t>(s->sessions_per_day));
        double hour_bytes = 0;
        for (const json& h : d["hours"])
            hour_bytes += h["bytes"].get<double>();
        EXPECT_NEAR(hour_bytes, d["bytes"].get<double>(), d["bytes"].get<double>() * 1e-9);
        // No edge above its capacity (a full edge passes sessions on), none over its storage.
        EXPECT_LE(d["peak_edge_utilisation"].get<double>(), 1.0 + 1e-9);
        EXPECT_LE(d["storage_use_max"].get<double>(), 1.0);
        EXPECT_LE(d["offload_embedded"].get<double>(), d["offload_ideal"].get<double>() + 0.05);
    }
    // The events happened and say what they did.
    ASSERT_EQ((*r)["events"].size(), 3u);
    EXPECT_EQ((*r)["events"][0]["kind"], "edge-fail");
    // The edge failure broke off sessions; they failed over.
    EXPECT_GT((*r)["total"]["interrupted_sessions"].get<uint64_t>(), 0u);
}

TEST(Sim, TheSameSeedGivesTheSameReport) {
    auto s = preset("small");
    ASSERT_TRUE(s);
    s->days = 1;
    auto a = run(*s, {}), b = run(*s, {});
    ASSERT_TRUE(a && b);
    EXPECT_EQ(a->dump(), b->dump());
    s->seed = 2;
    auto c = run(*s, {});
    ASSERT_TRUE(c);
    EXPECT_NE(a->dump(), c->dump());
}

TEST(Sim, BadScenariosGetOneLineReasons) {
    auto bad = [](const std::string& text, const char* want) {
        auto s = parse_scenario_toml(text, "x.toml");
        ASSERT_FALSE(s) << text;
        EXPECT_NE(s.error().message.find(want), std::string::npos) << s.error().message;
        EXPECT_EQ(s.error().message.find('\n'), std::string::npos);
    };
    const std::string ok = "[[region]]\nname = \"r\"\n[[site]]\nname = \"s\"\nregion = \"r\"\n";
    ASSERT_TRUE(parse_scenario_toml(ok, "x.toml"));
    bad("", "at least one [[region]]");
    bad("[[region]]\nname = \"r\"\n", "at least one [[site]]");
    bad(ok + "nonsense = 1\n", "nonsense");
    bad("[[region]]\nname = \"r\"\n[[site]]\nname = \"s\"\nregion = \"q\"\n", "no region 'q'");
    bad(ok + "[[site]]\nname = \"t\"\nregion = \"r\"\ntier = \"core\"\n", "tier embedded or ix");
    bad(ok + "[catalog]\nladder_kbps = [1000, 2000]\n", "one weight per bitrate");
    bad(ok + "[[event]]\nday = 0\nkind = \"meteor\"\n", "edge-fail, bgp-loss");
    bad(ok + "days = 0\n", "days");
    bad("days = \n", "x.toml");
    EXPECT_FALSE(preset("huge"));
}

} // namespace
} // namespace vcdn::sim
