// vcdn control with real edges: registry, heartbeats, health with reasons, steering with
// signed URLs the edges accept, key rotation, the grace rule, persistence, API errors.
#include <csignal>
#include <cstring>
#include <ctime>
#include <sstream>
#include <thread>

#include <vcdn/auth/signed_url.h>
#include <vcdn/base/version.h>
#include <vcdn/io/tcp.h>

#include "control_fixture.h"
#include "notify_socket.h"

namespace vcdn::test {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

const char* kFastHealth = "[control.health]\nheartbeat_interval_ms = 200\nmissed_heartbeats = "
                          "3\nhold_down_ms = 500\n";
const char* kFile = "/t/1/v-235k.mp4";

class ControlTest : public ::testing::Test {
protected:
    void SetUp() override {
        fleet_path_ = work_ / "fleet.toml";
        write_file(fleet_path_, fleet_toml());
    }
    void start_control(const std::string& extra = kFastHealth, uint16_t port = 0) {
        ASSERT_TRUE(control_.start(work_.path(), "sqlite:" + work_ / "control.db", fleet_path_,
                                   extra, port))
            << control_.proc.stderr_text();
        ApiReply c =
            control_.call("POST", "/api/v1/catalog", read_file(shared_root() + "/catalog.json"));
        ASSERT_EQ(c.status, 200) << c.body;
        EXPECT_EQ(c.json["files"], 6);
    }
    // Starts edge `id` and points its fleet URL at the port it got.
    void start_edge(ControlledEdge* e, const std::string& id, const std::string& extra = "") {
        ASSERT_TRUE(e->start(shared_root(), work_.path(), control_.port, id, extra))
            << e->proc.stderr_text();
        ApiReply r =
            control_.call("PUT", "/api/v1/edges/" + id,
                          json{{"url", fmt::format("http://127.0.0.1:{}", e->port)}}.dump());
        ASSERT_EQ(r.status, 200) << r.body;
    }
    json steer(const std::string& client, const std::string& file = kFile) {
        ApiReply r = control_.call(
            "GET", fmt::format("/api/v1/steer?file={}&client={}", file, client), "", false);
        EXPECT_EQ(r.status, 200) << r.body;
        return r.json;
    }
    static std::vector<std::string> edges_of(const json& answer) {
        std::vector<std::string> out;
        for (const auto& u : answer["urls"])
            out.push_back(u["edge"].get<std::string>());
        return out;
    }

    TempDir work_;
    std::string fleet_path_;
    ControlProcess control_;
};

TEST_F(ControlTest, SteersToHealthyEdgesDropsAKilledOneAndTakesItBack) {
    ASSERT_NO_FATAL_FAILURE(start_control());
    ControlledEdge a1, a2;
    ASSERT_NO_FATAL_FAILURE(start_edge(&a1, "a1"));
    ASSERT_NO_FATAL_FAILURE(start_edge(&a2, "a2"));
    ASSERT_EQ(control_.wait_edge_state("a1", "up", 5000)["state"], "up");
    ASSERT_EQ(control_.wait_edge_state("a2", "up", 5000)["state"], "up");
    // Every field of the report arrives: the version and the build the edge runs.
    json a1j = control_.call("GET", "/api/v1/edges/a1", "", false).json;
    EXPECT_EQ(a1j["version"], kVersion) << a1j.dump();
    EXPECT_EQ(a1j["build"], build_id()) << a1j.dump();
    // Inventory arrives with the heartbeats; wait until both edges are steered to.
    json ans;
    for (int i = 0; i < 100; ++i) {
        ans = steer("10.1.2.3");
        if (edges_of(ans).size() == 3) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    auto edges = edges_of(ans);
    ASSERT_EQ(edges.size(), 3u) << ans.dump();
    EXPECT_TRUE((edges[0] == "a1" && edges[1] == "a2") || (edges[0] == "a2" && edges[1] == "a1"));
    EXPECT_EQ(edges[2], "origin"); // x1 never heartbeats: not steered to
    EXPECT_EQ(ans["urls"][0]["site"], "isp-a");
    EXPECT_EQ(ans["urls"][0]["tier"], "embedded");
    EXPECT_EQ(ans["urls"][0]["reason"], "prefix 10.1.0.0/16");
    EXPECT_EQ(ans["urls"][2]["tier"], "origin");
    EXPECT_EQ(ans["client"], "10.1.2.3");
    // The same file goes to the same edge every time (consistent hashing).
    EXPECT_EQ(edges_of(steer("10.1.77.1")), edges);

    // The signed URL works on the edge it names (keys came with the heartbeat replies), and a
    // tampered one does not.
    std::string url = ans["urls"][0]["url"];
    RawResponse ok;
    for (int i = 0; i < 50; ++i) { // the first key may be a heartbeat away
        ok = get_url(url, "Range: bytes=0-99\r\n");
        if (ok.ok && ok.head.status == 206) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_EQ(ok.head.status, 206) << url << "\n" << ok.body;
    EXPECT_EQ(ok.body.size(), 100u);
    std::string forged = url;
    forged.back() = forged.back() == 'A' ? 'B' : 'A';
    EXPECT_EQ(get_url(forged).head.status, 403);

    // Kill the first choice: steering drops it within missed_heartbeats × interval (+ sync).
    ControlledEdge& first = edges[0] == "a1" ? a1 : a2;
    const std::string gone = edges[0], other = edges[1];
    first.proc.kill_and_reap();
    auto t0 = Clock::now();
    json down = control_.wait_edge_state(gone, "down", 10000);
    auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
    ASSERT_EQ(down["state"], "down") << down.dump();
    EXPECT_EQ(down["reason"], "heartbeat-missed");
    // ~850 ms when the machine is idle; the bound leaves room for a loaded one (the exact rule
    // is unit-tested with a fake clock: health_test.cc).
    EXPECT_LT(took, 4000) << "3 × 200 ms heartbeats + a 250 ms sync should not take this long";
    EXPECT_EQ(edges_of(steer("10.1.2.3")), (std::vector<std::string>{other, "origin"}));
    ApiReply ev = control_.call("GET", "/api/v1/events?edge=" + gone, "", false);
    ASSERT_EQ(ev.status, 200);
    EXPECT_EQ(ev.json["events"][0]["state"], "down");
    EXPECT_EQ(ev.json["events"][0]["reason"], "heartbeat-missed");

    // Restart it: it returns (after the hold-down) and gets its files back.
    ASSERT_NO_FATAL_FAILURE(start_edge(&first, gone));
    ASSERT_EQ(control_.wait_edge_state(gone, "up", 5000)["state"], "up");
    std::vector<std::string> back;
    for (int i = 0; i < 60; ++i) {
        back = edges_of(steer("10.1.2.3"));
        if (back == edges) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_EQ(back, edges);
    // Each decision was logged as one JSON line.
    std::string log = read_file(work_ / "steering.log");
    ASSERT_FALSE(log.empty());
    // (Lines from the API threads' rings may interleave: look at all of them.)
    std::istringstream lines(log);
    std::string text;
    int seen = 0, other_client = 0;
    while (std::getline(lines, text)) {
        json line = json::parse(text);
        EXPECT_EQ(line["file"], kFile);
        EXPECT_TRUE(line["ranked"].is_array() && !line["ranked"].empty()) << text;
        EXPECT_FALSE(line["reason"].get<std::string>().empty()) << text;
        other_client += line["client"] == "10.1.77.1";
        ++seen;
    }
    EXPECT_GE(seen, 3);
    EXPECT_EQ(other_client, 1);
}

TEST_F(ControlTest, AnEdgeThatReportsItselfUnhealthyIsDownWithItsReason) {
    ASSERT_NO_FATAL_FAILURE(start_control());
    auto beat = [&](bool healthy, const std::string& reason) {
        return api(control_.port, "POST", "/api/v1/edges/a1/heartbeat",
                   json{{"healthy", healthy},
                        {"reason", reason},
                        {"load", {{"gbps_out", 1.0}, {"connections", 3}, {"cpu", 0.1}}},
                        {"inventory", {{"digest", ""}, {"full", true}, {"added", {kFile}}}}}
                       .dump(),
                   "edge-secret-0123-a1");
    };
    ApiReply r = beat(true, "ok");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_FALSE(r.json["keys"].empty());
    EXPECT_EQ(r.json["heartbeat_interval_ms"], 200);
    EXPECT_EQ(control_.wait_edge_state("a1", "up", 3000)["state"], "up");
    ASSERT_EQ(beat(false, "every content root failed").status, 200);
    json e = control_.wait_edge_state("a1", "down", 3000);
    EXPECT_EQ(e["reason"], "reported-unhealthy: every content root failed") << e.dump();
    EXPECT_EQ(e["connections"], 3);
    EXPECT_EQ(edges_of(steer("10.1.2.3")), std::vector<std::string>{"origin"});
    // Overload: 9.5 of 10 Gbit/s.
    ApiReply o =
        api(control_.port, "POST", "/api/v1/edges/a1/heartbeat",
            json{{"healthy", true}, {"load", {{"gbps_out", 9.5}}}, {"inventory", {{"digest", ""}}}}
                .dump(),
            "edge-secret-0123-a1");
    ASSERT_EQ(o.status, 200);
    for (int i = 0; i < 60 && control_.call("GET", "/api/v1/edges/a1", "", false).json["reason"] !=
                                  "overloaded";
         ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_EQ(control_.call("GET", "/api/v1/edges/a1", "", false).json["reason"], "overloaded");
}

TEST_F(ControlTest, BadRequestsGetClearErrorsAndChangeNothing) {
    ASSERT_NO_FATAL_FAILURE(start_control());
    auto code = [](const ApiReply& r) {
        return r.json.is_object() ? r.json["error"].value("code", "") : "";
    };
    ApiReply r =
        control_.call("GET", "/api/v1/steer?file=/t/9/none.mp4&client=10.1.2.3", "", false);
    EXPECT_EQ(r.status, 404);
    EXPECT_EQ(code(r), "unknown-file");
    r = control_.call("GET", "/api/v1/steer?file=/t/1/v-235k.mp4&client=10.1.2", "", false);
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(code(r), "bad-client");
    EXPECT_EQ(control_.call("GET", "/api/v1/steer?client=10.1.2.3", "", false).status, 400);
    // The requester's own address is the default client.
    r = control_.call("GET", "/api/v1/steer?file=/t/1/v-235k.mp4", "", false);
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.json["client"], "127.0.0.1");

    EXPECT_EQ(api(control_.port, "POST", "/api/v1/fleet", "{}", "").status, 401);
    EXPECT_EQ(control_.call("POST", "/api/v1/fleet", "{}", false).status, 403)
        << "the read-only token writes nothing";
    EXPECT_EQ(api(control_.port, "POST", "/api/v1/fleet", "{}", "wrong-token-xyz").status, 403);
    r = control_.call("POST", "/api/v1/fleet", "{not json");
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(code(r), "bad-json");
    // An invalid fleet (duplicate edge id) is refused whole: the fleet is unchanged.
    json f = control_.call("GET", "/api/v1/fleet").json;
    ASSERT_TRUE(f.is_object());
    json bad = json::parse(
        R"({"site":[{"name":"s","edge":[{"id":"e","url":"http://h:1","token":"tok-0123456789abcdef"},
                                                     {"id":"e","url":"http://h:2","token":"tok-0123456789abcdef"}]}]})");
    r = control_.call("POST", "/api/v1/fleet", bad.dump());
    EXPECT_EQ(r.status, 400);
    EXPECT_NE(r.json["error"]["message"].get<std::string>().find("used twice"), std::string::npos);
    EXPECT_EQ(control_.call("GET", "/api/v1/fleet").json, f);

    r = api(control_.port, "POST", "/api/v1/edges/zz/heartbeat", "{}", "edge-secret-0123-zz");
    EXPECT_EQ(r.status, 404);
    EXPECT_EQ(api(control_.port, "POST", "/api/v1/edges/a1/heartbeat", "{}", "edge-secret-0123-a2")
                  .status,
              403);
    EXPECT_EQ(api(control_.port, "POST", "/api/v1/edges/a1/heartbeat", "{}", "").status, 401);
    r = api(control_.port, "POST", "/api/v1/edges/a1/heartbeat",
            R"({"load": {"gbps_out": "fast"}})", "edge-secret-0123-a1");
    EXPECT_EQ(r.status, 400);
    EXPECT_NE(r.body.find("gbps_out"), std::string::npos) << r.body;
    EXPECT_EQ(control_.call("PUT", "/api/v1/edges/zz", R"({"url":"http://h:1"})").status, 404);
    EXPECT_EQ(control_.call("PUT", "/api/v1/edges/a1", R"({"url":"ftp://h"})").status, 400);
    EXPECT_EQ(control_.call("POST", "/api/v1/sites", R"({"name":"isp-a"})").status, 409);
    EXPECT_EQ(control_.call("DELETE", "/api/v1/sites/isp-a").status, 409);
    EXPECT_EQ(control_.call("POST", "/api/v1/sites", R"({"name":"new","tier":"moon"})").status,
              400);
    EXPECT_EQ(
        control_
            .call(
                "POST", "/api/v1/edges",
                R"({"id":"n1","site":"nowhere","url":"http://h:1","token":"tok-0123456789abcdef"})")
            .status,
        404);
    EXPECT_EQ(
        control_
            .call("POST", "/api/v1/popularity", R"({"files":[{"path":"/nope","popularity":1}]})")
            .status,
        400);
    EXPECT_EQ(control_.call("GET", "/api/v1/nothing", "", false).status, 404);
    EXPECT_EQ(control_.call("DELETE", "/api/v1/steer", "", false).status, 405);
    // Bytes that are not UTF-8, deep nesting, big public bodies: 4xx, never a 500.
    r = control_.call("GET", "/api/v1/steer?file=/t/%FF.mp4&client=10.1.2.3", "", false);
    EXPECT_EQ(r.status, 404);
    EXPECT_TRUE(r.json.is_object()) << r.body;
    EXPECT_EQ(control_.call("GET", "/api/v1/edges/%FE%FF", "", false).status, 404);
    EXPECT_EQ(api(control_.port, "POST", "/api/v1/edges/%FF/heartbeat", "{}", "edge-secret-0123-a1")
                  .status,
              404);
    r = api(control_.port, "POST", "/api/v1/edges/a1/heartbeat",
            std::string(5000, '[') + std::string(5000, ']'), "edge-secret-0123-a1");
    EXPECT_EQ(r.status, 400);
    EXPECT_NE(r.body.find("nested"), std::string::npos) << r.body;
    r = control_.call("POST", "/api/v1/qoe", std::string(2u << 20, ' '), false);
    EXPECT_EQ(r.status, 413) << "the answer must survive the unread rest of the body";
    RawResponse big = fetch(control_.port, "POST /api/v1/qoe HTTP/1.1\r\nHost: c\r\n"
                                           "Content-Length: 2097152\r\n\r\n");
    EXPECT_EQ(big.head.status, 413) << "refused on its head, before the body";
    // A v4-mapped IPv6 client is an IPv4 client.
    r = control_.call("GET", "/api/v1/steer?file=/t/1/v-235k.mp4&client=::ffff:10.1.2.3", "",
                      false);
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.json["client"], "10.1.2.3");
    // Still alive and answering.
    EXPECT_EQ(control_.call("GET", "/healthz", "", false).status, 200);

    // Sites and edges can be created, changed, drained and removed.
    ASSERT_EQ(
        control_.call("POST", "/api/v1/sites", R"({"name":"isp-b","prefixes":["10.2.0.0/16"]})")
            .status,
        201);
    ASSERT_EQ(
        control_
            .call(
                "POST", "/api/v1/edges",
                R"({"id":"b1","site":"isp-b","url":"http://127.0.0.1:2","token":"edge-secret-0123-b1"})")
            .status,
        201);
    EXPECT_EQ(control_.call("GET", "/api/v1/sites/isp-b", "", false).json["edges"],
              json::array({"b1"}));
    ASSERT_EQ(control_.call("POST", "/api/v1/edges/b1/drain").status, 200);
    EXPECT_EQ(control_.wait_edge_state("b1", "draining", 3000)["reason"], "drained");
    ASSERT_EQ(control_.call("DELETE", "/api/v1/edges/b1").status, 200);
    ASSERT_EQ(control_.call("DELETE", "/api/v1/sites/isp-b").status, 200);
    EXPECT_EQ(control_.call("GET", "/api/v1/sites/isp-b", "", false).status, 404);
}

TEST_F(ControlTest, KeyRotationReachesTheEdgesAndRetiresTheOldestOnlyWhenItsUrlsAreDone) {
    ASSERT_NO_FATAL_FAILURE(start_control());
    ControlledEdge a1;
    ASSERT_NO_FATAL_FAILURE(start_edge(&a1, "a1"));
    ASSERT_EQ(control_.wait_edge_state("a1", "up", 5000)["state"], "up");
    auto fetch_first = [&](int want, int tries, const std::string& must_have = "") {
        RawResponse r;
        for (int i = 0; i < tries; ++i) {
            json ans = steer("10.1.2.3");
            if (!ans["urls"].empty() && ans["urls"][0]["edge"] == "a1" &&
                ans["urls"][0]["url"].get<std::string>().find(must_have) != std::string::npos) {
                r = get_url(ans["urls"][0]["url"]);
                if (r.ok && r.head.status == want)
                    return std::make_pair(r, ans["urls"][0]["url"].get<std::string>());
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        return std::make_pair(r, std::string());
    };
    auto [first, old_url] = fetch_first(200, 100);
    ASSERT_EQ(first.head.status, 200);
    ApiReply rot = control_.call("POST", "/api/v1/keys/rotate");
    ASSERT_EQ(rot.status, 201) << rot.body;
    std::string k2 = rot.json["signing"];
    // New URLs carry the new key id once the edges can have it, and work; old URLs still do.
    auto [second, new_url] = fetch_first(200, 100, "k=" + k2);
    ASSERT_EQ(second.head.status, 200);
    EXPECT_NE(new_url.find("k=" + k2), std::string::npos) << new_url;
    EXPECT_EQ(get_url(old_url).head.status, 200);
    // A second rotation would retire the first key while URLs it signed are still valid: refused,
    // with when it may be done; forced, it retires the key, and those URLs are refused after the
    // next heartbeat.
    ApiReply early = control_.call("POST", "/api/v1/keys/rotate");
    ASSERT_EQ(early.status, 409) << early.body;
    EXPECT_EQ(early.json["error"]["code"], "key-in-use");
    EXPECT_NE(early.body.find("valid until"), std::string::npos) << early.body;
    EXPECT_EQ(get_url(old_url).head.status, 200);
    ASSERT_EQ(control_.call("POST", "/api/v1/keys/rotate?force=1").status, 201);
    ASSERT_TRUE(control_.proc.wait_for_line(std::regex("forced key rotation retires"), 5000));
    int status = 0;
    for (int i = 0; i < 60; ++i) {
        status = get_url(old_url).head.status;
        if (status == 403) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_EQ(status, 403);
    json keys;
    for (int i = 0; i < 60; ++i) { // the newest signs once the edges can have it
        keys = control_.call("GET", "/api/v1/keys").json["keys"];
        if (keys.size() == 3 && keys[2]["signing"].get<bool>()) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_EQ(keys.size(), 3u);
    EXPECT_TRUE(keys[0]["retired"].get<bool>());
    EXPECT_FALSE(keys[1]["retired"].get<bool>());
    EXPECT_TRUE(keys[2]["signing"].get<bool>());
    EXPECT_EQ(api(control_.port, "GET", "/api/v1/keys", "", "").status, 401);
    EXPECT_EQ(control_.call("GET", "/api/v1/keys", "", false).status, 403);
}

// ?title=1: one steering call gives a URL whose token covers the file's whole title on that
// edge, so that a manifest's relative URLs (its other bitrates and segments) play; the
// token opens no other title, and the bare file is still refused.
TEST_F(ControlTest, TitleUrlsFromSteeringPlayTheWholeTitleOnly) {
    ASSERT_NO_FATAL_FAILURE(start_control());
    ControlledEdge a1;
    ASSERT_NO_FATAL_FAILURE(start_edge(&a1, "a1"));
    ASSERT_EQ(control_.wait_edge_state("a1", "up", 5000)["state"], "up");
    std::string url;
    for (int i = 0; i < 100 && url.empty(); ++i) {
        json ans = steer("10.1.2.3&title=1");
        if (!ans["urls"].empty() && ans["urls"][0]["edge"] == "a1")
            url = ans["urls"][0]["url"];
        else
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_FALSE(url.empty());
    const size_t at = url.find("/vt=");
    ASSERT_NE(at, std::string::npos) << url;
    ASSERT_EQ(url.substr(url.size() - std::strlen(kFile)), kFile) << url;
    EXPECT_EQ(url.find('?'), std::string::npos) << url;
    const std::string token_url = url.substr(0, url.size() - std::strlen(kFile));
    // The edge learns its keys from heartbeats: the first URL may need a beat to be valid.
    int status = 0;
    for (int i = 0; i < 60 && status != 200; ++i) {
        status = get_url(url).head.status;
        if (status != 200) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_EQ(status, 200);
    RawResponse sibling = get_url(token_url + "/t/1/v-750k.mp4");
    EXPECT_EQ(sibling.head.status, 200) << sibling.body;
    EXPECT_EQ(sibling.body, read_file(shared_root() + "/t/1/v-750k.mp4"));
    RawResponse other = get_url(token_url + "/t/2/v-235k.mp4");
    EXPECT_EQ(other.head.status, 403);
    EXPECT_EQ(other.body, "403 Forbidden: title token forged or for another title\n");
    EXPECT_EQ(get_url(url.substr(0, at) + kFile).head.status, 403);
    // title= takes 1 or 0.
    ApiReply bad = control_.call(
        "GET", fmt::format("/api/v1/steer?file={}&client=10.1.2.3&title=yes", kFile), "", false);
    EXPECT_EQ(bad.status, 400);
    EXPECT_EQ(bad.json["error"].value("code", ""), "bad-title") << bad.body;
    json plain = steer("10.1.2.3&title=0");
    ASSERT_FALSE(plain["urls"].empty());
    EXPECT_NE(plain["urls"][0]["url"].get<std::string>().find("?e="), std::string::npos);
}

// 302 mode: a client that cannot call an API (curl here; ffmpeg, ExoPlayer, AVPlayer alike)
// asks the control plane for /r/<path> and follows the redirect to the best edge's title URL;
// relative URLs resolved against where it landed carry the token. The control plane is behind
// a load balancer (127.0.0.1) that names the client in X-Forwarded-For.
TEST_F(ControlTest, RedirectModeSendsPlainClientsToTheBestEdge) {
    ASSERT_NO_FATAL_FAILURE(start_control(std::string(kFastHealth) +
                                          "[control.limits]\nproxies = [\"127.0.0.1/32\"]\n"));
    ControlledEdge a1;
    ASSERT_NO_FATAL_FAILURE(start_edge(&a1, "a1"));
    ASSERT_EQ(control_.wait_edge_state("a1", "up", 5000)["state"], "up");
    const std::string r_url = fmt::format("http://127.0.0.1:{}/r{}", control_.port, kFile);
    TempDir out;
    RunResult r;
    for (int i = 0; i < 60; ++i) { // until a1 holds the file and has its key
        r = run_command({"curl", "-sS", "-L", "--max-redirs", "1", "-o", out / "f", "-H",
                         "X-Forwarded-For: 10.1.2.3", "-w",
                         "%{http_code} %{num_redirects} %{url_effective}", r_url});
        if (r.status == 0 && r.output.rfind("200 1 ", 0) == 0 &&
            r.output.find(fmt::format(":{}/vt=", a1.port)) != std::string::npos)
            break;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_EQ(r.output.rfind("200 1 ", 0), 0u) << r.output;
    EXPECT_NE(r.output.find(fmt::format("http://127.0.0.1:{}/vt=", a1.port)), std::string::npos)
        << r.output;
    EXPECT_EQ(read_file(out / "f"), read_file(shared_root() + kFile));
    // The token of where it landed covers the title's other files.
    const std::string landed = r.output.substr(r.output.rfind(' ') + 1);
    const std::string sibling = landed.substr(0, landed.rfind('/') + 1) + "v-750k.mp4";
    EXPECT_EQ(get_url(sibling).head.status, 200) << sibling;
    // The redirect itself: 302 with the steering answer as its body, never cached.
    RawResponse head = get_url(r_url, "X-Forwarded-For: 10.1.2.3\r\n");
    EXPECT_EQ(head.head.status, 302);
    EXPECT_EQ(head.header("Location").rfind(fmt::format("http://127.0.0.1:{}/vt=", a1.port), 0), 0u)
        << head.header("Location");
    EXPECT_EQ(head.header("Cache-Control"), "no-store");
    EXPECT_EQ(json::parse(head.body)["urls"][0]["edge"], "a1");
    // Unknown files and folders are clear answers, not redirects.
    RawResponse unknown = get_url(fmt::format("http://127.0.0.1:{}/r/t/9/nope.mp4", control_.port));
    EXPECT_EQ(unknown.head.status, 404);
    EXPECT_NE(unknown.body.find("unknown-file"), std::string::npos) << unknown.body;
    EXPECT_EQ(get_url(fmt::format("http://127.0.0.1:{}/r/t/1/", control_.port)).head.status, 404);
    // Who the client is: the rightmost address the proxy did not add itself; from any other
    // peer (127.0.0.2 is not the proxy) X-Forwarded-For is ignored.
    auto client_seen = [&](const std::string& xff, const std::string& source) {
        RunResult c = run_command(
            {"curl", "-sS", "--interface", source, "-H", "X-Forwarded-For: " + xff,
             fmt::format("http://127.0.0.1:{}/api/v1/steer?file={}", control_.port, kFile)});
        return c.status == 0 ? json::parse(c.output).value("client", "?") : c.output;
    };
    EXPECT_EQ(client_seen("10.1.2.3", "127.0.0.1"), "10.1.2.3");
    EXPECT_EQ(client_seen("10.9.9.9, 10.1.2.3", "127.0.0.1"), "10.1.2.3");
    EXPECT_EQ(client_seen("10.1.2.3, 127.0.0.1", "127.0.0.1"), "10.1.2.3");
    EXPECT_EQ(client_seen("10.1.2.3, garbage", "127.0.0.1"), "127.0.0.1");
    EXPECT_EQ(client_seen("10.1.2.3", "127.0.0.2"), "127.0.0.2");
    RawResponse direct =
        get_url(fmt::format("http://127.0.0.1:{}/api/v1/steer?file={}", control_.port, kFile), "");
    EXPECT_EQ(json::parse(direct.body).value("client", "?"), "127.0.0.1"); // no header: the peer
}

// Real media end to end without a player page: a title made by `vcdn catalog make --media`
// (H.264/AAC, DASH and HLS over byte ranges), put on an edge and in the catalog; ffprobe,
// which calls no API, opens both manifests through the 302 mode and reads every stream
// through the title URL it was sent to.
TEST_F(ControlTest, FfprobeReadsARealTitleThroughTheRedirect) {
    TempDir media;
    RunResult made =
        run_command({vcdn_binary(), "catalog", "make", "--media", "--quiet", "--out", media.path(),
                     "--titles", "1", "--bitrates", "300,750", "--seconds", "4"},
                    120000);
    ASSERT_EQ(made.status, 0) << made.output;
    ASSERT_NO_FATAL_FAILURE(start_control());
    ApiReply c = control_.call("POST", "/api/v1/catalog", read_file(media / "catalog.json"));
    ASSERT_EQ(c.status, 200) << c.body;
    ControlledEdge x1; // 127.0.0.1 is covered by no site: steered to the exchange, x1
    ASSERT_TRUE(x1.start(media.path(), work_.path(), control_.port, "x1")) << x1.proc.stderr_text();
    ASSERT_EQ(control_
                  .call("PUT", "/api/v1/edges/x1",
                        json{{"url", fmt::format("http://127.0.0.1:{}", x1.port)}}.dump())
                  .status,
              200);
    const std::string base = fmt::format("http://127.0.0.1:{}/r/t/1/", control_.port);
    for (int i = 0; i < 100; ++i) { // until x1 is up, holds the title and has its key
        RawResponse r = get_url(base + "master.m3u8");
        if (r.head.status == 302 &&
            r.header("Location").find(fmt::format(":{}/vt=", x1.port)) != std::string::npos &&
            get_url(r.header("Location")).head.status == 200)
            break;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    for (const char* manifest : {"master.m3u8", "manifest.mpd"}) {
        RunResult probe =
            run_command({"ffprobe", "-v", "error", "-show_entries",
                         "stream=codec_name:format=duration", "-of", "flat", base + manifest},
                        60000);
        ASSERT_EQ(probe.status, 0) << manifest << ": " << probe.output;
        EXPECT_NE(probe.output.find("codec_name=\"h264\""), std::string::npos) << probe.output;
        EXPECT_NE(probe.output.find("codec_name=\"aac\""), std::string::npos) << probe.output;
        EXPECT_NE(probe.output.find("format.duration=\"4."), std::string::npos) << probe.output;
    }
    // ffmpeg decodes every frame of the lowest rendition from the edge, without an error.
    RawResponse r = get_url(base + "media_1.m3u8");
    ASSERT_EQ(r.head.status, 302);
    RunResult decode = run_command(
        {"ffmpeg", "-v", "error", "-nostdin", "-i", r.header("Location"), "-f", "null", "-"},
        60000);
    EXPECT_EQ(decode.status, 0) << decode.output;
    EXPECT_EQ(decode.output, "");
}

// Check before apply: a fleet file's problems, one line each with its line (exit 2, also at
// start), and what applying a good one would change against the running fleet's database.
TEST_F(ControlTest, CheckFleetShowsEveryProblemAndWhatWouldChange) {
    ASSERT_NO_FATAL_FAILURE(start_control());
    const std::string db = "sqlite:" + work_ / "control.db";
    write_file(work_ / "bad.toml", "[origin]\nurl = \"http://127.0.0.1:9\"\n"         // 1-2
                                   "[[sitez]]\nname = \"x\"\n"                        // 3-4
                                   "[[site]]\nname = \"isp-a\"\ntier = \"embeded\"\n" // 5-7
                                   "[[site.edge]]\nid = \"a1\"\n"                     // 8-9
                                   "url = \"http://127.0.0.1:1\"\ntoken = \"edge-secret-0123-a1\"\n"
                                   "storage_bytes = \"lots\"\n"); // 12
    RunResult bad = run_command(
        {vcdn_binary(), "control", "--db", db, "--check-fleet", work_ / "bad.toml"}, 10000);
    EXPECT_EQ(bad.status, 2) << bad.output;
    const std::string f = work_ / "bad.toml";
    for (const std::string& want : {f + ":3: unknown table [sitez]", f + ":7: site[0].tier: use",
                                    f + ":12: site[0].edge[0].storage_bytes: expected an integer"})
        EXPECT_NE(bad.output.find("vcdn control: " + want), std::string::npos) << want << " in:\n"
                                                                               << bad.output;
    // The same file at start is a bad config too: exit 2, not a failure to run.
    write_file(work_ / "c2.toml", fmt::format("[control]\nadmin_token = \"{}\"\n", kAdminToken));
    RunResult start = run_command({vcdn_binary(), "control", "--config", work_ / "c2.toml", "--db",
                                   "sqlite:" + work_ / "other.db", "--listen", "127.0.0.1:0",
                                   "--fleet", work_ / "bad.toml"},
                                  10000);
    EXPECT_EQ(start.status, 2) << start.output;
    EXPECT_NE(start.output.find(f + ":3: unknown table [sitez]"), std::string::npos)
        << start.output;
    // A good change: a2 goes, a3 comes, x1 moves to another address.
    std::string next = fleet_toml();
    const std::string a2 = "id = \"a2\"";
    next.replace(next.find(a2), a2.size(), "id = \"a3\"");
    next.replace(next.find("token = \"edge-secret-0123-a2\""),
                 std::string("token = \"edge-secret-0123-a2\"").size(),
                 "token = \"edge-secret-0123-a3\"");
    const std::string x1url = "url = \"http://127.0.0.1:1\"\ntoken = \"edge-secret-0123-x1\"";
    next.replace(next.find(x1url), x1url.size(),
                 "url = \"http://127.0.0.1:2\"\ntoken = \"edge-secret-0123-x1\"");
    write_file(work_ / "next.toml", next);
    RunResult diff = run_command(
        {vcdn_binary(), "control", "--db", db, "--check-fleet", work_ / "next.toml"}, 10000);
    EXPECT_EQ(diff.status, 0) << diff.output;
    for (const char* want : {"fleet ", "ok: 2 sites, 3 edges", "edge a3 (isp-a): added",
                             "edge a2 (isp-a): removed", "edge x1 (ix-1): changed: url"})
        EXPECT_NE(diff.output.find(want), std::string::npos) << want << " in:\n" << diff.output;
    // The running control plane's fleet is untouched.
    EXPECT_EQ(control_.call("GET", "/api/v1/edges/a2").status, 200);
    // --check-config: the config and the files it names.
    RunResult cc = run_command({vcdn_binary(), "control", "--config", work_ / "c2.toml", "--db", db,
                                "--fleet", work_ / "next.toml", "--check-config"},
                               10000);
    EXPECT_EQ(cc.status, 0) << cc.output;
    EXPECT_NE(cc.output.find("config ok: "), std::string::npos) << cc.output;
    EXPECT_NE(cc.output.find("(2 sites, 3 edges)"), std::string::npos) << cc.output;
}

// Type=notify for the control plane: READY=1 once it listens, RELOADING=1/READY=1 around every
// SIGHUP (a fleet file that does not parse included: the old fleet stays and the failure is
// counted), STOPPING=1 on SIGTERM; WATCHDOG=1 while the sync loop turns.
TEST_F(ControlTest, NotifyProtocolAndAFailedReloadIsCounted) {
    NotifySocket ns(work_ / "notify");
    ASSERT_TRUE(ns.ok());
    control_.spawn.env = {ns.env(), "WATCHDOG_USEC=400000"};
    ASSERT_NO_FATAL_FAILURE(start_control());
    const std::string ready = ns.next_except("WATCHDOG=1", 5000);
    EXPECT_EQ(ready.rfind("READY=1\nSTATUS=1 listener(s), database sqlite", 0), 0u) << ready;
    EXPECT_EQ(control_.call("GET", "/healthz", "", false).status, 200);
    // ~10 pings in 2 s (every 200 ms), of which 3 are asked: a loaded machine delays some.
    std::this_thread::sleep_for(std::chrono::milliseconds(2000));

    const std::string good = read_file(fleet_path_);
    write_file(fleet_path_, good + "\n[[site]]\nname = \"broken\"\ntier = \"nowhere\"\n");
    control_.proc.signal(SIGHUP);
    const std::string reloading = ns.next_except("WATCHDOG=1", 5000);
    EXPECT_GE(ns.skipped(), 3u) << "WATCHDOG=1 every half interval";
    EXPECT_EQ(reloading.rfind("RELOADING=1\nMONOTONIC_USEC=", 0), 0u) << reloading;
    EXPECT_EQ(ns.next_except("WATCHDOG=1", 5000), "READY=1");
    EXPECT_TRUE(control_.proc.wait_for_line(std::regex("fleet reload failed, keeping"), 3000));
    std::string metrics = control_.call("GET", "/metrics", "", false).body;
    EXPECT_NE(metrics.find("vcdn_control_reload_failures_total 1\n"), std::string::npos) << metrics;
    EXPECT_EQ(control_.call("GET", "/api/v1/sites/broken", "", false).status, 404);
    EXPECT_EQ(control_.call("GET", "/api/v1/sites/isp-a", "", false).status, 200);
    // A good file again: applied, the count stays.
    write_file(fleet_path_, good);
    control_.proc.signal(SIGHUP);
    EXPECT_EQ(ns.next_except("WATCHDOG=1", 5000).rfind("RELOADING=1", 0), 0u);
    EXPECT_EQ(ns.next_except("WATCHDOG=1", 5000), "READY=1");
    metrics = control_.call("GET", "/metrics", "", false).body;
    EXPECT_NE(metrics.find("vcdn_control_reload_failures_total 1\n"), std::string::npos);

    control_.proc.signal(SIGTERM);
    EXPECT_EQ(ns.next_except("WATCHDOG=1", 5000), "STOPPING=1");
    auto st = control_.proc.wait_exit(10000);
    ASSERT_TRUE(st.has_value());
    EXPECT_EQ(WEXITSTATUS(*st), 0);
}

TEST_F(ControlTest, AnEdgeRemovedFromTheFleetSaysSo) {
    ASSERT_NO_FATAL_FAILURE(start_control());
    ControlledEdge a1;
    ASSERT_TRUE(
        a1.start(shared_root(), work_.path(), control_.port, "a1", "grace_ms = 600\n", false))
        << a1.proc.stderr_text();
    ASSERT_EQ(control_.wait_edge_state("a1", "up", 5000)["state"], "up");
    UniqueFd kept = connect_to(a1.port);
    std::string carry;
    ASSERT_TRUE(send_all(kept.get(), get_request(kFile, "Range: bytes=0-9\r\n")));
    ASSERT_EQ(read_response(kept.get(), &carry).head.status, 206);
    // It alone holds its files: removing it takes ?force=1.
    ApiReply refused_delete = control_.call("DELETE", "/api/v1/edges/a1");
    EXPECT_EQ(refused_delete.status, 409) << refused_delete.body;
    EXPECT_EQ(refused_delete.json["error"]["code"], "sole-copies") << refused_delete.body;
    ASSERT_EQ(control_.call("DELETE", "/api/v1/edges/a1?force=1").status, 200);
    // Not "unreachable": the control plane answers, and says it knows no such edge.
    ASSERT_TRUE(a1.proc.wait_for_line(std::regex("removed from the fleet"), 5000))
        << a1.proc.stderr_text();
    ASSERT_TRUE(a1.proc.wait_for_line(std::regex("removed from the fleet .* not taking new"), 5000))
        << a1.proc.stderr_text();
    EXPECT_EQ(a1.proc.stderr_text().find("unreachable"), std::string::npos)
        << a1.proc.stderr_text();
    RawResponse refused = fetch(a1.port, get_request(kFile, "Range: bytes=0-9\r\n"));
    EXPECT_EQ(refused.head.status, 503);
    EXPECT_NE(refused.body.find("removed from the fleet: not taking new players"),
              std::string::npos)
        << refused.body;
    RawResponse health = fetch(a1.admin_port, get_request("/healthz"));
    EXPECT_EQ(health.head.status, 503);
    EXPECT_EQ(health.body.rfind("removed from the fleet", 0), 0u) << health.body;
    const std::string metrics = fetch(a1.admin_port, get_request("/metrics")).body;
    EXPECT_NE(metrics.find("vcdn_control_link{state=\"removed\"} 1"), std::string::npos) << metrics;
    // The player it had is still served.
    ASSERT_TRUE(send_all(kept.get(), get_request(kFile, "Range: bytes=10-19\r\n")));
    EXPECT_EQ(read_response(kept.get(), &carry).head.status, 206);
}

TEST_F(ControlTest, EdgeCutOffFromControlTakesNoNewPlayersButKeepsItsOwn) {
    ASSERT_NO_FATAL_FAILURE(start_control());
    const uint16_t control_port = control_.port;
    ControlledEdge a1;
    ASSERT_TRUE(
        a1.start(shared_root(), work_.path(), control_port, "a1", "grace_ms = 800\n", false))
        << a1.proc.stderr_text();
    ASSERT_EQ(control_.wait_edge_state("a1", "up", 5000)["state"], "up");
    UniqueFd kept = connect_to(a1.port);
    std::string carry;
    ASSERT_TRUE(send_all(kept.get(), get_request(kFile, "Range: bytes=0-9\r\n")));
    ASSERT_EQ(read_response(kept.get(), &carry).head.status, 206);

    // Only lines logged after each step count: on a slow machine the edge may have logged both
    // while it was starting (a first heartbeat later than grace_ms).
    size_t seen = a1.proc.line_count();
    control_.proc.signal(SIGTERM);
    ASSERT_TRUE(control_.proc.wait_exit(5000));
    ASSERT_TRUE(a1.proc.wait_for_line(std::regex("not taking new players"), 5000, seen))
        << a1.proc.stderr_text();
    RawResponse refused = fetch(a1.port, get_request(kFile, "Range: bytes=0-9\r\n"));
    EXPECT_EQ(refused.head.status, 503);
    EXPECT_NE(refused.body.find("no control plane"), std::string::npos) << refused.body;
    // Its health check says so too (a balancer or a person deciding where to send players).
    RawResponse health = fetch(a1.admin_port, get_request("/healthz"));
    EXPECT_EQ(health.head.status, 503);
    EXPECT_EQ(health.body.rfind("no control plane: not taking new players for ", 0), 0u)
        << health.body;
    std::string metrics = fetch(a1.admin_port, "GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n").body;
    EXPECT_NE(metrics.find("vcdn_refusing_new_players 1"), std::string::npos) << metrics;
    EXPECT_NE(metrics.find("vcdn_control_connected 0"), std::string::npos);
    EXPECT_NE(metrics.find("vcdn_new_players_refused_total{worker=\"0\"} 1"), std::string::npos);
    // The player it already had keeps being served.
    ASSERT_TRUE(send_all(kept.get(), get_request(kFile, "Range: bytes=10-19\r\n")));
    EXPECT_EQ(read_response(kept.get(), &carry).head.status, 206);

    // The control plane comes back on the same address: new players are taken again.
    seen = a1.proc.line_count();
    ControlProcess again;
    ASSERT_TRUE(again.start(work_.path(), "sqlite:" + work_ / "control.db", fleet_path_,
                            kFastHealth, control_port))
        << again.proc.stderr_text();
    ASSERT_TRUE(a1.proc.wait_for_line(std::regex("taking new players again"), 5000, seen))
        << a1.proc.stderr_text();
    EXPECT_EQ(fetch(a1.port, get_request(kFile, "Range: bytes=0-9\r\n")).head.status, 206);
}

// An edge that has not yet had its keys from the control plane (it has just started, or cannot
// reach it yet) cannot tell a key it will be given from a made-up one: it answers "not yet"
// (503), which a peer filling from it takes as a reason to ask again rather than to go to the
// origin. Once the keys are in, a key it does not know is forbidden (403) as always.
TEST_F(ControlTest, AnEdgeWithoutItsFirstKeysSaysNotYetInsteadOfForbidden) {
    const uint16_t control_port = io::pick_free_loopback_port();
    ControlledEdge a1;
    ASSERT_TRUE(a1.start(shared_root(), work_.path(), control_port, "a1")) << a1.proc.stderr_text();
    auth::SigningKey made_up;
    made_up.id = "k1";
    made_up.secret = std::string(32, 'x');
    const std::string url = auth::sign_url(kFile, std::time(nullptr) + 600, made_up);
    RawResponse early = fetch(a1.port, get_request(url, "Range: bytes=0-9\r\n"));
    EXPECT_EQ(early.head.status, 503) << early.body;
    EXPECT_NE(early.body.find("no signing keys from the control plane yet"), std::string::npos)
        << early.body;
    // A URL without a signature is not "not yet": it is refused as before.
    EXPECT_EQ(fetch(a1.port, get_request(kFile)).head.status, 403);
    std::string metrics = fetch(a1.admin_port, "GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n").body;
    EXPECT_NE(metrics.find("vcdn_new_players_refused_total{worker=\"0\"} 1"), std::string::npos)
        << metrics;

    ASSERT_NO_FATAL_FAILURE(start_control(kFastHealth, control_port));
    ASSERT_TRUE(a1.proc.wait_for_line(std::regex("signing keys from the control plane"), 5000))
        << a1.proc.stderr_text();
    RawResponse later = fetch(a1.port, get_request(url, "Range: bytes=0-9\r\n"));
    EXPECT_EQ(later.head.status, 403) << later.body;
    EXPECT_NE(later.body.find("unknown"), std::string::npos) << later.body;
    // And what the control plane signs for it plays.
    ApiReply r = control_.call("PUT", "/api/v1/edges/a1",
                               json{{"url", fmt::format("http://127.0.0.1:{}", a1.port)}}.dump());
    ASSERT_EQ(r.status, 200) << r.body;
    ASSERT_EQ(control_.wait_edge_state("a1", "up", 5000)["state"], "up");
    RawResponse played;
    for (int i = 0; i < 100 && played.head.status != 206; ++i) {
        json ans = steer("10.1.2.3");
        if (!ans["urls"].empty() && ans["urls"][0]["edge"] == "a1")
            played = get_url(ans["urls"][0]["url"], "Range: bytes=0-9\r\n");
        else
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_EQ(played.head.status, 206) << played.body;
}

TEST_F(ControlTest, StateSurvivesARestart) {
    ASSERT_NO_FATAL_FAILURE(start_control());
    json keys = control_.call("GET", "/api/v1/keys").json;
    ASSERT_EQ(control_.call("POST", "/api/v1/edges/a2/drain").status, 200);
    control_.proc.signal(SIGTERM);
    ASSERT_TRUE(control_.proc.wait_exit(5000));
    ControlProcess again;
    ASSERT_TRUE(again.start(work_.path(), "sqlite:" + work_ / "control.db", "", kFastHealth))
        << again.proc.stderr_text();
    EXPECT_EQ(again.call("GET", "/api/v1/catalog", "", false).json["files"], 6);
    EXPECT_EQ(again.call("GET", "/api/v1/keys").json, keys);
    EXPECT_TRUE(again.call("GET", "/api/v1/edges/a2", "", false).json["drained"].get<bool>());
    EXPECT_EQ(again.call("GET", "/api/v1/sites", "", false).json["sites"].size(), 2u);
}

TEST(ControlCli, BadStartsExitWithOneLine) {
    TempDir work;
    write_file(work / "bad.toml", "[[site]]\nname = \"a\"\nprefixes = [\"10.1.2.3/16\"]\n");
    write_file(work / "admin.token", std::string(kAdminToken) + "\n");
    auto r = run_command({vcdn_binary(), "control", "--listen", "127.0.0.1:0", "--db",
                          "sqlite:" + work / "c.db", "--admin-token-file", work / "admin.token",
                          "--fleet", work / "bad.toml"});
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.output.find("prefix"), std::string::npos) << r.output;
    r = run_command(
        {vcdn_binary(), "control", "--listen", "127.0.0.1:0", "--db", "sqlite:" + work / "c.db"});
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.output.find("admin token"), std::string::npos) << r.output;
    r = run_command({vcdn_binary(), "control", "--admin-token-file", work / "admin.token", "--db",
                     "mysql://x"});
    EXPECT_EQ(r.status, 2);
    // A secret on the command line is no flag at all; a short token is refused.
    r = run_command({vcdn_binary(), "control", "--admin-token", kAdminToken});
    EXPECT_EQ(r.status, 2);
    write_file(work / "short.token", "short\n");
    r = run_command({vcdn_binary(), "control", "--admin-token-file", work / "short.token"});
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.output.find("at least 16"), std::string::npos) << r.output;
    r = run_command(
        {vcdn_binary(), "edge", "--root", work.path(), "--control", "http://nowhere", "--id", "a"});
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.output.find("control"), std::string::npos) << r.output;
    // Plain http to the control plane only when asked for; https needs the CA.
    write_file(work / "edge.token", "edge-token-0123456789\n");
    r = run_command({vcdn_binary(), "edge", "--root", work.path(), "--control",
                     "http://127.0.0.1:1", "--id", "a", "--token-file", work / "edge.token"});
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.output.find("in clear"), std::string::npos) << r.output;
    r = run_command({vcdn_binary(), "edge", "--root", work.path(), "--control",
                     "https://127.0.0.1:1", "--id", "a", "--token-file", work / "edge.token"});
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.output.find("--control-ca"), std::string::npos) << r.output;
}

} // namespace
} // namespace vcdn::test

namespace vcdn::test {
namespace {

TEST(ControlPrefixBinding, SignedUrlsBoundToTheClientsPrefixWorkOnlyFromThere) {
    TempDir work;
    write_file(work / "fleet.toml", fleet_toml());
    ControlProcess control;
    ASSERT_TRUE(control.start(work.path(), "sqlite:" + work / "c.db", work / "fleet.toml",
                              std::string("bind_client_prefix = true\n") + kFastHealth))
        << control.proc.stderr_text();
    ASSERT_EQ(
        control.call("POST", "/api/v1/catalog", read_file(shared_root() + "/catalog.json")).status,
        200);
    ControlledEdge a1;
    ASSERT_TRUE(a1.start(shared_root(), work.path(), control.port, "a1")) << a1.proc.stderr_text();
    ASSERT_EQ(control
                  .call("PUT", "/api/v1/edges/a1",
                        json{{"url", fmt::format("http://127.0.0.1:{}", a1.port)}}.dump())
                  .status,
              200);
    ASSERT_EQ(control.wait_edge_state("a1", "up", 5000)["state"], "up");
    // Fetch from 127.0.0.1: a URL steered for 127.0.0.1 (bound to 127.0.0.0/24) works, one
    // steered for 10.1.2.3 (bound to its prefix 10.1.0.0/16) is refused as wrong-prefix.
    auto first_url = [&](const std::string& client) {
        for (int i = 0; i < 100; ++i) {
            ApiReply r = control.call(
                "GET", fmt::format("/api/v1/steer?file={}&client={}", kFile, client), "", false);
            if (r.status == 200 && r.json["urls"][0]["edge"] == "a1")
                return r.json["urls"][0]["url"].get<std::string>();
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        return std::string();
    };
    // 127.0.0.1 is in no site's prefixes: only exchanges (none up) and the origin. Give the
    // loopback network to isp-a so that a1 is steered to.
    ASSERT_EQ(
        control
            .call("PUT", "/api/v1/sites/isp-a", R"({"prefixes": ["10.1.0.0/16", "127.0.0.0/8"]})")
            .status,
        200);
    std::string mine = first_url("127.0.0.1"), theirs = first_url("10.1.2.3");
    ASSERT_FALSE(mine.empty());
    ASSERT_FALSE(theirs.empty());
    EXPECT_NE(mine.find("&p=127.0.0.0/8"), std::string::npos) << mine;
    EXPECT_NE(theirs.find("&p=10.1.0.0/16"), std::string::npos) << theirs;
    RawResponse ok;
    for (int i = 0; i < 50; ++i) {
        ok = get_url(mine, "Range: bytes=0-9\r\n");
        if (ok.head.status == 206) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_EQ(ok.head.status, 206) << ok.body;
    RawResponse refused = get_url(theirs, "Range: bytes=0-9\r\n");
    EXPECT_EQ(refused.head.status, 403);
    EXPECT_NE(refused.body.find("client network"), std::string::npos) << refused.body;
}

} // namespace
} // namespace vcdn::test

namespace vcdn::test {
namespace {

// Steering answers are not views (the review found 200 anonymous answers with a chosen
// client= added 200 views to a group's popularity): placement learns only from what edges
// served. Over a real process: the answers are counted for the dashboard, not as demand.
TEST_F(ControlTest, SteeringAnswersAddNoDemand) {
    start_control();
    const std::string other = "/t/2/v-235k.mp4";
    for (int i = 0; i < 100; ++i) {
        steer("10.1.2.3");          // isp-a (10.1.0.0/16)
        steer("10.200.0.1", other); // ix-1 (10.0.0.0/8)
    }
    auto today = [&](const std::string& group, const std::string& path) {
        return control_.popularity_today(group, path);
    };
    // Past a few syncs (what flushed steering's counts before).
    const auto deadline = Clock::now() + std::chrono::seconds(2);
    while (Clock::now() < deadline) {
        for (const char* g : {"isp-a", "ix-1"})
            for (const std::string& p : {std::string(kFile), other})
                ASSERT_EQ(today(g, p), 0) << g << " " << p;
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    json dash = control_.call("GET", "/api/v1/dashboard").json;
    EXPECT_GE(dash["steering"].value("total", 0), 200) << dash["steering"].dump();
    EXPECT_EQ(control_.call("GET", "/api/v1/popularity").status, 400);
    EXPECT_EQ(api(control_.port, "GET", "/api/v1/popularity?group=isp-a", "", "").status, 401);
}

// A web player on the streaming service's page calls steering and posts QoE across origins:
// the preflight is answered (no token needed) and every answer, errors too, may be read.
TEST_F(ControlTest, WebPlayersMayCallSteeringAndQoeFromAnotherPage) {
    start_control();
    const std::string origin = "Origin: https://player.example\r\n";
    for (const char* path : {"/api/v1/steer", "/api/v1/qoe"}) {
        RawResponse r =
            fetch(control_.port, fmt::format("OPTIONS {} HTTP/1.1\r\nHost: c\r\n{}"
                                             "Access-Control-Request-Method: POST\r\n"
                                             "Access-Control-Request-Headers: content-type\r\n\r\n",
                                             path, origin));
        ASSERT_TRUE(r.ok) << r.error;
        EXPECT_EQ(r.head.status, 204) << path << " " << r.body;
        EXPECT_EQ(r.header("Access-Control-Allow-Origin"), "*") << path;
        EXPECT_NE(r.header("Access-Control-Allow-Methods").find("POST"), std::string::npos);
        EXPECT_NE(r.header("Access-Control-Allow-Headers").find("Content-Type"), std::string::npos);
        EXPECT_TRUE(r.header("Content-Length").empty()) << "a 204 has no Content-Length";
    }
    RawResponse r =
        fetch(control_.port,
              get_request(fmt::format("/api/v1/steer?file={}&client=10.1.2.3", kFile), origin));
    EXPECT_EQ(r.head.status, 200) << r.body;
    EXPECT_EQ(r.header("Access-Control-Allow-Origin"), "*");
    r = fetch(control_.port, get_request("/api/v1/steer?file=nope", origin));
    EXPECT_EQ(r.head.status, 400) << r.body;
    EXPECT_EQ(r.header("Access-Control-Allow-Origin"), "*") << "a player must see why";
    // What players do not call gets no CORS.
    r = fetch(control_.port, get_request("/api/v1/events", origin));
    EXPECT_TRUE(r.header("Access-Control-Allow-Origin").empty()) << r.head.status;
}

// Player-session tokens end to end: minted by `vcdn sign --session` with the front end's key
// file, taken by a real control plane's steering from an untrusted address, refused without
// one or with a stale one after a key rotation by SIGHUP.
TEST(ControlSessions, SteeringTakesTokensMintedByVcdnSignAndKeysRotateOnSighup) {
    TempDir work;
    write_file(work / "fleet.toml", fleet_toml());
    write_file(work / "session.keys", "s1 " + std::string(64, 'c') + "\n");
    ControlProcess control;
    // 127.0.0.1 (the test) is not a trusted front end here: it is a player.
    ASSERT_TRUE(control.start(work.path(), "sqlite:" + work / "c.db", work / "fleet.toml",
                              fmt::format("[control.limits]\ntrusted = [\"127.0.0.9/32\"]\n"
                                          "[control.steering]\nsession_keys = \"{}\"\n",
                                          work / "session.keys")))
        << control.proc.stderr_text();
    ASSERT_EQ(
        control.call("POST", "/api/v1/catalog", read_file(shared_root() + "/catalog.json")).status,
        200);
    auto mint = [&](std::vector<std::string> extra) {
        std::vector<std::string> argv = {
            vcdn_binary(), "sign",  "--key-file", work / "session.keys",
            "--session",   "--ttl", "600"};
        argv.insert(argv.end(), extra.begin(), extra.end());
        RunResult r = run_command(argv);
        EXPECT_EQ(r.status, 0) << r.output;
        std::string out = r.output;
        while (!out.empty() && out.back() == '\n')
            out.pop_back();
        return out.substr(out.rfind('\n') + 1);
    };
    auto steer = [&](const std::string& token) {
        return control.call(
            "GET",
            fmt::format("/api/v1/steer?file={}{}", kFile, token.empty() ? "" : "&session=" + token),
            "", false);
    };
    ApiReply r = steer("");
    EXPECT_EQ(r.status, 401) << r.body;
    EXPECT_EQ(r.json["error"]["code"], "missing-session");
    const std::string t1 = mint({});
    EXPECT_EQ(steer(t1).status, 200) << steer(t1).body << " token " << t1;
    EXPECT_EQ(steer(mint({"--client", "127.0.0.1"})).status, 200);
    r = steer(mint({"--client", "10.9.9.9"}));
    EXPECT_EQ(r.status, 403);
    EXPECT_EQ(r.json["error"]["message"], "session token refused: for another client") << r.body;
    // Rotation: the front end's file gets a new key, the control plane a SIGHUP.
    write_file(work / "session.keys", "s2 " + std::string(64, 'd') + "\n");
    control.proc.signal(SIGHUP);
    ASSERT_TRUE(control.proc.wait_for_line(std::regex("1 session key\\(s\\) reloaded"), 5000))
        << control.proc.stderr_text();
    r = steer(t1);
    EXPECT_EQ(r.status, 403);
    EXPECT_EQ(r.json["error"]["message"], "session token refused: unknown key");
    const std::string t2 = mint({});
    EXPECT_EQ(steer(t2).status, 200);
    // A broken file keeps the keys in use.
    write_file(work / "session.keys", "not a key file\n");
    control.proc.signal(SIGHUP);
    ASSERT_TRUE(control.proc.wait_for_line(std::regex("session keys not reloaded"), 5000))
        << control.proc.stderr_text();
    EXPECT_EQ(steer(t2).status, 200);
    const std::string m = control.call("GET", "/metrics").body;
    EXPECT_NE(m.find("vcdn_control_steer_session_refused_total{reason=\"unknown_key\"} 1"),
              std::string::npos)
        << m;
    // vcdn sign refuses what would make a bad token.
    write_file(work / "good.keys", "s3 " + std::string(64, 'e') + "\n");
    RunResult bad = run_command(
        {vcdn_binary(), "sign", "--key-file", work / "good.keys", "--session", "--client", "nope"});
    EXPECT_EQ(bad.status, 2) << bad.output;
    EXPECT_NE(bad.output.find("vcdn sign: --client:"), std::string::npos) << bad.output;
}

} // namespace
} // namespace vcdn::test
