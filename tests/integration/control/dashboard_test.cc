// The dashboard in a real headless Chromium (Debian's), against a running control plane with
// two edges fed by fake heartbeats: the page must show both with their states and draw the
// throughput chart. The browser side is tests/integration/control/dashboard_check.mjs.
#include <sys/stat.h>

#include <atomic>
#include <thread>

#include "control_fixture.h"

namespace vcdn::test {
namespace {

using nlohmann::json;

TEST(Dashboard, ShowsEdgesStatesAndAChartInChromium) {
    const std::string src = VCDN_SOURCE_DIR;
    struct stat st {};
    ASSERT_EQ(::stat("/usr/bin/chromium", &st), 0)
        << "Debian's chromium is needed (scripts/setup installs it)";
    ASSERT_EQ(::stat((src + "/web/dashboard/node_modules/playwright-core").c_str(), &st), 0)
        << "run scripts/setup (npm ci --prefix web/dashboard)";
    TempDir work;
    write_file(work / "fleet.toml", fleet_toml());
    ControlProcess c;
    ASSERT_TRUE(c.start(work.path(), "sqlite:" + work / "c.db", work / "fleet.toml",
                        // a2 is down because it says so (healthy: false), not by
                        // silence: this thread's beats may come late while Chromium starts.
                        "[control.health]\nheartbeat_interval_ms = 300\nmissed_heartbeats = 10\n"))
        << c.proc.stderr_text();
    std::atomic<bool> stop{false};
    std::thread beats([&] {
        for (int i = 0; i < 600 && !stop.load(); ++i) {
            const double gbps = 1.0 + (i % 10) * 0.2;
            api(c.port, "POST", "/api/v1/edges/a1/heartbeat",
                json{{"schema", 2},
                     {"build", "0.1.0+gtest-a1"},
                     {"healthy", true},
                     {"load", {{"gbps_out", gbps}, {"connections", 40 + i % 7}, {"cpu", 0.3}}},
                     {"inventory", {{"digest", ""}}}}
                    .dump(),
                "edge-secret-0123-a1");
            api(c.port, "POST", "/api/v1/edges/a2/heartbeat",
                json{{"schema", 2},
                     {"build", "0.2.0+gtest-a2"},
                     {"healthy", false},
                     {"reason", "every content root failed"},
                     {"load", {{"gbps_out", 0.1}, {"connections", 1}, {"cpu", 0.05}}},
                     {"inventory", {{"digest", ""}}}}
                    .dump(),
                "edge-secret-0123-a2");
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
        }
    });
    c.wait_edge_state("a1", "up", 5000);
    c.wait_edge_state("a2", "down", 5000);
    std::this_thread::sleep_for(std::chrono::milliseconds(1500)); // a few chart points
    RunResult r =
        run_command({VCDN_NODE, src + "/tests/integration/control/dashboard_check.mjs",
                     fmt::format("http://127.0.0.1:{}/#token={}", c.port, kReadToken),
                     "--expect-edges", "a1,a2", "--expect-states", "up,down", "--expect-builds",
                     "0.1.0+gtest-a1,0.2.0+gtest-a2", "--screenshot", work / "dashboard.png"},
                    60000);
    stop = true;
    beats.join();
    EXPECT_EQ(r.status, 0) << r.output;
    // The same build in the API.
    json edges = c.call("GET", "/api/v1/edges", "", false).json;
    ASSERT_TRUE(edges.is_object());
    EXPECT_EQ(edges["edges"][0]["build"], "0.1.0+gtest-a1") << edges.dump();
    EXPECT_EQ(edges["edges"][1]["build"], "0.2.0+gtest-a2") << edges.dump();
}

} // namespace
} // namespace vcdn::test
