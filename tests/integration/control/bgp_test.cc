// BGP end to end with real BIRD 2 daemons on loopback: one plays the ISP's router and
// announces static prefixes; each edge has its own BIRD speaker (config written by
// `vcdn bgp-config`) whose control socket the edge reads. Checks: the edges report what they
// hear, steering follows it (longest match, MED between sites, IPv6), a withdrawal stops
// steering within seconds, a session going down is reported, and edges of one site that hear
// different prefixes are reported as inconsistent and a minority claim is not obeyed; routes a
// site may not claim (outside its bgp_allowed, a default route, a /4) are refused and reported.
#include <unistd.h>

#include <thread>

#include <vcdn/io/tcp.h>

#include "control_fixture.h"

namespace vcdn::test {
namespace {

// No test here waits for an edge to go down: a healthy edge starved of CPU on a loaded machine
// (its heartbeats late for 600 ms, the default 3 intervals) must not leave steering.
const char* kBgpHealth = "[control.health]\nheartbeat_interval_ms = 200\nmissed_heartbeats = 10\n";

using nlohmann::json;
using Clock = std::chrono::steady_clock;

const char* kBird = "/usr/sbin/bird";
const char* kBirdc = "/usr/sbin/birdc";

// One BIRD daemon with its own config, control socket and address.
struct Bird {
    std::string conf, sock;
    Process proc;
    bool start(const std::string& dir, const std::string& name, const std::string& text) {
        conf = dir + "/" + name + ".conf";
        sock = dir + "/" + name + ".ctl";
        write_file(conf, text);
        if (!proc.start({kBird, "-f", "-c", conf, "-s", sock, "-P", dir + "/" + name + ".pid"}))
            return false;
        for (int i = 0; i < 100; ++i) { // the socket appears once the config is loaded
            if (::access(sock.c_str(), F_OK) == 0) return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        return false;
    }
    RunResult birdc(const std::string& cmd) { return run_command({kBirdc, "-s", sock, cmd}); }
    bool reconfigure(const std::string& text) {
        write_file(conf, text);
        RunResult r = birdc("configure");
        return r.status == 0 && r.output.find("Reconfigured") != std::string::npos;
    }
    ~Bird() {
        if (proc.pid() > 0) {
            proc.signal(SIGTERM);
            if (!proc.wait_exit(3000)) proc.kill_and_reap();
        }
    }
};

// The ISP's router: static routes, exported per session with a filter (what each edge
// hears, with which MED). Sessions connect out to the edges' passive speakers.
struct Announce {
    std::string peer_name;                                  // session name on the router
    std::string edge_addr;                                  // the edge speaker's address
    std::vector<std::pair<std::string, uint32_t>> prefixes; // prefix, MED (0: none)
};
std::string router_conf(uint16_t port, const std::vector<Announce>& sessions) {
    std::string s = "log stderr all;\nrouter id 127.0.0.2;\nprotocol device {}\n";
    std::set<std::string> v4, v6;
    for (const auto& a : sessions)
        for (const auto& [p, med] : a.prefixes)
            (p.find(':') != std::string::npos ? v6 : v4).insert(p);
    s += "protocol static st4 {\n  ipv4;\n";
    for (const auto& p : v4)
        s += "  route " + p + " blackhole;\n";
    s += "}\nprotocol static st6 {\n  ipv6;\n";
    for (const auto& p : v6)
        s += "  route " + p + " blackhole;\n";
    s += "}\n";
    for (const auto& a : sessions) {
        std::string f4 = "", f6 = "";
        for (const auto& [p, med] : a.prefixes) {
            std::string& f = p.find(':') != std::string::npos ? f6 : f4;
            f += fmt::format("    if net = {} then {{ {}accept; }}\n", p,
                             med ? fmt::format("bgp_med = {}; ", med) : "");
        }
        s += fmt::format(
            "protocol bgp {} {{\n  local 127.0.0.2 port {} as 65001;\n  neighbor {} port {} as "
            "65010;\n  multihop;\n  strict bind yes;\n  connect retry time 1;\n"
            "  ipv4 {{ import none; export filter {{\n{}    reject;\n  }}; next hop address "
            "192.0.2.1; }};\n  ipv6 {{ import none; export filter {{\n{}    reject;\n  }}; "
            "next hop address 2001:db8::1; }};\n}}\n",
            a.peer_name, port, a.edge_addr, port, f4, f6);
    }
    return s;
}

class BgpTest : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_EQ(::access(kBird, X_OK), 0)
            << "BIRD 2 is not installed (" << kBird
            << " missing): the BGP tests need it. Run scripts/setup (apt-get install bird2).";
        // Short paths: a UNIX socket path has at most 107 bytes.
        char tmpl[] = "/tmp/vcdn-bgp-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        port_ = io::pick_free_loopback_port();
        write_file(work_ / "fleet.toml", R"([origin]
url = "http://127.0.0.1:9"

[[site]]
name = "isp-a"
tier = "embedded"
prefixes = ["10.50.0.0/16"]
bgp_allowed = ["10.0.0.0/8", "2001:db8::/32"]

[[site.edge]]
id = "a1"
url = "http://127.0.0.1:1"
token = "edge-secret-0123-a1"

[[site.edge]]
id = "a2"
url = "http://127.0.0.1:1"
token = "edge-secret-0123-a2"

[[site]]
name = "isp-b"
tier = "embedded"
bgp_allowed = ["10.1.0.0/16"]

[[site.edge]]
id = "b1"
url = "http://127.0.0.1:1"
token = "edge-secret-0123-b1"

[[site]]
name = "ix-1"
tier = "ix"

[[site.edge]]
id = "x1"
url = "http://127.0.0.1:1"
token = "edge-secret-0123-x1"
)");
    }
    void TearDown() override {
        edges_.clear();
        speakers_.clear();
        router_.reset();
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }
    // The edge's BIRD: the config `vcdn bgp-config` writes.
    void start_speaker(const std::string& id, const std::string& addr) {
        const std::string conf = dir_ + "/" + id + ".gen";
        RunResult r = run_command({vcdn_binary(), "bgp-config", "--router-id", addr, "--local-as",
                                   "65010", "--neighbor", "isp=127.0.0.2:65001", "--local-address",
                                   addr, "--port", std::to_string(port_), "--multihop",
                                   "--strict-bind", "--log", "stderr", "--out", conf});
        ASSERT_EQ(r.status, 0) << r.output;
        auto b = std::make_unique<Bird>();
        ASSERT_TRUE(b->start(dir_, id, read_file(conf))) << b->proc.stderr_text();
        speakers_[id] = std::move(b);
    }
    void start_edge(const std::string& id, bool bgp) {
        auto e = std::make_unique<ControlledEdge>();
        std::string extra;
        if (bgp)
            extra = fmt::format("[edge.bgp]\nbird_socket = \"{}\"\npoll_ms = 200\n",
                                speakers_.at(id)->sock);
        ASSERT_TRUE(e->start(shared_root(), work_.path(), control_.port, id, extra))
            << e->proc.stderr_text();
        ApiReply r =
            control_.call("PUT", "/api/v1/edges/" + id,
                          json{{"url", fmt::format("http://127.0.0.1:{}", e->port)}}.dump());
        ASSERT_EQ(r.status, 200) << r.body;
        edges_[id] = std::move(e);
    }
    json steer(const std::string& client) {
        ApiReply r =
            control_.call("GET", "/api/v1/steer?file=/t/1/v-235k.mp4&client=" + client, "", false);
        EXPECT_EQ(r.status, 200) << r.body;
        return r.json;
    }
    static std::string first_site(const json& ans) {
        return ans["urls"].empty() ? "" : ans["urls"][0]["site"].get<std::string>();
    }
    static bool lists_site(const json& ans, const std::string& site) {
        for (const auto& u : ans["urls"])
            if (u["site"] == site) return true;
        return false;
    }
    json site_bgp(const std::string& site) {
        json all = control_.call("GET", "/api/v1/bgp", "", false).json;
        for (const auto& s : all["sites"])
            if (s["site"] == site) return s;
        return nullptr;
    }
    // Polls until `pred` holds (true) or the time runs out (false).
    template <class F> bool wait_until(F pred, int timeout_ms) {
        auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
        while (Clock::now() < deadline) {
            if (pred()) return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        return pred();
    }
    std::string edge_metrics(const std::string& id) {
        return api(edges_.at(id)->admin_port, "GET", "/metrics").body;
    }

    TempDir work_;
    std::string dir_;
    uint16_t port_ = 0;
    ControlProcess control_;
    std::unique_ptr<Bird> router_;
    std::map<std::string, std::unique_ptr<Bird>> speakers_;
    std::map<std::string, std::unique_ptr<ControlledEdge>> edges_;
};

TEST_F(BgpTest, EdgesReportWhatTheyHearAndSteeringFollowsIt) {
    // What the ISP announces to each edge: a1 and a2 (site isp-a) with MED 20 for 10.1/16,
    // b1 (site isp-b) with MED 5; only a1 hears 10.8/16. b1 also hears what isp-b may not
    // claim: a default route, a more-specific of isp-a's 10.50/16, a /4.
    std::vector<Announce> sessions = {
        {"to_a1",
         "127.0.0.3",
         {{"10.1.0.0/16", 20}, {"10.9.0.0/16", 0}, {"10.8.0.0/16", 0}, {"2001:db8:1::/48", 0}}},
        {"to_a2", "127.0.0.4", {{"10.1.0.0/16", 20}, {"10.9.0.0/16", 0}, {"2001:db8:1::/48", 0}}},
        {"to_b1",
         "127.0.0.5",
         {{"10.1.0.0/16", 5}, {"0.0.0.0/0", 0}, {"10.50.1.0/24", 0}, {"16.0.0.0/4", 0}}},
    };
    router_ = std::make_unique<Bird>();
    ASSERT_TRUE(router_->start(dir_, "isp", router_conf(port_, sessions)))
        << router_->proc.stderr_text();
    ASSERT_NO_FATAL_FAILURE(start_speaker("a1", "127.0.0.3"));
    ASSERT_NO_FATAL_FAILURE(start_speaker("a2", "127.0.0.4"));
    ASSERT_NO_FATAL_FAILURE(start_speaker("b1", "127.0.0.5"));
    ASSERT_TRUE(control_.start(work_.path(), "sqlite:" + work_ / "control.db", work_ / "fleet.toml",
                               kBgpHealth))
        << control_.proc.stderr_text();
    ApiReply c =
        control_.call("POST", "/api/v1/catalog", read_file(shared_root() + "/catalog.json"));
    ASSERT_EQ(c.status, 200) << c.body;
    for (const char* id : {"a1", "a2", "b1"})
        ASSERT_NO_FATAL_FAILURE(start_edge(id, true));
    ASSERT_NO_FATAL_FAILURE(start_edge("x1", false));

    // The edges report the announced prefixes (sessions come up within a few seconds).
    auto heard = [&](const std::string& site) {
        std::map<std::string, uint64_t> n;
        json s = site_bgp(site);
        if (s.is_object())
            for (const auto& e : s["edges"])
                if (e.contains("sessions") && e["sessions"].size() == 1 &&
                    e["sessions"][0]["bgp_state"] == "Established")
                    n[e["id"]] = e["prefixes"];
        return n;
    };
    ASSERT_TRUE(wait_until(
        [&] {
            auto a = heard("isp-a"), b = heard("isp-b");
            return a["a1"] == 4 && a["a2"] == 3 && b["b1"] == 4;
        },
        30000))
        << control_.call("GET", "/api/v1/bgp", "", false).body << router_->proc.stderr_text()
        << edges_["a1"]->proc.stderr_text();
    json a = site_bgp("isp-a");
    EXPECT_TRUE(a["bgp"].get<bool>());
    std::map<std::string, uint64_t> counts;
    for (const auto& e : a["edges"]) {
        counts[e["id"]] = e["prefixes"];
        ASSERT_EQ(e["sessions"].size(), 1u) << e.dump();
        EXPECT_EQ(e["sessions"][0]["name"], "isp");
        EXPECT_EQ(e["sessions"][0]["bgp_state"], "Established")
            << e.dump() << edges_[e["id"].get<std::string>()]->proc.stderr_text()
            << router_->proc.stderr_text();
        EXPECT_EQ(e["sessions"][0]["neighbor_as"], 65001);
        EXPECT_TRUE(e["connected"].get<bool>());
    }
    EXPECT_EQ(counts["a1"], 4u);
    EXPECT_EQ(counts["a2"], 3u);
    // The edges of isp-a disagree on 10.8.0.0/16: reported with who hears it and who not, and
    // not obeyed (one of two edges is no majority).
    EXPECT_FALSE(a["consistent"].get<bool>());
    ASSERT_EQ(a["differing"], 1) << a.dump();
    EXPECT_EQ(a["differences"][0]["prefix"], "10.8.0.0/16");
    EXPECT_EQ(a["differences"][0]["heard_by"], json::array({"a1"}));
    EXPECT_EQ(a["differences"][0]["missing_from"], json::array({"a2"}));
    EXPECT_EQ(a["heard"], 4);
    EXPECT_EQ(a["prefixes"], 3);
    EXPECT_EQ(a["minority"], 1);
    EXPECT_EQ(a["refused"], 0);
    EXPECT_TRUE(control_.proc.saw_line(
        std::regex("bgp: the edges of site isp-a disagree on 1 of 4 prefixes .*10\\.8\\.0\\.0/16 "
                   "not heard by a2.*1 heard by half of them or fewer do not steer")));
    // What isp-b may not claim is refused, each route with its reason, and reported.
    json b = site_bgp("isp-b");
    EXPECT_TRUE(b["consistent"].get<bool>());
    EXPECT_EQ(b["prefixes"], 1) << b.dump();
    ASSERT_EQ(b["refused"], 3) << b.dump();
    std::map<std::string, std::string> why;
    for (const auto& x : b["refusals"]) {
        EXPECT_EQ(x["edge"], "b1");
        why[x["prefix"]] = x["reason"];
    }
    EXPECT_EQ(why["0.0.0.0/0"], "shorter than the minimum length");
    EXPECT_EQ(why["16.0.0.0/4"], "shorter than the minimum length");
    EXPECT_EQ(why["10.50.1.0/24"], "outside the site's bgp_allowed");
    EXPECT_TRUE(control_.proc.saw_line(std::regex("bgp: site isp-b: 3 route\\(s\\) refused")));
    const std::string cm = control_.call("GET", "/metrics", "", false).body;
    EXPECT_NE(cm.find("vcdn_control_bgp_prefixes{site=\"isp-a\"} 3"), std::string::npos) << cm;
    EXPECT_NE(cm.find("vcdn_control_bgp_differing_prefixes{site=\"isp-a\"} 1"), std::string::npos);
    EXPECT_NE(cm.find("vcdn_control_bgp_minority_prefixes{site=\"isp-a\"} 1"), std::string::npos);
    EXPECT_NE(cm.find("vcdn_control_bgp_refused_routes{site=\"isp-b\"} 3"), std::string::npos);
    // The dashboard's document carries the same picture.
    json dash = control_.call("GET", "/api/v1/dashboard", "", false).json;
    ASSERT_TRUE(dash["bgp"].is_array()) << dash.dump();
    EXPECT_EQ(dash["bgp"].size(), 2u); // isp-a and isp-b; ix-1 has no BGP
    // The routes themselves, as the edge reports them (refused ones too), with their attributes.
    json routes = control_.call("GET", "/api/v1/bgp/routes?edge=b1", "", false).json;
    ASSERT_EQ(routes["total"], 4) << routes.dump();
    EXPECT_EQ(routes["routes"][0]["prefix"], "0.0.0.0/0");
    EXPECT_EQ(routes["routes"][1]["prefix"], "10.1.0.0/16");
    EXPECT_EQ(routes["routes"][1]["med"], 5);
    EXPECT_EQ(routes["routes"][1]["as_path_length"], 1);
    EXPECT_EQ(routes["routes"][1]["origin_as"], 65001) << "the peer's AS originates its routes";
    // The edge's metrics.
    const std::string m = edge_metrics("a1");
    EXPECT_NE(m.find("vcdn_bgp_prefixes 4\n"), std::string::npos) << m;
    EXPECT_NE(m.find("vcdn_bgp_session_up{session=\"isp\",neighbor=\"127.0.0.2\"} 1"),
              std::string::npos)
        << m;

    // Steering by what BGP says. Every edge must be up and hold the file first.
    ASSERT_TRUE(wait_until([&] { return steer("10.1.2.3")["urls"].size() >= 4; }, 10000))
        << steer("10.1.2.3").dump();
    // 10.1/16 is heard by both ISP sites: the lower MED (isp-b) ranks first.
    json ans = steer("10.1.2.3");
    EXPECT_EQ(first_site(ans), "isp-b") << ans.dump();
    EXPECT_EQ(ans["urls"][0]["reason"], "prefix 10.1.0.0/16 (bgp, med 5)");
    EXPECT_EQ(ans["urls"][1]["site"], "isp-a") << ans.dump();
    // 10.9/16 only by isp-a; IPv6 too.
    EXPECT_EQ(first_site(steer("10.9.1.1")), "isp-a");
    EXPECT_EQ(first_site(steer("2001:db8:1::5")), "isp-a");
    // 10.8/16 is a1's claim alone: not obeyed.
    EXPECT_EQ(first_site(steer("10.8.1.1")), "ix-1") << steer("10.8.1.1").dump();
    // The config prefix of isp-a is not used once its edges speak BGP; isp-b's refused
    // more-specific and default route take nothing.
    EXPECT_FALSE(lists_site(steer("10.50.1.1"), "isp-a")) << steer("10.50.1.1").dump();
    EXPECT_EQ(first_site(steer("10.50.1.1")), "ix-1");
    EXPECT_EQ(first_site(steer("1.2.3.4")), "ix-1") << steer("1.2.3.4").dump();
    EXPECT_EQ(first_site(steer("10.200.1.1")), "ix-1");

    // The ISP withdraws 10.9.0.0/16 (and 10.8/16 from a1): within seconds its clients are no
    // longer sent to isp-a, and the site's edges agree again.
    sessions[0].prefixes = {{"10.1.0.0/16", 20}, {"2001:db8:1::/48", 0}};
    sessions[1].prefixes = sessions[0].prefixes;
    ASSERT_TRUE(router_->reconfigure(router_conf(port_, sessions)));
    const auto t0 = Clock::now();
    ASSERT_TRUE(wait_until([&] { return !lists_site(steer("10.9.1.1"), "isp-a"); }, 15000))
        << steer("10.9.1.1").dump();
    const auto took =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
    EXPECT_LT(took, 10000) << "a withdrawal took " << took << " ms to reach steering";
    std::printf("[ withdrawal reached steering in %lld ms ]\n", static_cast<long long>(took));
    ASSERT_TRUE(wait_until([&] { return site_bgp("isp-a")["consistent"] == true; }, 5000));
    EXPECT_TRUE(control_.proc.saw_line(
        std::regex("bgp: the edges of site isp-a hear the same 2 prefixes again")));

    // b1's session goes down: reported (edge log, metrics, control API), its prefixes are
    // gone, and 10.1/16 goes to isp-a.
    RunResult d = router_->birdc("disable to_b1");
    ASSERT_EQ(d.status, 0) << d.output;
    ASSERT_TRUE(wait_until(
        [&] {
            json b = site_bgp("isp-b");
            return b.is_object() && b["prefixes"] == 0 &&
                   b["edges"][0]["sessions"][0]["bgp_state"] != "Established";
        },
        15000))
        << site_bgp("isp-b").dump();
    EXPECT_TRUE(edges_["b1"]->proc.saw_line(std::regex("bgp: session isp .*Established -> ")))
        << edges_["b1"]->proc.stderr_text();
    EXPECT_NE(
        edge_metrics("b1").find("vcdn_bgp_session_up{session=\"isp\",neighbor=\"127.0.0.2\"} 0"),
        std::string::npos);
    ASSERT_TRUE(wait_until([&] { return first_site(steer("10.1.2.3")) == "isp-a"; }, 10000));
    EXPECT_FALSE(lists_site(steer("10.1.2.3"), "isp-b"));

    // And back up: b1 hears 10.1/16 again and wins it back by its MED.
    ASSERT_EQ(router_->birdc("enable to_b1").status, 0);
    ASSERT_TRUE(wait_until([&] { return first_site(steer("10.1.2.3")) == "isp-b"; }, 20000))
        << site_bgp("isp-b").dump();
}

// An edge whose BIRD is not there says so, keeps serving and heartbeating; the control plane
// shows it unconnected with the reason.
TEST_F(BgpTest, EdgeWithoutItsBirdReportsTheReason) {
    ASSERT_TRUE(control_.start(work_.path(), "sqlite:" + work_ / "control.db", work_ / "fleet.toml",
                               kBgpHealth))
        << control_.proc.stderr_text();
    auto e = std::make_unique<ControlledEdge>();
    ASSERT_TRUE(
        e->start(shared_root(), work_.path(), control_.port, "a1",
                 fmt::format("[edge.bgp]\nbird_socket = \"{}/none.ctl\"\npoll_ms = 200\n", dir_)))
        << e->proc.stderr_text();
    EXPECT_TRUE(
        e->proc.wait_for_line(std::regex("bgp: BIRD at .*none\\.ctl: .*No such file"), 5000))
        << e->proc.stderr_text();
    ASSERT_EQ(control_.wait_edge_state("a1", "up", 5000)["state"], "up");
    json a;
    ASSERT_TRUE(wait_until(
        [&] {
            a = site_bgp("isp-a");
            // The first heartbeats may come before the edge's first try at BIRD ("not read
            // from BIRD yet").
            return a.is_object() && !a["edges"].empty() && a["edges"][0].contains("error") &&
                   a["edges"][0]["error"].get<std::string>().find("No such file") !=
                       std::string::npos;
        },
        5000))
        << a.dump();
    EXPECT_FALSE(a["edges"][0]["connected"].get<bool>());
    EXPECT_NE(a["edges"][0]["error"].get<std::string>().find("No such file"), std::string::npos)
        << a.dump();
    EXPECT_NE(api(e->admin_port, "GET", "/metrics").body.find("vcdn_bgp_bird_up 0"),
              std::string::npos);
}

} // namespace
} // namespace vcdn::test
