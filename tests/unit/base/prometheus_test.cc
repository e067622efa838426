// The one Prometheus text writer (base/prometheus.h).
#include <gtest/gtest.h>

#include <array>

#include <vcdn/base/prometheus.h>

namespace vcdn {
namespace {

TEST(PromText, FamiliesSamplesAndEscaping) {
    PromText p;
    p.family("x_total", "counter", "Things.\nCounted.")
        .sample("x_total", uint64_t{7})
        .sample("x_total", {{"worker", 1}, {"path", "/a\"b\\c\nd"}}, 2.5)
        .sample("x_total", {{"code", "other"}}, int64_t{-3});
    EXPECT_EQ(p.text(), "# HELP x_total Things. Counted.\n# TYPE x_total counter\n"
                        "x_total 7\n"
                        "x_total{worker=\"1\",path=\"/a\\\"b\\\\c\\nd\"} 2.5\n"
                        "x_total{code=\"other\"} -3\n");
}

TEST(PromText, HistogramsAreCumulative) {
    PromText p;
    const std::array<double, 2> bounds = {0.001, 0.5};
    const std::array<uint64_t, 3> counts = {1, 2, 3};
    p.histogram("d_seconds", {{"worker", 0}}, bounds, counts, 1.25);
    EXPECT_EQ(p.text(), "d_seconds_bucket{worker=\"0\",le=\"0.001\"} 1\n"
                        "d_seconds_bucket{worker=\"0\",le=\"0.5\"} 3\n"
                        "d_seconds_bucket{worker=\"0\",le=\"+Inf\"} 6\n"
                        "d_seconds_sum{worker=\"0\"} 1.250000\n"
                        "d_seconds_count{worker=\"0\"} 6\n");
}

} // namespace
} // namespace vcdn
