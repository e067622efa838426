// Standard players against the whole CDN: a real title (ffmpeg), a real origin, a control plane
// and four edges on addresses of their own, and Debian's headless Chromium running hls.js,
// dash.js and Shaka Player on the control plane's watch page (another origin than the edges).
// Each plays a title straight from an edge and through the generated, steered manifest with
// title tokens, seeks and plays on; then each rides through the edge it plays from being killed.
// The generated manifests are also checked by bytes: every location's token works on its own
// edge for its own title and nowhere else, and every refusal has its status and reason.
// The browser side is tests/integration/control/player_check.mjs.
#include <sys/stat.h>

#include <csignal>
#include <deque>
#include <regex>
#include <set>
#include <thread>

#include "control_fixture.h"

namespace vcdn::test {
namespace {

using nlohmann::json;

constexpr int kEdges = 4;
// Down after 1 s without a heartbeat (5 × 200 ms), not 600 ms: Chromium, four edges and the
// control plane share two cores with another test, and a healthy edge starved for 600 ms
// leaves steering. (Once, in a clean-clone run, a DASH player whose edge was killed went on
// from the origin, not from one of the two edges left; the likeliest cause is this.)
const char* kPlayHealth = "[control.health]\nheartbeat_interval_ms = 200\nmissed_heartbeats = 5\n"
                          "hold_down_ms = 500\n[control.play]\nsteering_ttl_s = 1\n";

// Three real titles (24 s, 300k and 750k H.264 + AAC), made once per test binary: 1 and 2
// encoded, 3 a copy of 1 (the same manifest bytes under another path).
const std::string& shared_media() {
    // Lives for the whole test binary and is removed when it exits (ctest runs each test in a
    // process of its own: a directory left behind by each would add up to ~100 MB a run).
    static TempDir dir;
    static std::string root = [] {
        const std::string out = dir.path() + "/media";
        RunResult made = run_command({vcdn_binary(), "catalog", "make", "--media", "--quiet",
                                      "--out", out, "--titles", "3", "--distinct", "2",
                                      "--bitrates", "300,750", "--seconds", "24"},
                                     180000);
        if (made.status != 0) ADD_FAILURE() << made.output;
        return out;
    }();
    return root;
}

// Every line of a playlist that is a URI (its own lines and URI="..." attributes).
std::vector<std::string> playlist_uris(const std::string& text) {
    std::vector<std::string> out;
    static const std::regex attr(R"re(URI="([^"]+)")re");
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        if (line.empty()) continue;
        if (line[0] != '#') {
            out.push_back(line);
            continue;
        }
        for (std::sregex_iterator it(line.begin(), line.end(), attr), end; it != end; ++it)
            out.push_back((*it)[1]);
    }
    return out;
}

class PlayerTest : public ::testing::Test {
protected:
    void SetUp() override {
        media_ = shared_media();
        ASSERT_FALSE(media_.empty());
        ASSERT_TRUE(origin_.start({vcdn_binary(), "origin", "--root", media_, "--listen",
                                   "127.0.0.1:0", "--access-log", "off"}));
        auto m = origin_.wait_for_line(std::regex(R"(listening http://127\.0\.0\.1:(\d+))"), 10000);
        ASSERT_TRUE(m) << origin_.stderr_text();
        origin_port_ = static_cast<uint16_t>(std::stoi((*m)[1]));
    }
    // The fleet: one site for 127.0.0.0/24 (the browser and the tests) with `edges` edges.
    void start_control(int edges, const std::string& extra = kPlayHealth) {
        std::string fleet = fmt::format("[origin]\nurl = \"http://127.0.0.1:{}\"\n\n[[site]]\n"
                                        "name = \"isp\"\ntier = \"embedded\"\n"
                                        "prefixes = [\"127.0.0.0/24\"]\n",
                                        origin_port_);
        for (int i = 1; i <= edges; ++i)
            fleet += fmt::format("\n[[site.edge]]\nid = \"a{}\"\nurl = \"http://127.0.0.1:1\"\n"
                                 "token = \"edge-secret-0123-a{}\"\nstorage_bytes = 1000000000\n",
                                 i, i);
        write_file(work_ / "fleet.toml", fleet);
        ASSERT_TRUE(control_.start(work_.path(), "sqlite:" + work_ / "control.db",
                                   work_ / "fleet.toml", extra))
            << control_.proc.stderr_text();
        ApiReply c = control_.call("POST", "/api/v1/catalog", read_file(media_ + "/catalog.json"));
        ASSERT_EQ(c.status, 200) << c.body;
        // Title 1 is the popular one: a copy on every edge. Title 2 gets one copy.
        json pop = json::parse(read_file(media_ + "/catalog.json"));
        json files = json::array();
        for (const auto& f : pop["files"])
            files.push_back({{"path", f["path"]}, {"popularity", f["title"] == 1 ? 100.0 : 1.0}});
        ApiReply p = control_.call("POST", "/api/v1/popularity", json{{"files", files}}.dump());
        ASSERT_EQ(p.status, 200) << p.body;
        edges_.resize(static_cast<size_t>(edges));
        for (int i = 1; i <= edges; ++i) {
            ControlledEdge& e = edges_[static_cast<size_t>(i - 1)];
            e.ip = fmt::format("127.0.0.{}", 10 + i); // Shaka bans a failing host by name
            const std::string root = work_ / fmt::format("edge{}", i);
            ::mkdir(root.c_str(), 0755);
            ASSERT_TRUE(e.start(root, work_.path(), control_.port, fmt::format("a{}", i),
                                "[edge.fill]\nwindow = \"always\"\n"))
                << e.proc.stderr_text();
            ApiReply r =
                control_.call("PUT", fmt::format("/api/v1/edges/a{}", i),
                              json{{"url", fmt::format("http://{}:{}", e.ip, e.port)}}.dump());
            ASSERT_EQ(r.status, 200) << r.body;
        }
    }
    // The generated manifest for a title, once it names `want` edges (they have filled it).
    ApiReply play(const std::string& name, size_t want, const std::string& extra = "") {
        ApiReply r;
        for (int i = 0; i < 300; ++i) {
            r = api(control_.port, "GET", "/api/v1/play/" + name + extra);
            size_t n = 0;
            for (int e = 1; e <= kEdges; ++e)
                n += r.body.find(fmt::format("=\"a{}\"", e)) != std::string::npos;
            if (r.status == 200 && n >= want) return r;
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        ADD_FAILURE() << name << " never named " << want << " edges: " << r.status << " " << r.body;
        return r;
    }
    std::string watch(const std::string& query) const {
        return fmt::format("http://127.0.0.1:{}/watch?{}", control_.port, query);
    }
    // Runs the plan's cases in one browser; returns the checker's output.
    std::string run_players(const json& cases) {
        const std::string plan = work_ / "plan.json";
        write_file(plan, json{{"cases", cases}}.dump());
        RunResult r = run_command(
            {VCDN_NODE,
             std::string(VCDN_SOURCE_DIR) + "/tests/integration/control/player_check.mjs", plan},
            240000);
        EXPECT_EQ(r.status, 0) << r.output;
        return r.output;
    }

    TempDir work_;
    std::string media_;
    Process origin_;
    uint16_t origin_port_ = 0;
    ControlProcess control_;
    std::deque<ControlledEdge> edges_; // not movable (each owns its process)
};

bool have_browser() {
    struct stat st {};
    return ::stat("/usr/bin/chromium", &st) == 0 &&
           ::stat((std::string(VCDN_SOURCE_DIR) + "/web/dashboard/node_modules/playwright-core")
                      .c_str(),
                  &st) == 0;
}

TEST_F(PlayerTest, WebPlayersPlayFromAnEdgeAndThroughSteering) {
    ASSERT_TRUE(have_browser()) << "Debian's chromium and web/dashboard's npm packages are needed "
                                   "(scripts/setup installs them)";
    ASSERT_NO_FATAL_FAILURE(start_control(2));
    ASSERT_EQ(play("1.mpd", 2).status, 200);
    ASSERT_EQ(play("1.m3u8", 2).status, 200);
    // Straight from an edge: the packaged manifest's title URL (the 302 mode says which).
    auto direct = [&](const char* manifest) {
        RawResponse r =
            get_url(fmt::format("http://127.0.0.1:{}/r/t/1/{}", control_.port, manifest));
        EXPECT_EQ(r.head.status, 302) << r.body;
        EXPECT_NE(r.header("Location").find("/vt="), std::string::npos);
        return r.header("Location");
    };
    const std::string mpd = direct("manifest.mpd"), m3u8 = direct("master.m3u8");
    json cases = json::array();
    for (const char* p : {"hls", "dash", "shaka"}) {
        const std::string src = std::string(p) == "hls" ? m3u8 : mpd;
        cases.push_back({{"name", fmt::format("{}-direct", p)},
                         {"url", watch(fmt::format("player={}&buffer=4&src={}", p, src))},
                         {"play", 2},
                         {"seek", 14},
                         {"after", 2}});
        cases.push_back({{"name", fmt::format("{}-steered", p)},
                         {"url", watch(fmt::format("player={}&buffer=4&title=1", p))},
                         {"play", 2},
                         {"seek", 14},
                         {"after", 2}});
    }
    const std::string out = run_players(cases);
    for (const char* c : {"hls-direct", "hls-steered", "dash-direct", "dash-steered",
                          "shaka-direct", "shaka-steered"})
        EXPECT_NE(out.find(fmt::format("player_check: ok: {}:", c)), std::string::npos) << c << "\n"
                                                                                        << out;
}

TEST_F(PlayerTest, WebPlayersRideThroughTheirEdgeBeingKilled) {
    ASSERT_TRUE(have_browser()) << "Debian's chromium and web/dashboard's npm packages are needed";
    ASSERT_NO_FATAL_FAILURE(start_control(kEdges));
    ASSERT_EQ(play("1.mpd", kEdges).status, 200);
    // Each player kills the edge it is on; four edges leave the last one an edge to go to.
    json pids = json::object();
    for (int i = 0; i < kEdges; ++i)
        pids[fmt::format("a{}", i + 1)] = edges_[static_cast<size_t>(i)].proc.pid();
    json cases = json::array();
    for (const char* p : {"hls", "dash", "shaka"})
        cases.push_back({{"name", fmt::format("{}-failover", p)},
                         {"url", watch(fmt::format("player={}&buffer=4&title=1", p))},
                         {"play", 4},
                         {"after", 6},
                         {"kill", {{"pids", pids}}}});
    const std::string out = run_players(cases);
    std::set<std::string> killed;
    static const std::regex line(
        R"(player_check: ok: (\w+)-failover: played to [0-9.]+ s on (a\d), killed it, played on to [0-9.]+ s from (a\d))");
    for (std::sregex_iterator it(out.begin(), out.end(), line), end; it != end; ++it) {
        killed.insert((*it)[2]);
        EXPECT_NE((*it)[2], (*it)[3]);
    }
    EXPECT_EQ(killed.size(), 3u) << out;
    // The control plane's steering log shows rankings without the edges that died.
    const std::string log = read_file(work_ / "steering.log");
    for (const std::string& k : killed) {
        bool dropped = false;
        std::istringstream in(log);
        for (std::string l; std::getline(in, l);) {
            if (l.find("\"kind\":\"steering\"") == std::string::npos) continue;
            json j = json::parse(l, nullptr, false);
            bool has = false;
            for (const auto& r : j["ranked"])
                has = has || r["edge"] == k;
            dropped = dropped || !has;
        }
        EXPECT_TRUE(dropped) << "no steering answer left " << k << " out";
    }
    for (ControlledEdge& e : edges_)
        e.proc.wait_exit(100); // reap the killed ones
}

TEST_F(PlayerTest, GeneratedManifestsCarryATokenPerEdgeThatOpensOnlyItsTitle) {
    ASSERT_NO_FATAL_FAILURE(start_control(2));
    ApiReply hls = play("1.m3u8", 2);
    ASSERT_EQ(hls.status, 200);
    // Pathways a1, a2 and the origin; every URI in it plays from where it points, and the
    // packaged media playlists' relative URLs keep the token.
    std::map<std::string, std::string> token_of; // host:port -> its /vt=... prefix
    static const std::regex loc(R"(^(http://[0-9.]+:\d+)(/vt=[^/]+)?(/t/1/.*)$)");
    for (const std::string& uri : playlist_uris(hls.body)) {
        if (uri.find("/api/v1/play/1/steering") != std::string::npos) continue;
        std::smatch m;
        ASSERT_TRUE(std::regex_match(uri, m, loc)) << uri;
        token_of[m[1]] = m[2];
        RawResponse r = get_url(uri);
        ASSERT_EQ(r.head.status, 200) << uri << ": " << r.body;
        for (const std::string& seg : playlist_uris(r.body)) {
            const std::string abs = std::string(m[1]) + std::string(m[2]) + "/t/1/" + seg;
            EXPECT_EQ(get_url(abs, "Range: bytes=0-99\r\n").head.status, 206) << abs;
        }
    }
    ASSERT_EQ(token_of.size(), 3u) << hls.body; // two edges and the origin
    std::vector<std::string> edges;
    for (const auto& [base, token] : token_of)
        if (!token.empty()) edges.push_back(base);
    ASSERT_EQ(edges.size(), 2u) << hls.body;
    // A token opens its own title on its own edge only.
    const std::string mine = edges[0] + token_of[edges[0]];
    EXPECT_EQ(get_url(mine + "/t/1/r0.mp4", "Range: bytes=0-9\r\n").head.status, 206);
    for (const auto& [url, why] : std::vector<std::pair<std::string, std::string>>{
             {mine + "/t/2/r0.mp4", "title token forged or for another title"},
             {edges[1] + token_of[edges[0]] + "/t/1/r0.mp4",
              "title token forged or for another title"},
             {edges[0] + "/t/1/r0.mp4", "signed URL required"}}) {
        RawResponse r = get_url(url, "Range: bytes=0-9\r\n");
        EXPECT_EQ(r.head.status, 403) << url;
        EXPECT_NE(r.body.find(why), std::string::npos) << url << ": " << r.body;
    }
    // DASH: every Representation has a BaseURL per location, and each plays.
    ApiReply dash = play("1.mpd", 2);
    ASSERT_EQ(dash.status, 200);
    EXPECT_EQ(dash.body.find("<BaseURL>"), std::string::npos) << "the packager's BaseURLs are gone";
    static const std::regex base(R"re(<BaseURL serviceLocation="([a-z0-9]+)">([^<]+)</BaseURL>)re");
    size_t bases = 0;
    for (std::sregex_iterator it(dash.body.begin(), dash.body.end(), base), end; it != end; ++it) {
        ++bases;
        EXPECT_EQ(get_url((*it)[2], "Range: bytes=0-99\r\n").head.status, 206) << (*it)[2];
    }
    EXPECT_EQ(bases, 9u) << dash.body; // 3 Representations x (a1, a2, origin)
    std::smatch cs;
    const std::regex steering(
        R"re(<ContentSteering defaultServiceLocation="(a\d)" queryBeforeStart="true">([^<]+)</ContentSteering>)re");
    ASSERT_TRUE(std::regex_search(dash.body, cs, steering)) << dash.body;
    // Title 3 is a copy of title 1: the same manifest bytes under /t/3/, which must name /t/3/
    // files (the cache keeps a manifest per path, not only per content).
    ApiReply copy = play("3.m3u8", 1);
    ASSERT_EQ(copy.status, 200) << copy.body;
    for (const std::string& uri : playlist_uris(copy.body)) {
        if (uri.find("/steering") != std::string::npos) continue;
        EXPECT_NE(uri.find("/t/3/"), std::string::npos) << uri;
    }
    ApiReply copy_mpd = play("3.mpd", 1);
    ASSERT_EQ(copy_mpd.status, 200) << copy_mpd.body;
    EXPECT_EQ(copy_mpd.body.find("/t/1/"), std::string::npos) << copy_mpd.body;
    // The steering server answers the current ranking: both edges, then the origin.
    std::string target = std::regex_replace(std::string(cs[2]), std::regex("&amp;"), "&");
    target = target.substr(target.find("/api/"));
    ApiReply s = api(control_.port, "GET", target);
    ASSERT_EQ(s.status, 200) << s.body;
    EXPECT_EQ(s.json["VERSION"], 1);
    EXPECT_EQ(s.json["TTL"], 1);
    ASSERT_EQ(s.json["PATHWAY-PRIORITY"].size(), 3u) << s.body;
    EXPECT_EQ(s.json["PATHWAY-PRIORITY"][0], cs[1].str());
    EXPECT_EQ(s.json["PATHWAY-PRIORITY"][2], "origin");
    EXPECT_EQ(s.json["SERVICE-LOCATION-PRIORITY"], s.json["PATHWAY-PRIORITY"]);
    // ... and drops an edge that died.
    const std::string first = s.json["PATHWAY-PRIORITY"][0];
    ControlledEdge& dead = edges_[first == "a1" ? 0 : 1];
    dead.proc.signal(SIGKILL);
    dead.proc.wait_exit(5000);
    ASSERT_EQ(control_.wait_edge_state(first, "down", 10000)["state"], "down");
    s = api(control_.port, "GET", target);
    ASSERT_EQ(s.status, 200) << s.body;
    EXPECT_EQ(s.json["PATHWAY-PRIORITY"].size(), 2u) << s.body;
    EXPECT_NE(s.json["PATHWAY-PRIORITY"][0], first) << s.body;
}

TEST_F(PlayerTest, TokensCanBeBoundToTheClientsNetwork) {
    ASSERT_NO_FATAL_FAILURE(
        start_control(2, "bind_client_prefix = true\n" + std::string(kPlayHealth)));
    ApiReply hls = play("1.m3u8", 2);
    ASSERT_EQ(hls.status, 200);
    std::string uri;
    for (const std::string& u : playlist_uris(hls.body))
        if (u.find("/vt=") != std::string::npos && uri.empty()) uri = u;
    ASSERT_FALSE(uri.empty()) << hls.body;
    EXPECT_NE(uri.find("~127.0.0.0_24~"), std::string::npos) << uri;
    EXPECT_EQ(get_url(uri, "", "127.0.0.7").head.status, 200);
    RawResponse far = get_url(uri, "", "127.0.1.7");
    EXPECT_EQ(far.head.status, 403);
    EXPECT_NE(far.body.find("not valid for this client network"), std::string::npos) << far.body;
}

TEST_F(PlayerTest, BadPlaybackRequestsAreAnsweredWithAReason) {
    ASSERT_NO_FATAL_FAILURE(start_control(1));
    ASSERT_EQ(play("1.m3u8", 1).status, 200);
    struct Case {
        std::string target;
        int status;
        std::string code;
    };
    for (const Case& c : std::vector<Case>{
             {"/api/v1/play/9.m3u8", 404, "unknown-title"},
             {"/api/v1/play/0.mpd", 404, "unknown-title"},
             {"/api/v1/play/1.txt", 404, "unknown-title"},
             {"/api/v1/play/x.mpd", 404, "unknown-title"},
             {"/api/v1/play/1/steering", 400, "bad-kind"},
             {"/api/v1/play/1/steering?kind=hls", 400, "bad-key"},
             {"/api/v1/play/1/steering?kind=hls&key=/t/2/r0.mp4", 404, "unknown-file"},
             {"/api/v1/play/9/steering?kind=dash&key=/t/1/r0.mp4", 404, "unknown-title"}}) {
        ApiReply r = api(control_.port, "GET", c.target);
        EXPECT_EQ(r.status, c.status) << c.target << ": " << r.body;
        EXPECT_EQ(r.json["error"]["code"], c.code) << c.target << ": " << r.body;
        EXPECT_FALSE(r.json["error"]["message"].get<std::string>().empty());
    }
    // Errors carry CORS, so a web page can read why; the preflight needs no token.
    RawResponse e =
        fetch(control_.port, get_request("/api/v1/play/9.mpd", "Origin: https://p.example\r\n"));
    EXPECT_EQ(e.head.status, 404);
    EXPECT_EQ(e.header("Access-Control-Allow-Origin"), "*");
    RawResponse pre =
        fetch(control_.port, get_request("/api/v1/play/1.mpd",
                                         "Origin: https://p.example\r\nAccess-Control-Request-"
                                         "Method: GET\r\n",
                                         "OPTIONS"));
    EXPECT_EQ(pre.head.status, 204);
    EXPECT_EQ(pre.header("Access-Control-Allow-Origin"), "*");
    // So do the listener's own refusals: an unknown path, a method a route does not take.
    for (const std::string& req :
         {get_request("/api/v1/nothing-here", "Origin: https://p.example\r\n"),
          get_request("/api/v1/play/1.mpd", "Origin: https://p.example\r\n", "DELETE")}) {
        RawResponse r = fetch(control_.port, req);
        EXPECT_TRUE(r.head.status == 404 || r.head.status == 405) << r.head_text;
        EXPECT_EQ(r.header("Access-Control-Allow-Origin"), "*") << r.head_text;
    }
    // A forged X-Forwarded-For from a peer that is no configured proxy changes nothing: the
    // client is still 127.0.0.1 (steered to the site), not 10.9.9.9 (origin only).
    RawResponse x =
        fetch(control_.port, get_request("/api/v1/play/1.m3u8", "X-Forwarded-For: 10.9.9.9\r\n"));
    EXPECT_EQ(x.head.status, 200);
    EXPECT_NE(x.body.find("PATHWAY-ID=\"a1\""), std::string::npos) << x.body;
    // A manifest whose bytes are not the catalog's is refused, not served.
    json cat = json::parse(read_file(media_ + "/catalog.json"));
    for (auto& f : cat["files"])
        if (f["path"] == "/t/2/manifest.mpd") f["sha256"] = std::string(64, '0');
    ASSERT_EQ(control_.call("POST", "/api/v1/catalog", cat.dump()).status, 200);
    ApiReply bad = api(control_.port, "GET", "/api/v1/play/2.mpd");
    EXPECT_EQ(bad.status, 503) << bad.body;
    EXPECT_EQ(bad.json["error"]["code"], "manifest-unavailable");
    EXPECT_NE(bad.body.find("not the catalog's bytes"), std::string::npos) << bad.body;
    std::string metrics = control_.call("GET", "/metrics").body;
    EXPECT_NE(metrics.find("vcdn_control_play_manifest_fetches_total{result=\"mismatch\"}"),
              std::string::npos)
        << metrics;
}

} // namespace
} // namespace vcdn::test
