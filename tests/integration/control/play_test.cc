// `vcdn play` against a real control plane and real edges: players climb the bitrate ladder on
// a good link, stay low on a paced one, and fail over without a stall when an edge dies.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <regex>
#include <thread>

#include <vcdn/catalog/catalog.h>
#include <vcdn/io/tcp.h>

#include "control_fixture.h"

namespace vcdn::test {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

uint16_t pick_port() {
    return io::pick_free_loopback_port();
}

class PlayTest : public ::testing::Test {
protected:
    void SetUp() override {
        catalog::MakeOptions o;
        o.out_dir = work_ / "root";
        o.titles = 3;
        o.bitrates_kbps = {235, 750, 1750, 3000};
        o.seconds = 40;
        o.seed = 5;
        auto c = catalog::make_catalog(o);
        ASSERT_TRUE(c) << c.error().message;
        files_ = c->files.size();
        ports_ = {pick_port(), pick_port()};
        std::string fleet = "[[site]]\nname = \"isp-a\"\ntier = \"embedded\"\n"
                            "prefixes = [\"127.1.0.0/16\"]\n\n";
        for (int i = 0; i < 2; ++i)
            fleet += fmt::format("[[site.edge]]\nid = \"a{}\"\nurl = \"http://127.0.0.1:{}\"\n"
                                 "token = \"edge-secret-0123-a{}\"\n\n",
                                 i + 1, ports_[i], i + 1);
        write_file(work_ / "fleet.toml", fleet);
        ASSERT_TRUE(control_.start(work_.path(), "sqlite:" + work_ / "control.db",
                                   work_ / "fleet.toml",
                                   "[control.health]\nheartbeat_interval_ms = 200\n"
                                   "missed_heartbeats = 5\nhold_down_ms = 500\n"))
            << control_.proc.stderr_text();
        ApiReply r =
            control_.call("POST", "/api/v1/catalog", read_file(o.out_dir + "/catalog.json"));
        ASSERT_EQ(r.status, 200) << r.body;
    }
    void start_edges(const std::string& extra_edge_toml = "") {
        for (int i = 0; i < 2; ++i) {
            const std::string id = fmt::format("a{}", i + 1);
            const std::string cfg = work_ / ("edge-" + id + ".toml");
            write_file(
                cfg,
                fmt::format("[edge]\nroot = \"{}\"\nlisten = [\"127.0.0.1:{}\"]\n"
                            "workers = 1\naccess_log = \"off\"\n"
                            "require_signed_urls = true\n{}\n"
                            "[edge.control]\nurl = \"http://127.0.0.1:{}\"\n"
                            "allow_insecure = true\nid = \"{}\"\ntoken = \"edge-secret-0123-{}\"\n"
                            "heartbeat_interval_ms = 200\n",
                            work_ / "root", ports_[i], extra_edge_toml, control_.port, id, id));
            edges_[i] = std::make_unique<Process>();
            ASSERT_TRUE(edges_[i]->start({vcdn_binary(), "edge", "--config", cfg}));
            ASSERT_TRUE(edges_[i]->wait_for_line(std::regex("listening http"), 10000));
        }
        // Both up, with their inventories known to steering.
        for (const char* id : {"a1", "a2"}) {
            json st = control_.wait_edge_state(id, "up", 10000);
            ASSERT_EQ(st.value("state", ""), "up") << st.dump();
            auto deadline = Clock::now() + std::chrono::seconds(10);
            while (Clock::now() < deadline &&
                   control_.call("GET", fmt::format("/api/v1/edges/{}", id), "", false)
                           .json.value("files", size_t{0}) < files_)
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    }
    // Runs `vcdn play` to the end; returns its report. `during` runs while it plays.
    json play(uint32_t players, uint32_t seconds, const std::vector<std::string>& extra = {},
              const std::function<void()>& during = {}) {
        const std::string report = work_ / "report.json";
        std::vector<std::string> argv = {
            vcdn_binary(),       "play",
            "--control",         fmt::format("http://127.0.0.1:{}", control_.port),
            "--players",         std::to_string(players),
            "--duration",        std::to_string(seconds),
            "--client-net",      "127.1.0.0/16",
            "--report",          report,
            "--read-token-file", work_ / "read.token"};
        write_file(work_ / "read.token", std::string(kReadToken) + "\n");
        argv.insert(argv.end(), extra.begin(), extra.end());
        Process p;
        EXPECT_TRUE(p.start(argv));
        if (during) during();
        auto rc = p.wait_exit((seconds + 30) * 1000);
        EXPECT_TRUE(rc.has_value()) << p.stderr_text();
        EXPECT_EQ(rc.value_or(-1), 0) << p.stderr_text();
        return json::parse(read_file(report), nullptr, false);
    }

    TempDir work_;
    size_t files_ = 0;
    std::vector<uint16_t> ports_;
    ControlProcess control_;
    std::unique_ptr<Process> edges_[2];
};

TEST_F(PlayTest, GoodLinkClimbsTheLadderWithoutStalls) {
    start_edges();
    json r = play(8, 10);
    ASSERT_TRUE(r.is_object());
    const json& s = r["summary"];
    EXPECT_GE(s["sessions"].get<uint64_t>(), 8u) << s.dump();
    EXPECT_EQ(s["stalls"], 0) << s.dump();
    EXPECT_EQ(s["errors"], json::object()) << s.dump();
    EXPECT_GT(s["switches"].get<uint64_t>(), 0u);
    EXPECT_GT(s["avg_bitrate_kbps"].get<double>(), 1750) << s.dump();
    EXPECT_LT(s["startup_ms"]["p95"].get<double>(), 2000) << s.dump();
    EXPECT_GT(s["bytes"].get<uint64_t>(), 0u);
    // Steered by the players' own addresses (127.1.0.0/16 is isp-a's): only its edges.
    for (const auto& sess : r["sessions"])
        EXPECT_TRUE(sess["edge"] == "a1" || sess["edge"] == "a2") << sess.dump();
    // QoE reached the control plane.
    json dash = control_.call("GET", "/api/v1/dashboard", "", false).json;
    EXPECT_GE(dash["qoe"]["samples"].get<uint64_t>(), 8u) << dash["qoe"].dump();
}

TEST_F(PlayTest, PacedEdgeKeepsTheBitrateDown) {
    start_edges("pacing_rate_mbps = 0.6");
    json r = play(4, 12);
    ASSERT_TRUE(r.is_object());
    const json& s = r["summary"];
    EXPECT_GT(s["bytes"].get<uint64_t>(), 0u) << s.dump();
    // 0.6 Mbit/s per connection: only the 235 kbit/s rung is sustainable; BBA climbs while the
    // buffer grows and comes back down as it drains, far below the good link's > 1750.
    EXPECT_LT(s["avg_bitrate_kbps"].get<double>(), 1000) << s.dump();
    for (const auto& sess : r["sessions"])
        EXPECT_LT(sess["avg_bitrate_kbps"].get<double>(), 1750) << sess.dump();
    EXPECT_GT(s["avg_bitrate_kbps"].get<double>(), 200) << s.dump();
}

TEST_F(PlayTest, KilledEdgeFailsOverWithoutAStall) {
    start_edges();
    json r = play(8, 12, {"--max-buffer", "10"}, [&] {
        std::this_thread::sleep_for(std::chrono::seconds(5));
        edges_[0]->signal(SIGKILL);
    });
    ASSERT_TRUE(r.is_object());
    const json& s = r["summary"];
    EXPECT_GT(s["failovers"].get<uint64_t>(), 0u) << s.dump();
    EXPECT_EQ(s["stalls"], 0) << "the buffer (~10 s) outlasts a failover: " << s.dump();
    for (const auto& [kind, n] : s["errors"].items())
        EXPECT_TRUE(kind == "reset" || kind == "connect" || kind == "send") << kind;
    // The viewers rode through the kill: failovers, but no error a viewer saw.
    EXPECT_EQ(s["viewer_errors"], json::object()) << s.dump();
    EXPECT_GT(s["failovers_recovered"].get<uint64_t>(), 0u) << s.dump();
    EXPECT_EQ(s["failovers_recovered"].get<uint64_t>() + s["failovers_pending"].get<uint64_t>(),
              s["failovers"].get<uint64_t>())
        << s.dump();
    // After the kill every session ends on a2.
    size_t on_a2 = 0;
    for (const auto& sess : r["sessions"])
        on_a2 += sess["edge"] == "a2";
    EXPECT_GE(on_a2, 8u) << r["sessions"].dump();
}

} // namespace
} // namespace vcdn::test
