// The edge's tally of what it served (edge/served.h), for the heartbeat's `served`.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include <vcdn/edge/served.h>

namespace vcdn::edge {
namespace {

io::IpAddress ip(const char* s) {
    return *io::IpAddress::parse(s);
}

std::map<std::string, uint64_t> by_key(const std::vector<wire::Served>& v) {
    std::map<std::string, uint64_t> m;
    for (const wire::Served& s : v)
        m[s.path + " " + (s.client ? s.client->to_string() : "-")] += s.bytes;
    return m;
}

TEST(ServedTally, CountsByFileAndClientNetworkAndStartsAfreshOnTake) {
    ServedTally t;
    t.add("/t/1/a.mp4", ip("198.51.100.7"), 100);
    t.add("t/1/a.mp4", ip("198.51.100.200"), 50); // a file key: the same path
    t.add("/t/1/a.mp4", ip("198.51.101.1"), 1);
    t.add("/t/1/a.mp4", ip("2001:db8:1:2::9"), 7);
    t.add("/t/1/b.mp4", io::IpAddress{}, 3);    // no address: unknown network
    t.add("/t/1/b.mp4", ip("198.51.100.1"), 0); // nothing sent: nothing counted
    auto m = by_key(t.take());
    EXPECT_EQ(m, (std::map<std::string, uint64_t>{{"/t/1/a.mp4 198.51.100.0/24", 150},
                                                  {"/t/1/a.mp4 198.51.101.0/24", 1},
                                                  {"/t/1/a.mp4 2001:db8:1::/48", 7},
                                                  {"/t/1/b.mp4 -", 3}}));
    EXPECT_TRUE(t.take().empty());
    EXPECT_EQ(t.size(), 0u);
}

TEST(ServedTally, WhatAHeartbeatDidNotDeliverIsCountedAgain) {
    ServedTally t;
    t.add("/a", ip("10.0.0.1"), 10);
    auto first = t.take();
    t.add("/a", ip("10.0.0.2"), 5);
    t.put_back(first);
    EXPECT_EQ(by_key(t.take()), (std::map<std::string, uint64_t>{{"/a 10.0.0.0/24", 15}}));
}

TEST(ServedTally, IsBoundedFoldingIntoTheFileThenDropping) {
    ServedTally t(16);
    // 16 networks fill it; the 17th and later go to "/a" without a network (one entry). At 8
    // entries it asks to be reported early.
    for (int i = 0; i < 40; ++i) {
        EXPECT_EQ(t.half_full(), i >= 8) << i;
        t.add("/a", ip(("10.0." + std::to_string(i) + ".1").c_str()), 1);
    }
    EXPECT_EQ(t.size(), 17u);
    // Room for 16 + 16/8 = 18 entries: one more file folds, the next is dropped and counted.
    t.add("/b", ip("10.9.9.9"), 5);
    t.add("/c", ip("10.9.9.9"), 7);
    EXPECT_EQ(t.size(), 18u);
    EXPECT_EQ(t.dropped_bytes(), 7u);
    auto m = by_key(t.take());
    EXPECT_EQ(m["/a -"], 24u);
    EXPECT_EQ(m["/b -"], 5u);
    uint64_t total = 0;
    for (const auto& [k, n] : m)
        total += n;
    EXPECT_EQ(total, 40u + 5u);
}

} // namespace
} // namespace vcdn::edge
