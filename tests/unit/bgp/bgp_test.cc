#include <gtest/gtest.h>

#include <vcdn/bgp/bird.h>
#include <vcdn/wire/routes.h>

namespace vcdn::bgp {
namespace {

io::IpPrefix pfx(const char* s) {
    return *io::IpPrefix::parse(s);
}

// Feeds a raw reply (as BIRD sends it) to `fn` line by line.
template <class F> void feed(std::string_view raw, F fn) {
    int prev = 0;
    while (!raw.empty()) {
        const size_t nl = raw.find('\n');
        std::string_view line = raw.substr(0, nl);
        raw.remove_prefix(nl == std::string_view::npos ? raw.size() : nl + 1);
        ReplyLine l;
        ASSERT_TRUE(split_reply_line(line, prev, &l)) << line;
        prev = l.code;
        fn(l);
    }
}

// Captured from BIRD 2.0.12 (`show route all` over the control socket), plus a second route
// for one network, a next-hop line, an AS set and a wrapped community list.
const char* kRoutes = "1007-Table master4:\n"
                      " 10.1.0.0/16          blackhole [isp1 07:13:52.113 from 127.0.0.2] * "
                      "(100/?) [AS65001i]\n"
                      "1008-\tType: BGP univ\n"
                      "1012-\tBGP.origin: IGP\n"
                      " \tBGP.as_path: 65001 65001\n"
                      " \tBGP.next_hop: 192.0.2.1\n"
                      " \tBGP.med: 10\n"
                      " \tBGP.local_pref: 100\n"
                      " \tBGP.community: (65001,100)\n"
                      "1007-                     unicast [isp2 07:13:53.000] (100) [AS65002i]\n"
                      " \tvia 192.0.2.9 on eth0\n"
                      "1008-\tType: BGP univ\n"
                      "1012-\tBGP.as_path: 65002 {65003 65004}\n"
                      " \tBGP.community: (65002,1) (65002,2)\n"
                      " \t\t(65002,3)\n"
                      "1007-10.2.0.0/16          blackhole [isp1 07:13:52.113 from 127.0.0.2] * "
                      "(100/?) [AS65001i]\n"
                      "1008-\tType: BGP univ\n"
                      "1012-\tBGP.as_path: 65001\n"
                      "1007-\n"
                      " Table master6:\n"
                      " 2001:db8:1::/48      blackhole [isp1 07:13:52.113 from 127.0.0.2] * "
                      "(100/?) [AS65001i]\n"
                      "1008-\tType: BGP univ\n"
                      "1012-\tBGP.large_community: (65001, 1, 2)\n"
                      "1007-vpn4 rd 1:1 10.0.0.0/8  unicast [x 07:00:00] * (100)\n"
                      "0000 \n";

TEST(BirdReply, RoutesWithTheirAttributes) {
    std::vector<LearnedRoute> got;
    RouteParser parser([&](LearnedRoute&& r) { got.push_back(std::move(r)); });
    feed(kRoutes, [&](const ReplyLine& l) { parser.line(l); });
    parser.finish();
    ASSERT_EQ(got.size(), 4u);
    EXPECT_EQ(got[0].prefix.to_string(), "10.1.0.0/16");
    EXPECT_EQ(got[0].protocol, "isp1");
    EXPECT_TRUE(got[0].primary);
    EXPECT_EQ(got[0].attrs.med, 10u);
    EXPECT_EQ(got[0].attrs.path_len, 2u);
    EXPECT_EQ(got[0].attrs.communities, "(65001,100)");
    EXPECT_EQ(got[0].attrs.origin_as, 65001u);
    // The second route of the same network.
    EXPECT_EQ(got[1].prefix.to_string(), "10.1.0.0/16");
    EXPECT_EQ(got[1].protocol, "isp2");
    EXPECT_FALSE(got[1].primary);
    EXPECT_EQ(got[1].attrs.med, 0u);
    EXPECT_EQ(got[1].attrs.path_len, 2u);  // an AS set counts once
    EXPECT_EQ(got[1].attrs.origin_as, 0u); // a path ending in a set has no origin
    EXPECT_EQ(got[1].attrs.communities, "(65002,1) (65002,2) (65002,3)");
    EXPECT_EQ(got[2].prefix.to_string(), "10.2.0.0/16");
    EXPECT_EQ(got[2].attrs.path_len, 1u);
    EXPECT_EQ(got[2].attrs.origin_as, 65001u);
    EXPECT_EQ(got[3].attrs.origin_as, 0u); // no AS_PATH line at all
    EXPECT_EQ(got[3].prefix.to_string(), "2001:db8:1::/48");
    EXPECT_EQ(got[3].attrs.communities, "(65001, 1, 2)");
    EXPECT_EQ(parser.skipped(), 1u); // the VPN route is not a client prefix
}

TEST(BirdReply, ProtocolsAllKeepsBgpSessionsWithTheirCounters) {
    const char* raw =
        "2002-Name       Proto      Table      State  Since         Info\n"
        "1002-device1    Device     ---        up     2026-11-22 07:13:34  \n"
        "1002-isp1       BGP        ---        up     2026-11-22 07:13:51  Established   \n"
        "1006-  BGP state:          Established\n"
        "     Neighbor address: 127.0.0.2\n"
        "     Neighbor AS:      65001\n"
        "   Channel ipv4\n"
        "     Routes:         2 imported, 0 exported, 2 preferred\n"
        "     Route change stats:     received   rejected   filtered    ignored   accepted\n"
        "       Import updates:              7          0          0          0          2\n"
        "       Import withdraws:            3          0        ---          0          0\n"
        "       Export updates:              2          2          0        ---          0\n"
        "   Channel ipv6\n"
        "     Routes:         1 imported, 0 exported, 1 preferred\n"
        "       Import updates:              1          0          0          0          1\n"
        "       Import withdraws:            0          0        ---          0          0\n"
        " \n"
        "1002-isp2       BGP        ---        start  07:13:34.405  Active        Socket: "
        "Connection refused\n"
        "1006-  BGP state:          Active\n"
        "     Neighbor address: 127.0.0.9\n"
        "0000 \n";
    std::vector<std::string> texts;
    std::vector<ReplyLine> lines;
    feed(raw, [&](const ReplyLine& l) { lines.push_back(l); });
    auto s = parse_protocols(lines);
    ASSERT_EQ(s.size(), 2u);
    EXPECT_EQ(s[0].name, "isp1");
    EXPECT_EQ(s[0].state, "up");
    EXPECT_EQ(s[0].since, "2026-11-22 07:13:51");
    EXPECT_TRUE(s[0].established());
    EXPECT_EQ(s[0].neighbor, "127.0.0.2");
    EXPECT_EQ(s[0].neighbor_as, 65001u);
    EXPECT_EQ(s[0].routes, 3u);
    EXPECT_EQ(s[0].import_updates, 8u);
    EXPECT_EQ(s[0].import_withdraws, 3u);
    EXPECT_EQ(s[1].name, "isp2");
    EXPECT_FALSE(s[1].established());
    EXPECT_EQ(s[1].since, "07:13:34.405");
    EXPECT_EQ(s[1].info, "Active Socket: Connection refused");
}

TEST(BirdReply, LinesAndErrors) {
    ReplyLine l;
    ASSERT_TRUE(split_reply_line("0001 BIRD 2.0.12 ready.", 0, &l));
    EXPECT_EQ(l.code, 1);
    EXPECT_TRUE(l.last);
    EXPECT_EQ(l.text, "BIRD 2.0.12 ready.");
    ASSERT_TRUE(split_reply_line("9001 syntax error", 0, &l));
    EXPECT_EQ(l.code, 9001);
    ASSERT_TRUE(split_reply_line(" more", 1007, &l));
    EXPECT_EQ(l.code, 1007);
    EXPECT_FALSE(l.last);
    ASSERT_TRUE(split_reply_line("0000", 0, &l));
    EXPECT_TRUE(l.last);
    EXPECT_FALSE(split_reply_line("garbage", 0, &l));
    EXPECT_FALSE(split_reply_line("", 0, &l));
}

TEST(BirdClient, RefusesWhatIsNotABirdSocket) {
    auto c = BirdClient::connect("/nonexistent/bird.ctl", 1000);
    ASSERT_FALSE(c);
    EXPECT_NE(c.error().message.find("No such file"), std::string::npos) << c.error().message;
    EXPECT_FALSE(BirdClient::connect(std::string(200, 'x'), 1000));
}

TEST(Routes, DiffsInBoundedStepsReachTheTargetAndTheDigestFollows) {
    wire::RouteMap from, to;
    for (int i = 0; i < 100; ++i) {
        auto p = pfx(("10." + std::to_string(i) + ".0.0/16").c_str());
        from[p] = wire::RouteAttrs{0, 1, ""};
        if (i % 3 != 0) to[p] = wire::RouteAttrs{i % 2 ? 5u : 0u, 1, i % 5 ? "" : "(1,2)"};
    }
    to[pfx("2001:db8::/32")] = wire::RouteAttrs{7, 3, "(65001,100)"};
    uint64_t digest = wire::table_digest(from);
    int steps = 0;
    for (; steps < 100; ++steps) {
        wire::Diff d = wire::diff(from, to, 10);
        EXPECT_LE(d.size(), 10u);
        if (d.size() == 0) break;
        const uint64_t expect = wire::digest_after(from, digest, d);
        wire::apply(&from, d, &digest);
        EXPECT_EQ(digest, expect);
        EXPECT_EQ(digest, wire::table_digest(from));
        if (!d.more) {
            ++steps;
            break;
        }
    }
    EXPECT_EQ(from, to);
    EXPECT_GT(steps, 3);
    EXPECT_EQ(diff(from, to, 10).size(), 0u);
    // Order does not matter to the digest; content does.
    wire::RouteMap other(to.begin(), to.end());
    EXPECT_EQ(wire::table_digest(other), wire::table_digest(to));
    other[pfx("2001:db8::/32")].med = 8;
    EXPECT_NE(wire::table_digest(other), wire::table_digest(to));
}

TEST(Routes, StoredFormRoundTripsAndBadLinesAreRefused) {
    wire::RouteMap t;
    t[pfx("10.1.0.0/16")] = wire::RouteAttrs{10, 2, "(65001,100) (65001,200)"};
    t[pfx("2001:db8:1::/48")] = wire::RouteAttrs{0, 1, ""};
    t[pfx("10.9.0.0/16")] = wire::RouteAttrs{0, 3, "(65001,1)", 65009};
    t[pfx("10.8.0.0/16")] = wire::RouteAttrs{0, 1, "", 4200000000u};
    const std::string text = wire::serialise(t);
    // Without an origin a route's line is what it was before origins were reported, so
    // digests of older edges and stored tables still match.
    EXPECT_NE(text.find("10.1.0.0/16 10 2 (65001,100) (65001,200)\n"), std::string::npos);
    EXPECT_NE(text.find("2001:db8:1::/48 0 1\n"), std::string::npos);
    EXPECT_NE(text.find("10.9.0.0/16 0 3 o65009 (65001,1)\n"), std::string::npos);
    EXPECT_NE(text.find("10.8.0.0/16 0 1 o4200000000\n"), std::string::npos);
    auto back = wire::parse_serialised(text);
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(*back, t);
    EXPECT_FALSE(wire::parse_route_line("10.1.0.0/16"));
    EXPECT_FALSE(wire::parse_route_line("10.1.0.0/16 x 1"));
    EXPECT_FALSE(wire::parse_route_line("10.1.2.3/16 0 1"));
    EXPECT_FALSE(wire::parse_route_line("10.1.0.0/16 0 1 a\tb"));
    EXPECT_FALSE(wire::parse_route_line("10.1.0.0/16 99999999999 1"));
    EXPECT_FALSE(wire::parse_route_line("10.1.0.0/16 0 1 o0"));
    EXPECT_FALSE(wire::parse_route_line("10.1.0.0/16 0 1 o"));
    EXPECT_FALSE(wire::parse_route_line("10.1.0.0/16 0 1 ox (1,2)"));
    EXPECT_FALSE(wire::parse_route_line("10.1.0.0/16 0 1 o4294967296"));
    // Found by fuzzing: communities that could be read as an origin are not communities.
    EXPECT_FALSE(wire::parse_route_line("10.1.0.0/16 0 1 x"));
    auto o = wire::parse_route_line("10.1.0.0/16 0 1 o5 (1,2)");
    ASSERT_TRUE(o);
    EXPECT_EQ(o->second.origin_as, 5u);
    EXPECT_EQ(o->second.communities, "(1,2)");
    auto bad = wire::parse_serialised("10.1.0.0/16 0 1\nnope\n");
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().message.find("line 2"), std::string::npos);
}

TEST(BirdConfig, PassiveImportOnlySessionsAndClearErrors) {
    BirdConfigSpec s;
    s.router_id = "10.0.0.5";
    s.local_as = 65010;
    s.neighbors = {{"", "10.0.0.1", 65001}, {"r2", "2001:db8::1", 65002}};
    auto c = bird_config(s);
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_NE(c->find("protocol bgp isp1 {"), std::string::npos);
    EXPECT_NE(c->find("protocol bgp r2 {"), std::string::npos);
    EXPECT_NE(c->find("neighbor 2001:db8::1 port 179 as 65002;"), std::string::npos);
    EXPECT_NE(c->find("passive yes;"), std::string::npos);
    EXPECT_NE(c->find("ipv4 { import all; export none; };"), std::string::npos) << *c;
    EXPECT_EQ(c->find("kernel"), std::string::npos);
    s.announce = {"198.51.100.0/24"};
    c = bird_config(s);
    ASSERT_TRUE(c);
    EXPECT_NE(c->find("route 198.51.100.0/24 blackhole;"), std::string::npos);
    EXPECT_NE(c->find("export where proto = \"vcdn_announce4\""), std::string::npos) << *c;

    auto bad = [&](auto change, const char* want) {
        BirdConfigSpec b = s;
        change(b);
        auto r = bird_config(b);
        ASSERT_FALSE(r) << want;
        EXPECT_NE(r.error().message.find(want), std::string::npos) << r.error().message;
    };
    bad([](BirdConfigSpec& b) { b.router_id = "2001:db8::1"; }, "router id");
    bad([](BirdConfigSpec& b) { b.local_as = 0; }, "local AS");
    bad([](BirdConfigSpec& b) { b.neighbors.clear(); }, "neighbor");
    bad([](BirdConfigSpec& b) { b.neighbors[0].as = 0; }, "AS is required");
    bad([](BirdConfigSpec& b) { b.neighbors[0].address = "nope"; }, "neighbor 'nope'");
    bad([](BirdConfigSpec& b) { b.neighbors[1].name = "isp1"; }, "twice");
    bad([](BirdConfigSpec& b) { b.neighbors[0].name = "bad-name"; }, "neighbor name");
    bad([](BirdConfigSpec& b) { b.announce = {"10.0.0.1/8"}; }, "announce");
    bad([](BirdConfigSpec& b) { b.strict_bind = true; }, "strict bind");
    bad([](BirdConfigSpec& b) { b.log = "a\"b"; }, "log");
}

} // namespace
} // namespace vcdn::bgp
