// Port picking for addresses named before a process binds them (io/tcp.h).
#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include <vcdn/io/address.h>
#include <vcdn/io/tcp.h>

namespace vcdn::io {
namespace {

unsigned ephemeral_low() {
    std::ifstream in("/proc/sys/net/ipv4/ip_local_port_range");
    unsigned lo = 0, hi = 0;
    return in >> lo >> hi ? lo : 0;
}

// A port the kernel would hand to someone's bind(0) or connect() can be taken by them between
// the pick and our bind: CI saw exactly that. The picks stay below the ephemeral range.
TEST(PickFreeLoopbackPort, StaysBelowTheEphemeralRangeAndIsBindable) {
    const unsigned lo = ephemeral_low();
    if (lo < 11001) GTEST_SKIP() << "ephemeral range starts at " << lo << ": no room below it";
    std::set<uint16_t> seen;
    for (int i = 0; i < 20; ++i) {
        uint16_t p = pick_free_loopback_port();
        ASSERT_NE(p, 0);
        EXPECT_GE(p, 10000);
        EXPECT_LT(p, lo);
        seen.insert(p);
        auto fd = listen_tcp(*parse_socket_address("127.0.0.1:" + std::to_string(p)), {});
        EXPECT_TRUE(fd) << p;
    }
    EXPECT_GT(seen.size(), 10u) << "the picks are random, not one port over and over";
}

TEST(PickFreeLoopbackPort, SkipsAPortThatIsListenedOn) {
    // Over many picks, never a port that is being listened on.
    std::vector<UniqueFd> held;
    std::set<uint16_t> ports;
    for (int i = 0; i < 200; ++i) {
        uint16_t p = pick_free_loopback_port();
        ASSERT_NE(p, 0);
        EXPECT_EQ(ports.count(p), 0u) << "picked " << p << " while it is listened on";
        auto fd = listen_tcp(*parse_socket_address("127.0.0.1:" + std::to_string(p)), {});
        ASSERT_TRUE(fd) << p;
        ports.insert(p);
        held.push_back(std::move(*fd));
    }
}

} // namespace
} // namespace vcdn::io
