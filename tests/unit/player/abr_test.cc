#include <gtest/gtest.h>

#include <vcdn/player/abr.h>

namespace vcdn::player {
namespace {

const std::vector<uint32_t> kLadder = {235, 750, 1750, 3000, 5800};

TEST(Bba, FollowsTheBufferWithoutOscillating) {
    AbrConfig c; // reservoir 5 s, cushion 10 s
    EXPECT_EQ(bba_choose(kLadder, 3, 2.0, c), 0u) << "below the reservoir: the lowest";
    EXPECT_EQ(bba_choose(kLadder, 0, 16.0, c), 4u) << "above reservoir + cushion: the highest";
    // Map at 10 s: 235 + 0.5 × (5800 − 235) = 3017.5 → from the bottom, climb to 3000.
    EXPECT_EQ(bba_choose(kLadder, 0, 10.0, c), 3u);
    // Already at 3000 with the map at 3017: stay (the next rung, 5800, is not reached).
    EXPECT_EQ(bba_choose(kLadder, 3, 10.0, c), 3u);
    // From the top, the map at 3017 is below the rung under it (3000)? No: 3017 > 3000, so the
    // top stays until the map falls to 3000 or below.
    EXPECT_EQ(bba_choose(kLadder, 4, 10.0, c), 4u);
    // Map at 7 s: 235 + 0.2 × 5565 = 1348 → down from 3000 to the lowest rung above it (1750).
    EXPECT_EQ(bba_choose(kLadder, 3, 7.0, c), 2u);
    // A buffer wiggling around one value does not switch back and forth.
    size_t r = 2;
    for (double b : {9.0, 9.2, 8.9, 9.1, 9.0}) {
        size_t n = bba_choose(kLadder, r, b, c);
        EXPECT_EQ(n, r) << b;
        r = n;
    }
    EXPECT_EQ(bba_choose({}, 0, 10, c), 0u);
    EXPECT_EQ(bba_choose({500}, 0, 100, c), 0u);
}

TEST(LatencyHistogram, PercentilesWithinThreePercent) {
    LatencyHistogram h;
    EXPECT_EQ(h.percentile(0.5), 0u);
    for (uint64_t v = 1; v <= 100000; ++v)
        h.record(v);
    EXPECT_EQ(h.count(), 100000u);
    for (double q : {0.01, 0.5, 0.9, 0.99, 0.999}) {
        const double want = q * 100000;
        EXPECT_NEAR(static_cast<double>(h.percentile(q)), want, want * 0.035) << q;
    }
    EXPECT_EQ(h.percentile(1.0), 100000u);
    EXPECT_EQ(h.max(), 100000u);
    LatencyHistogram small;
    for (uint64_t v : {3, 3, 3, 7})
        small.record(v);
    EXPECT_EQ(small.percentile(0.5), 3u); // exact below 32
    EXPECT_EQ(small.percentile(1.0), 7u);
    h.merge(small);
    EXPECT_EQ(h.count(), 100004u);
    LatencyHistogram huge;
    huge.record(UINT64_MAX / 2);
    EXPECT_GT(huge.percentile(0.5), 0u);
}

} // namespace
} // namespace vcdn::player
