#include <gtest/gtest.h>

#include <vcdn/fill/fill.h>

namespace vcdn::fill {
namespace {

TEST(FillWindow, AlwaysAndDailyWindowsAcrossMidnight) {
    auto always = FillWindow::parse("always");
    ASSERT_TRUE(always);
    EXPECT_TRUE(always->contains(0));
    EXPECT_TRUE(always->contains(1439));
    auto night = FillWindow::parse("22:30+8h"); // 22:30 .. 06:30
    ASSERT_TRUE(night);
    EXPECT_FALSE(night->contains(22 * 60 + 29));
    EXPECT_TRUE(night->contains(22 * 60 + 30));
    EXPECT_TRUE(night->contains(0));
    EXPECT_TRUE(night->contains(6 * 60 + 29));
    EXPECT_FALSE(night->contains(6 * 60 + 30));
    auto short_one = FillWindow::parse("02:00+90m");
    ASSERT_TRUE(short_one);
    EXPECT_TRUE(short_one->contains(3 * 60 + 29));
    EXPECT_FALSE(short_one->contains(3 * 60 + 30));
    EXPECT_TRUE(FillWindow::parse("00:00+24h")->contains(777));
    for (const char* bad : {"", "2:00+1h", "24:00+1h", "02:60+1h", "02:00+0h", "02:00+25h",
                            "02:00-1h", "02:00+1d", "02:00+h", "nightly"})
        EXPECT_FALSE(FillWindow::parse(bad)) << bad;
}

TEST(TokenBucket, HoldsTheRateOverTime) {
    TokenBucket b(1000, 100, 0); // 1000 B/s, burst 100
    EXPECT_TRUE(b.open());
    b.take(600); // a transfer hands over more than there is: debt
    EXPECT_FALSE(b.open());
    b.refill(400000); // +400
    EXPECT_FALSE(b.open());
    b.refill(600000); // +200 more: back to +100
    EXPECT_TRUE(b.open());
    b.refill(10000000); // capped at the burst
    EXPECT_DOUBLE_EQ(b.tokens(), 100);
    // Simulated: takes of 64 whenever open, for 10 s: the total is the rate × time (+ burst).
    TokenBucket c(1000, 100, 0);
    uint64_t total = 0;
    for (int64_t us = 0; us <= 10000000; us += 1000) {
        c.refill(us);
        if (c.open()) {
            c.take(64);
            total += 64;
        }
    }
    EXPECT_NEAR(static_cast<double>(total), 10000, 200);
}

} // namespace
} // namespace vcdn::fill
