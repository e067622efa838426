#include <gtest/gtest.h>

#include <vcdn/http/range.h>

namespace vcdn::http {
namespace {

struct Case {
    const char* header;
    uint64_t size;
    RangeOutcome outcome;
    uint64_t first, last;
};

class DecideRange : public ::testing::TestWithParam<Case> {};

TEST_P(DecideRange, Decides) {
    const Case& c = GetParam();
    RangeDecision d = decide_range(c.header, c.size);
    EXPECT_EQ(d.outcome, c.outcome) << c.header;
    if (c.outcome == RangeOutcome::kPartial) {
        EXPECT_EQ(d.range.first, c.first) << c.header;
        EXPECT_EQ(d.range.last, c.last) << c.header;
    }
}

constexpr auto P = RangeOutcome::kPartial;
constexpr auto F = RangeOutcome::kFull;
constexpr auto U = RangeOutcome::kUnsatisfiable;

INSTANTIATE_TEST_SUITE_P(
    Rfc9110, DecideRange,
    ::testing::Values(
        Case{"bytes=0-499", 10000, P, 0, 499}, Case{"bytes=500-999", 10000, P, 500, 999},
        Case{"bytes=-500", 10000, P, 9500, 9999}, Case{"bytes=9500-", 10000, P, 9500, 9999},
        Case{"bytes=0-0", 10000, P, 0, 0}, Case{"bytes=-1", 10000, P, 9999, 9999},
        Case{"bytes=0-20000", 10000, P, 0, 9999}, Case{"bytes=-20000", 10000, P, 0, 9999},
        Case{"bytes=9999-9999", 10000, P, 9999, 9999},
        Case{"bytes=0-18446744073709551615", 10, P, 0, 9},
        Case{"bytes=0-99999999999999999999999", 10, P, 0, 9},
        Case{"bytes=-99999999999999999999999", 10, P, 0, 9}, Case{" bytes=1-2 ", 10, P, 1, 2},
        Case{"Bytes=1-2", 10, P, 1, 2}, Case{"bytes=1-2,", 10, P, 1, 2},
        Case{"bytes=,1-2", 10, P, 1, 2},
        // coalesced multi-range
        Case{"bytes=0-9,10-19", 100, P, 0, 19}, Case{"bytes=10-19,0-12", 100, P, 0, 19},
        Case{"bytes=0-9, 5-50, 51-60", 100, P, 0, 60}, Case{"bytes=90-,-5", 100, P, 90, 99},
        Case{"bytes=500-600,0-4", 100, P, 0, 4},
        // multi-range with a gap: whole file
        Case{"bytes=0-9,20-29", 100, F, 0, 0},
        // unsatisfiable
        Case{"bytes=10000-", 10000, U, 0, 0}, Case{"bytes=10000-10001", 10000, U, 0, 0},
        Case{"bytes=-0", 10000, U, 0, 0}, Case{"bytes=0-0", 0, U, 0, 0},
        Case{"bytes=-5", 0, U, 0, 0}, Case{"bytes=500-600,700-", 100, U, 0, 0},
        Case{"bytes=99999999999999999999999-", 10, U, 0, 0},
        // invalid: refused like nginx
        Case{"bytes=5-1", 100, U, 0, 0}, Case{"bytes=abc", 100, U, 0, 0},
        Case{"bytes=", 100, U, 0, 0}, Case{"bytes=-", 100, U, 0, 0},
        Case{"bytes=1-2-3", 100, U, 0, 0}, Case{"bytes=+1-2", 100, U, 0, 0},
        Case{"bytes=1 -2", 100, U, 0, 0}, Case{"bytes=0x10-20", 100, U, 0, 0},
        Case{"bytes=0-1,a-b", 100, U, 0, 0},
        // other units or no ranges-specifier: ignored
        Case{"items=0-1", 100, F, 0, 0}, Case{"bytes 0-1", 100, F, 0, 0}, Case{"", 100, F, 0, 0}));

TEST(DecideRange, TooManyRangesAreRefused) {
    std::string h = "bytes=";
    for (int i = 0; i < kMaxRanges + 1; ++i)
        h += std::to_string(i) + "-" + std::to_string(i) + ",";
    EXPECT_EQ(decide_range(h, 1000).outcome, RangeOutcome::kUnsatisfiable);
    std::string ok = "bytes=";
    for (int i = 0; i < kMaxRanges; ++i)
        ok += std::to_string(i) + "-" + std::to_string(i) + ",";
    EXPECT_EQ(decide_range(ok, 1000).outcome, RangeOutcome::kPartial);
}

} // namespace
} // namespace vcdn::http
