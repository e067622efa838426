// Placement and fill end to end: a real origin (and a mirror), a real control plane and real
// edges that fetch their manifests and fill from peers, parent sites and the origin, verify
// every byte, survive kill -9 and honour their rate cap.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include <vcdn/base/sha256.h>
#include <vcdn/catalog/catalog.h>
#include <vcdn/io/tcp.h>

#include "control_fixture.h"

namespace vcdn::test {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

// The origin's own key: the control plane signs its URLs with it; no edge holds it.
constexpr const char* kOriginKeys =
    "o1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n";

// A port that was free a moment ago (the fleet names edge URLs before the edges start).
uint16_t free_port() {
    return io::pick_free_loopback_port();
}

struct Server {
    Process proc;
    uint16_t port = 0;
    std::string root;
    std::string access_log;
};

struct FillEdge {
    std::string id;
    uint16_t port = 0;
    uint16_t admin_port = 0;
    std::string root;
    std::string access_log;
    std::unique_ptr<Process> proc; // a new one for each start
};

class FillTest : public ::testing::Test {
protected:
    // Makes a catalog into origin_root_.
    void make_catalog(uint32_t titles, std::vector<uint32_t> bitrates, uint32_t seconds) {
        catalog::MakeOptions o;
        o.out_dir = work_ / "origin";
        o.titles = titles;
        o.bitrates_kbps = std::move(bitrates);
        o.seconds = seconds;
        o.seed = 11;
        auto c = catalog::make_catalog(o);
        ASSERT_TRUE(c) << c.error().message;
        catalog_ = *c;
        origin_.root = o.out_dir;
    }
    // The origin (and its mirrors) take only URLs signed with the origin's key.
    void start_origin(Server* s, const std::string& name) {
        s->access_log = work_ / (name + "-access.log");
        write_file(work_ / "origin.keys", kOriginKeys);
        ASSERT_TRUE(
            s->proc.start({vcdn_binary(), "origin", "--root", s->root, "--listen", "127.0.0.1:0",
                           "--signing-keys", work_ / "origin.keys", "--require-signed-urls",
                           "--workers", "1", "--access-log", s->access_log}));
        auto m = s->proc.wait_for_line(std::regex(R"(listening http://127\.0\.0\.1:(\d+))"), 10000);
        ASSERT_TRUE(m) << s->proc.stderr_text();
        s->port = static_cast<uint16_t>(std::stoi((*m)[1]));
    }
    FillEdge* add_edge(const std::string& id) {
        auto e = std::make_unique<FillEdge>();
        e->id = id;
        e->port = free_port();
        e->root = work_ / ("root-" + id);
        e->access_log = work_ / ("access-" + id + ".log");
        fs::create_directories(e->root);
        edges_.push_back(std::move(e));
        return edges_.back().get();
    }
    FillEdge* edge(const std::string& id) {
        for (auto& e : edges_)
            if (e->id == id) return e.get();
        return nullptr;
    }
    void start_control(const std::string& fleet) {
        write_file(work_ / "fleet.toml", fleet);
        // As deployed: TLS on every listener, edges on their own.
        ASSERT_TRUE(control_.start_tls(work_.path(), "sqlite:" + work_ / "control.db",
                                       work_ / "fleet.toml",
                                       "fill_delete_delay_ms = 300\n[control.health]\n"
                                       "heartbeat_interval_ms = 200\n"))
            << control_.proc.stderr_text();
        ApiReply c =
            control_.call("POST", "/api/v1/catalog", read_file(origin_.root + "/catalog.json"));
        ASSERT_EQ(c.status, 200) << c.body;
    }
    void start_edge(FillEdge* e, const std::string& fill_toml) {
        std::string cfg = work_ / ("edge-" + e->id + ".toml");
        write_file(cfg, fmt::format("[edge]\nroot = \"{}\"\nlisten = [\"127.0.0.1:{}\"]\n"
                                    "admin = \"127.0.0.1:0\"\nworkers = 1\naccess_log = \"{}\"\n"
                                    "require_signed_urls = true\n"
                                    "[edge.control]\nurl = \"{}\"\nca = \"{}\"\nid = \"{}\"\n"
                                    "token = \"edge-secret-0123-{}\"\nheartbeat_interval_ms = 200\n"
                                    "[edge.fill]\nwindow = \"always\"\nretry_ms = 200\n{}\n",
                                    e->root, e->port, e->access_log, control_.edge_url(),
                                    control_.ca_file, e->id, e->id, fill_toml));
        e->proc = std::make_unique<Process>();
        ASSERT_TRUE(e->proc->start({vcdn_binary(), "edge", "--config", cfg}));
        auto a = e->proc->wait_for_line(std::regex(R"(admin http://127\.0\.0\.1:(\d+))"), 10000);
        ASSERT_TRUE(a) << e->proc->stderr_text();
        e->admin_port = static_cast<uint16_t>(std::stoi((*a)[1]));
    }
    std::string edge_toml(const FillEdge& e, uint64_t storage) {
        return fmt::format("[[site.edge]]\nid = \"{}\"\nurl = \"http://127.0.0.1:{}\"\n"
                           "token = \"edge-secret-0123-{}\"\nstorage_bytes = {}\n\n",
                           e.id, e.port, e.id, storage);
    }
    // The control plane's view of an edge.
    json edge_state(const std::string& id) {
        return control_.call("GET", "/api/v1/edges/" + id, "", false).json;
    }
    // Until the edge reports its current manifest complete.
    bool wait_converged(const std::string& id, int timeout_ms, json* last = nullptr) {
        auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
        json j;
        do {
            j = edge_state(id);
            if (j.is_object() && j.contains("fill") && j.contains("manifest") &&
                j["fill"].value("manifest_version", -1) == j["manifest"].value("version", -2) &&
                j["fill"].value("files_to_go", -1) == 0 &&
                j["fill"].value("state", "") == "complete" &&
                j.value("files", -1) == j["manifest"].value("files", -2))
                break;
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        } while (Clock::now() < deadline);
        if (last) *last = j;
        return Clock::now() < deadline;
    }
    // The manifest as the edge gets it.
    json manifest(const std::string& id) {
        return json::parse(api_https(control_.edge_port, control_.ca_file, "GET",
                                     "/api/v1/edges/" + id + "/manifest", "",
                                     "edge-secret-0123-" + id)
                               .body,
                           nullptr, false);
    }
    // Every file of the manifest is on the edge's root with the right SHA-256, nothing else is
    // served (no partial file under a real name).
    void expect_holds_manifest(const std::string& id) {
        json m = manifest(id);
        ASSERT_TRUE(m.is_object()) << id;
        std::set<std::string> want;
        for (const auto& f : m["files"]) {
            const std::string path = f["path"];
            want.insert(path.substr(1));
            auto sha = sha256_file(edge(id)->root + path);
            ASSERT_TRUE(sha) << id << " lacks " << path;
            EXPECT_EQ(*sha, f["sha256"].get<std::string>()) << id << " " << path;
        }
        for (const auto& p : fs::recursive_directory_iterator(edge(id)->root)) {
            if (!p.is_regular_file()) continue;
            std::string rel = fs::relative(p.path(), edge(id)->root).string();
            if (rel.rfind(".vcdn-fill", 0) == 0) continue;
            EXPECT_TRUE(want.count(rel)) << id << " holds " << rel << " beyond its manifest";
        }
    }
    uint64_t metric(const FillEdge& e, const std::string& line_prefix) {
        RawResponse r = fetch(e.admin_port, get_request("/metrics"));
        std::istringstream in(r.body);
        std::string line;
        while (std::getline(in, line))
            if (line.rfind(line_prefix + " ", 0) == 0)
                return std::stoull(line.substr(line_prefix.size() + 1));
        return 0;
    }

    TempDir work_;
    catalog::Catalog catalog_;
    Server origin_, mirror_;
    ControlProcess control_;
    std::vector<std::unique_ptr<FillEdge>> edges_;
};

// A site of 3 edges and an exchange site: every edge converges to its manifest; the exchange
// site fills from the origin, the embedded site from the exchange (tier) and from its own
// peers (the popular title has a copy on every edge), never from the origin; a planned
// deletion happens only after the control plane stopped steering there, without a 404.
TEST_F(FillTest, SiteAndExchangeConvergePeerAndTierFillDeleteAfterAck) {
    make_catalog(6, {235, 750, 1750}, 8);
    start_origin(&origin_, "origin");
    FillEdge* a1 = add_edge("a1");
    FillEdge* a2 = add_edge("a2");
    FillEdge* a3 = add_edge("a3");
    FillEdge* x1 = add_edge("x1");
    std::string fleet =
        fmt::format("[origin]\nurl = \"http://127.0.0.1:{}\"\nsigning_keys = \"{}\"\n\n"
                    "[[site]]\nname = \"isp-a\"\ntier = \"embedded\"\n"
                    "prefixes = [\"10.1.0.0/16\"]\nfallback = [\"ix-1\"]\n"
                    "fill_peer_wait_s = 60\nfill_tier_wait_s = 120\n\n",
                    origin_.port, work_ / "origin.keys");
    for (FillEdge* e : {a1, a2, a3})
        fleet += edge_toml(*e, 8u << 20);
    fleet += "[[site]]\nname = \"ix-1\"\ntier = \"ix\"\nprefixes = [\"10.0.0.0/8\"]\n\n" +
             edge_toml(*x1, 100u << 20);
    start_control(fleet);
    // Title 1 is the hit: a copy on every edge of isp-a.
    json pop = {{"files", json::array()}};
    for (const auto& f : catalog_.files)
        pop["files"].push_back({{"path", f.path}, {"popularity", f.title == 1 ? 1000.0 : 1.0}});
    ASSERT_EQ(control_.call("POST", "/api/v1/popularity", pop.dump()).status, 200);

    for (FillEdge* e : {x1, a1, a2, a3})
        start_edge(e, "scrub_rate_mbps = 0\n");
    for (FillEdge* e : {x1, a1, a2, a3}) {
        json last;
        EXPECT_TRUE(wait_converged(e->id, 60000, &last)) << e->id << ": " << last.dump() << "\n"
                                                         << e->proc->stderr_text();
    }
    for (FillEdge* e : {x1, a1, a2, a3})
        expect_holds_manifest(e->id);

    // Sources: the exchange from the origin; the embedded site never from the origin, from
    // the exchange and from peers.
    EXPECT_GT(metric(*x1, "vcdn_fill_downloaded_bytes_total{source=\"origin\"}"), 0u);
    uint64_t peer = 0, tier = 0, from_origin = 0;
    for (FillEdge* e : {a1, a2, a3}) {
        peer += metric(*e, "vcdn_fill_downloaded_bytes_total{source=\"peer\"}");
        tier += metric(*e, "vcdn_fill_downloaded_bytes_total{source=\"tier\"}");
        from_origin += metric(*e, "vcdn_fill_downloaded_bytes_total{source=\"origin\"}");
    }
    EXPECT_GT(peer, 0u);
    EXPECT_GT(tier, 0u);
    EXPECT_EQ(from_origin, 0u);
    // The hit is on all three; two of them got it from the third (its access log shows it).
    size_t peer_served = 0;
    for (FillEdge* e : {a1, a2, a3}) {
        std::istringstream log(read_file(e->access_log));
        for (std::string line; std::getline(log, line);)
            peer_served += line.find("\"path\":\"/t/1/") != std::string::npos &&
                           line.find("\"status\":200") != std::string::npos;
        for (const char* f : {"t/1/v-235k.mp4", "t/1/v-750k.mp4", "t/1/v-1750k.mp4"})
            EXPECT_TRUE(fs::exists(e->root + "/" + f)) << e->id << " lacks the hit " << f;
    }
    EXPECT_GE(peer_served, 1u) << "no peer served the hit to another edge: "
                               << read_file(a1->access_log) << read_file(a2->access_log);
    // The origin saw only the exchange site (one download per file).
    std::string olog = read_file(origin_.access_log);
    size_t origin_gets = 0;
    for (size_t p = olog.find("\"method\":\"GET\""); p != std::string::npos;
         p = olog.find("\"method\":\"GET\"", p + 1))
        ++origin_gets;
    EXPECT_EQ(origin_gets, catalog_.files.size());
    // Every URL of an answer is signed for the one it names: the origin's with the origin's
    // key (it serves it), an edge's with that edge's own (another edge refuses it).
    {
        ApiReply s =
            control_.call("GET", "/api/v1/steer?file=/t/1/v-750k.mp4&client=10.1.2.3", "", false);
        ASSERT_EQ(s.status, 200) << s.body;
        ASSERT_GE(s.json["urls"].size(), 3u) << s.body;
        const json& last = s.json["urls"].back();
        EXPECT_EQ(last["edge"], "origin") << s.body;
        EXPECT_EQ(get_url(last["url"], "Range: bytes=0-99\r\n").head.status, 206) << s.body;
        std::string on_first = s.json["urls"][0]["url"];
        EXPECT_EQ(get_url(on_first, "Range: bytes=0-99\r\n").head.status, 206) << s.body;
        // The same signed path on another edge of the site: refused.
        const std::string path = on_first.substr(on_first.find("/t/"));
        FillEdge* other = nullptr;
        for (FillEdge* e : {a1, a2, a3})
            if (s.json["urls"][0]["edge"] != e->id) other = e;
        RawResponse r = fetch(other->port, get_request(path, "Range: bytes=0-99\r\n"));
        EXPECT_EQ(r.head.status, 403) << r.body;
        // And the origin does not take an unsigned request.
        EXPECT_EQ(fetch(origin_.port, get_request("/t/1/v-750k.mp4")).head.status, 403);
    }

    // The dashboard's fill summary.
    json dash = control_.call("GET", "/api/v1/dashboard", "", false).json;
    ASSERT_TRUE(dash["fill"].is_object()) << dash.dump();
    EXPECT_EQ(dash["fill"]["files_placed"], dash["fill"]["files_total"]);
    EXPECT_EQ(dash["fill"]["bytes_pending"], 0);

    // Planned deletion: shrink a1. Its manifest drops files; while a1 deletes them, players
    // of isp-a asking for them are steered elsewhere and never get a 404.
    json before = manifest("a1");
    ASSERT_EQ(
        control_.call("PUT", "/api/v1/edges/a1", json{{"storage_bytes", 3u << 20}}.dump()).status,
        200);
    json after;
    for (int i = 0; i < 100; ++i) {
        after = manifest("a1");
        if (after["version"] != before["version"]) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_NE(after["version"], before["version"]);
    std::set<std::string> kept;
    for (const auto& f : after["files"])
        kept.insert(f["path"]);
    std::vector<std::string> dropped;
    for (const auto& f : before["files"])
        if (!kept.count(f["path"])) dropped.push_back(f["path"]);
    ASSERT_FALSE(dropped.empty());
    auto deadline = Clock::now() + std::chrono::seconds(20);
    size_t requests = 0;
    bool gone = false;
    while (Clock::now() < deadline && !gone) {
        for (const std::string& path : dropped) {
            ApiReply s = control_.call(
                "GET", fmt::format("/api/v1/steer?file={}&client=10.1.2.3", path), "", false);
            ASSERT_EQ(s.status, 200) << s.body;
            RawResponse r = get_url(s.json["urls"][0]["url"], "Range: bytes=0-999\r\n");
            ++requests;
            ASSERT_EQ(r.head.status, 206) << path << " via " << s.json.dump() << "\n"
                                          << edge_state("x1").dump() << "\n"
                                          << control_.call("GET", "/api/v1/edges", "", false).body;
        }
        gone = true;
        for (const std::string& path : dropped)
            gone = gone && !fs::exists(a1->root + path);
    }
    EXPECT_TRUE(gone) << a1->proc->stderr_text();
    EXPECT_GT(requests, 0u);
    EXPECT_TRUE(a1->proc->saw_line(std::regex("fill: deleted /t/")));
    EXPECT_TRUE(wait_converged("a1", 20000));
    expect_holds_manifest("a1");
}

// The origin serves a corrupted byte: the edge detects it (SHA-256), discards the download
// and fills the file from the origin's mirror. Later a stored file rots: the scrubber finds
// it, removes it, and it is filled again.
TEST_F(FillTest, CorruptOriginRefilledFromMirrorAndScrubberRepairsBitRot) {
    make_catalog(2, {235, 750}, 8);
    // The mirror: a good copy.
    mirror_.root = work_ / "mirror";
    fs::copy(origin_.root, mirror_.root, fs::copy_options::recursive);
    // One corrupted byte in the middle of one file on the origin.
    const std::string bad = "/t/1/v-750k.mp4";
    {
        std::fstream f(origin_.root + bad, std::ios::in | std::ios::out | std::ios::binary);
        f.seekg(300000);
        char c = 0;
        f.read(&c, 1);
        c = static_cast<char>(c ^ 0x5a);
        f.seekp(300000);
        f.write(&c, 1);
    }
    start_origin(&origin_, "origin");
    start_origin(&mirror_, "mirror");
    FillEdge* x1 = add_edge("x1");
    start_control(fmt::format("[origin]\nurl = \"http://127.0.0.1:{}\"\nmirrors = "
                              "[\"http://127.0.0.1:{}\"]\nsigning_keys = \"{}\"\n\n"
                              "[[site]]\nname = \"ix-1\"\ntier = \"ix\"\n\n{}",
                              origin_.port, mirror_.port, work_ / "origin.keys",
                              edge_toml(*x1, 64u << 20)));
    start_edge(x1, "scrub_rate_mbps = 400\nscrub_pause_s = 1\n");
    json last;
    ASSERT_TRUE(wait_converged("x1", 60000, &last)) << last.dump() << x1->proc->stderr_text();
    expect_holds_manifest("x1");
    EXPECT_TRUE(x1->proc->saw_line(std::regex("fill: /t/1/v-750k.mp4 from origin .* failed "
                                              "verification")))
        << x1->proc->stderr_text();
    EXPECT_GE(metric(*x1, "vcdn_fill_verify_failures_total"), 1u);
    EXPECT_TRUE(read_file(mirror_.access_log).find(bad) != std::string::npos);

    // Bit rot on the edge: flip a byte in place (same inode, same size).
    const std::string rot = "/t/2/v-235k.mp4";
    {
        std::fstream f(x1->root + rot, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(1000);
        f.write("\x00\x01\x02", 3);
    }
    ASSERT_TRUE(
        x1->proc->wait_for_line(std::regex("scrub: /t/2/v-235k.mp4 .* no longer matches"), 30000))
        << x1->proc->stderr_text();
    // Filled again, verified.
    auto deadline = Clock::now() + std::chrono::seconds(30);
    bool fixed = false;
    while (Clock::now() < deadline && !fixed) {
        auto sha = sha256_file(x1->root + rot);
        for (const auto& f : catalog_.files)
            if (f.path == rot) fixed = sha && *sha == f.sha256;
        if (!fixed) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    EXPECT_TRUE(fixed) << x1->proc->stderr_text();
    EXPECT_GE(metric(*x1, "vcdn_scrub_mismatches_total"), 1u);
}

// kill -9 in the middle of a rate-capped download: nothing partial is ever served under its
// name, the restart resumes the partial file instead of starting over, and the rate cap held.
TEST_F(FillTest, KillDuringFillResumesAndRateCapHolds) {
    make_catalog(1, {8000}, 20); // one 20 MB file
    start_origin(&origin_, "origin");
    FillEdge* x1 = add_edge("x1");
    start_control(fmt::format("[origin]\nurl = \"http://127.0.0.1:{}\"\nsigning_keys = \"{}\"\n\n"
                              "[[site]]\nname = \"ix-1\"\ntier = \"ix\"\n\n{}",
                              origin_.port, work_ / "origin.keys", edge_toml(*x1, 64u << 20)));
    const double cap_mbps = 32; // 4 MB/s: the file takes 5 s
    const std::string fill = fmt::format("rate_mbps = {}\nscrub_rate_mbps = 0\n", cap_mbps);
    start_edge(x1, fill);
    const std::string path = catalog_.files[0].path;
    const uint64_t size = catalog_.files[0].size;
    const std::string counter = "vcdn_fill_downloaded_bytes_total{source=\"origin\"}";
    // Wait for the download to run, then measure its rate over 2 s.
    auto deadline = Clock::now() + std::chrono::seconds(20);
    while (Clock::now() < deadline && metric(*x1, counter) < 2'000'000)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const uint64_t b0 = metric(*x1, counter);
    const auto t0 = Clock::now();
    std::this_thread::sleep_for(std::chrono::milliseconds(2000));
    const uint64_t b1 = metric(*x1, counter);
    const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    const double rate_mbps = (b1 - b0) * 8 / secs / 1e6;
    EXPECT_NEAR(rate_mbps, cap_mbps, cap_mbps * 0.1) << b0 << " -> " << b1 << " in " << secs;
    ASSERT_LT(b1, size) << "the download finished before the kill: raise the file size";

    // Not served while partial.
    RawResponse partial = fetch(x1->port, get_request(path));
    EXPECT_NE(partial.head.status, 200);
    EXPECT_FALSE(fs::exists(x1->root + path));
    x1->proc->signal(SIGKILL);
    x1->proc->wait_exit(5000);
    EXPECT_FALSE(fs::exists(x1->root + path)) << "a partial file under its real name";
    uint64_t part_size = 0;
    for (const auto& p : fs::directory_iterator(x1->root + "/.vcdn-fill"))
        part_size = std::max<uint64_t>(part_size, fs::file_size(p.path()));
    EXPECT_GE(part_size, b1 / 2);

    // Restart without a cap: resumes at the partial's size and downloads only the rest.
    start_edge(x1, "scrub_rate_mbps = 0\n");
    EXPECT_TRUE(
        x1->proc->wait_for_line(std::regex("fill: resuming " + path + " at byte [1-9]"), 10000))
        << x1->proc->stderr_text();
    json last;
    ASSERT_TRUE(wait_converged("x1", 30000, &last)) << last.dump() << x1->proc->stderr_text();
    expect_holds_manifest("x1");
    EXPECT_LE(metric(*x1, counter), size - part_size + 1);
    EXPECT_EQ(metric(*x1, "vcdn_fill_resumed_total"), 1u);
}

} // namespace
} // namespace vcdn::test
