#include <gtest/gtest.h>

#include <string>

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

namespace vcdn::http {
namespace {
// "bytes=a-b" is read by a one-pass path; a leading space sends the same header through the
// general one. Both must agree on every shape near the fast path's edges.
TEST(DecideRangeFastPath, AgreesWithTheGeneralPath) {
    const char* headers[] = {"bytes=0-499",
                             "bytes=0-0",
                             "bytes=9999-9999",
                             "bytes=10000-10001",
                             "bytes=5-1",
                             "bytes=00012-00020",
                             "bytes=0-18446744073709551615",
                             "bytes=0-18446744073709551616",
                             "bytes=18446744073709551615-18446744073709551615",
                             "bytes=99999999999999999999999-1",
                             "bytes=1-2-3",
                             "bytes=1-",
                             "bytes=-1",
                             "bytes=1-2,3-4",
                             "bytes=1-2 ",
                             "bytes=1 -2",
                             "bytes=+1-2",
                             "bytes=1-+2",
                             "bytes=a-b",
                             "bytes=",
                             "bytes=-",
                             "bytes==1-2",
                             "bytesx1-2",
                             "BYTES=1-2",
                             "bytes=1-2\t",
                             "bytes=\x80-1",
                             "bytes=9-9"};
    for (uint64_t size : {uint64_t{0}, uint64_t{1}, uint64_t{10}, uint64_t{10000}, UINT64_MAX}) {
        for (const char* h : headers) {
            RangeDecision fast = decide_range(h, size);
            RangeDecision general = decide_range(std::string(" ") + h, size);
            EXPECT_EQ(fast.outcome, general.outcome) << h << " size " << size;
            if (fast.outcome == RangeOutcome::kPartial) {
                EXPECT_EQ(fast.range.first, general.range.first) << h;
                EXPECT_EQ(fast.range.last, general.range.last) << h;
            }
        }
    }
}
} // namespace
} // namespace vcdn::http
