#include <fmt/format.h>
#include <gtest/gtest.h>

#include <vcdn/edge/config.h>

namespace vcdn::edge {
namespace {

TEST(EdgeConfig, ParsesEverySection) {
    EdgeConfig c;
    Status s = parse_edge_toml(R"(
[edge]
root = "/srv"
listen = ["127.0.0.1:80", "[::1]:80"]
admin = "127.0.0.1:9090"
workers = 3
congestion_control = "cubic"
notsent_lowat = 65536
access_log = "off"
access_log_tcp_info_ms = 0
server_names = ["a.example"]
cache_control = "public"
manifest_cache_control = "no-cache"
drain_timeout_ms = 500
backlog = 128
defer_accept = false
header_more = true
log_level = "debug"
[edge.limits]
max_head_bytes = 4096
max_target_bytes = 1024
max_headers = 20
header_timeout_ms = 100
idle_timeout_ms = 200
send_timeout_ms = 300
linger_ms = 0
max_requests_per_connection = 7
max_connections = 9
[edge.file_cache]
max_entries = 5
revalidate_ms = 6
[edge.disk]
mode = "blocking"
reader = "threads"

readahead_kib = 512
max_reads_per_root = 8
health_interval_ms = 100
stall_ms = 2000
inventory_interval_ms = 0
residency_memory_ms = 2500
reclaim_counters = "/x/vmstat"
residency_recheck = false
[control]
anything = "belongs to another command"
)",
                               "t.toml", &c);
    ASSERT_TRUE(s.ok()) << s.error().message;
    ASSERT_EQ(c.roots.size(), 1u);
    EXPECT_EQ(c.roots[0].path, "/srv");
    EXPECT_EQ(c.roots[0].tier, io::Tier::kDisk);
    EXPECT_EQ(c.disk.mode, "blocking");
    EXPECT_EQ(c.disk.readahead_kib, 512u);
    EXPECT_EQ(c.disk.residency_memory_ms, 2500u);
    EXPECT_EQ(c.disk.reclaim_counters, "/x/vmstat");
    EXPECT_FALSE(c.disk.residency_recheck);
    EXPECT_TRUE(EdgeConfig{}.disk.residency_recheck);
    EXPECT_EQ(EdgeConfig{}.disk.residency_memory_ms, 10000u);
    EXPECT_EQ(c.listen.size(), 2u);
    EXPECT_EQ(c.workers, 3u);
    EXPECT_EQ(c.congestion_control, "cubic");
    EXPECT_EQ(c.notsent_lowat, 65536u);
    EXPECT_EQ(c.access_log_tcp_info_ms, 0u);
    EXPECT_EQ(EdgeConfig{}.access_log_tcp_info_ms, 1000u);
    EXPECT_FALSE(c.defer_accept);
    EXPECT_TRUE(c.header_more);
    EXPECT_EQ(c.limits.max_head_bytes, 4096u);
    EXPECT_EQ(c.limits.linger_ms, 0u);
    EXPECT_EQ(c.limits.max_connections, 9u);
    EXPECT_EQ(c.file_cache.max_entries, 5u);
    EXPECT_EQ(c.file_cache.revalidate_ms, 6u);
    EXPECT_EQ(c.cache_control, "public");
    EXPECT_EQ(c.manifest_cache_control, "no-cache");
    EXPECT_EQ(EdgeConfig{}.manifest_cache_control, "max-age=2");
}

TEST(EdgeConfig, SeveralRootsWithTiers) {
    EdgeConfig c;
    ASSERT_TRUE(parse_edge_toml("[edge]\nroot = [\"/a\", \"/b:flash\"]\n", "t", &c).ok());
    ASSERT_EQ(c.roots.size(), 2u);
    EXPECT_EQ(c.roots[1].path, "/b");
    EXPECT_EQ(c.roots[1].tier, io::Tier::kFlash);
    EdgeConfig d;
    Status s = parse_edge_toml(
        "[[edge.roots]]\npath = \"/ssd\"\ntier = \"flash\"\n[[edge.roots]]\npath = \"/hdd\"\n", "t",
        &d);
    ASSERT_TRUE(s.ok()) << s.error().message;
    ASSERT_EQ(d.roots.size(), 2u);
    EXPECT_EQ(d.roots[0].tier, io::Tier::kFlash);
    EXPECT_EQ(d.roots[1].path, "/hdd");
    EXPECT_EQ(d.roots[1].tier, io::Tier::kDisk);
    EXPECT_EQ(io::parse_root_spec("/x:y").path, "/x:y"); // not a tier: part of the path
}

TEST(EdgeConfig, OneStringIsOneListenAddress) {
    EdgeConfig c;
    ASSERT_TRUE(parse_edge_toml("[edge]\nlisten = \"127.0.0.1:1\"\n", "t", &c).ok());
    ASSERT_EQ(c.listen.size(), 1u);
}

TEST(EdgeConfig, ErrorsNameTheKey) {
    struct Case {
        const char* toml;
        const char* want;
    } cases[] = {
        {"[edge]\nworkerz = 1\n", "unknown key 'workerz'"},
        {"[edge]\nworkers = \"1\"\n", "edge.workers: expected an integer"},
        {"[edge]\nworkers = -1\n", "out of range"},
        {"[edge.limits]\nmax_head_bytes = 10\n", "edge.limits.max_head_bytes: 10 is out of range"},
        {"[edge.disk]\nresidency_memory_ms = 3600001\n",
         "edge.disk.residency_memory_ms: 3600001 is out of range"},
        {"[edge]\naccess_log_tcp_info_ms = 3600001\n",
         "edge.access_log_tcp_info_ms: 3600001 is out of range"},
        {"[edge.limits]\nbogus = 1\n", "edge.limits: unknown key 'bogus'"},
        {"[edge]\nlisten = [1]\n", "expected an array of strings"},
        {"[edge]\nroot = \"/a\"\n[[edge.roots]]\npath = \"/b\"\n", "either root or"},
        {"[[edge.roots]]\ntier = \"flash\"\n", "edge.roots[0]: path is required"},
        {"[[edge.roots]]\npath = \"/a\"\ntier = \"tape\"\n", "edge.roots[0].tier"},
        {"[edge.disk]\nreadahead_kib = 100000\n", "edge.disk.readahead_kib"},
        {"[edge\n", "t.toml:1"},
    };
    for (const Case& c : cases) {
        EdgeConfig cfg;
        Status s = parse_edge_toml(c.toml, "t.toml", &cfg);
        ASSERT_FALSE(s.ok()) << c.toml;
        EXPECT_NE(s.error().message.find(c.want), std::string::npos) << s.error().message;
        EXPECT_EQ(s.error().message.find('\n'), std::string::npos) << s.error().message;
    }
}

TEST(EdgeConfig, Validate) {
    EdgeConfig c;
    c.roots = {io::RootConfig{"/", io::Tier::kDisk}};
    c.listen = {"127.0.0.1:0"};
    EXPECT_TRUE(validate(c).ok());
    c.disk.mode = "sometimes";
    EXPECT_FALSE(validate(c).ok());
    c.disk.mode = "async";
    c.disk.reader = "magic";
    EXPECT_FALSE(validate(c).ok());
    EXPECT_NE(validate(c).error().message.find("populate"), std::string::npos)
        << "the error names every reader";
    for (const char* r : {"io_uring", "threads", "sendfile", "populate"}) {
        c.disk.reader = r;
        EXPECT_TRUE(validate(c).ok()) << r;
    }
    c.disk.reader = "auto";
    c.listen = {"127.0.0.1"};
    EXPECT_FALSE(validate(c).ok());
    c.listen = {"127.0.0.1:0"};
    c.roots = {io::RootConfig{"/nonexistent-root", io::Tier::kDisk}};
    EXPECT_NE(validate(c).error().message.find("No such file"), std::string::npos);
    c.roots = {io::RootConfig{"/", io::Tier::kDisk}};
    c.limits.max_target_bytes = c.limits.max_head_bytes;
    EXPECT_FALSE(validate(c).ok());
    c.limits = Limits{};
    c.cache_control = "a\r\nSet-Cookie: x";
    EXPECT_FALSE(validate(c).ok());
    c.cache_control.clear();
    c.manifest_cache_control = "max-age=2\nX: y";
    EXPECT_EQ(validate(c).error().message,
              "manifest_cache_control: must be one line of printable text");
    c.manifest_cache_control = std::string(81, 'm');
    EXPECT_EQ(validate(c).error().message, "manifest_cache_control: at most 80 bytes");
    c.manifest_cache_control.clear();
    c.access_log = "";
    EXPECT_FALSE(validate(c).ok());
    c.access_log = "off";
    EXPECT_EQ(c.fd_tables, "per-worker");
    c.fd_tables = "shared";
    EXPECT_TRUE(validate(c).ok());
    c.fd_tables = "per-process";
    EXPECT_EQ(validate(c).error().message, "fd_tables 'per-process': use per-worker or shared");
}

TEST(EdgeConfig, CorsIsOnForAnyOriginByDefaultAndItsListIsStrict) {
    EdgeConfig d;
    ASSERT_TRUE(parse_edge_toml("[edge]\n", "t.toml", &d).ok());
    EXPECT_TRUE(d.cors.enabled);
    EXPECT_EQ(d.cors.allow_origins, std::vector<std::string>{"*"});
    EXPECT_FALSE(d.cors.allow_credentials);
    EXPECT_TRUE(validate_cors(d.cors).ok());
    EdgeConfig c;
    ASSERT_TRUE(parse_edge_toml("[edge.cors]\nallow_origins = \"https://player.example\"\n"
                                "allow_credentials = true\nmax_age_s = 600\n"
                                "allow_headers = [\"Range\"]\n",
                                "t.toml", &c)
                    .ok());
    EXPECT_EQ(c.cors.allow_origins, std::vector<std::string>{"https://player.example"});
    EXPECT_TRUE(validate_cors(c.cors).ok());
    auto refused = [](CorsConfig k, const char* want) {
        Status s = validate_cors(k);
        ASSERT_FALSE(s.ok()) << want;
        EXPECT_NE(s.error().message.find(want), std::string::npos) << s.error().message;
    };
    CorsConfig k;
    k.allow_credentials = true;
    refused(k, "needs a list of origins");
    k = CorsConfig{};
    k.allow_origins = {"*", "https://a.example"};
    refused(k, "stands alone");
    for (const char* bad : {"https://a.example/", "https://A.example", "ftp://a.example",
                            "https://", "https://a.example\r\nSet-Cookie: x", "a.example"}) {
        k.allow_origins = {bad};
        refused(k, "is not an origin");
    }
    k.allow_origins = {"https://" + std::string(93, 'a')};
    refused(k, "at most 100 bytes");
    k = CorsConfig{};
    k.allow_headers = {"Range", "X: y"};
    refused(k, "not a header name");
    k.allow_headers = std::vector<std::string>(20, std::string(20, 'x'));
    refused(k, "at most 128 bytes");
    k = CorsConfig{};
    k.allow_origins = {};
    refused(k, "enabled = false");
    k.enabled = false;
    EXPECT_TRUE(validate_cors(k).ok());
    EdgeConfig bad;
    EXPECT_FALSE(parse_edge_toml("[edge.cors]\nallow_origin = \"*\"\n", "t.toml", &bad).ok())
        << "a typo is an error";
}

} // namespace
} // namespace vcdn::edge

namespace vcdn::edge {
namespace {

EdgeConfig parsed(const std::string& toml) {
    EdgeConfig c;
    Status s = parse_edge_toml(toml, "t.toml", &c);
    EXPECT_TRUE(s.ok()) << s.error().message;
    return c;
}

TEST(EdgeConfig, LiveUpdateTakesLiveSettingsAndNamesTheRest) {
    EdgeConfig running = parsed("[edge]\nroot = \"/srv\"\nlisten = [\"127.0.0.1:80\"]\n"
                                "workers = 2\nbacklog = 100\n"
                                "[edge.fill]\nwindow = \"02:00+4h\"\nrate_mbps = 100\n"
                                "scrub_rate_mbps = 10\n"
                                "[edge.control]\nurl = \"https://c:1\"\nid = \"e\"\n");
    running.control.token = "old-token";
    EdgeConfig next = parsed(
        "[edge]\nroot = \"/other\"\nlisten = [\"127.0.0.1:80\"]\nworkers = 4\nbacklog = 200\n"
        "fd_tables = \"shared\"\n"
        "cache_control = \"max-age=60\"\nrequire_signed_urls = true\nlog_level = \"warn\"\n"
        "[edge.limits]\nidle_timeout_ms = 5000\nmax_head_bytes = 4096\nmax_connections = 7\n"
        "[edge.cors]\nallow_origins = [\"https://p.example\"]\n"
        "[edge.upgrade]\ngrace_ms = 1000\n"
        "[edge.fill]\nwindow = \"03:00+2h\"\nrate_mbps = 50\nscrub_rate_mbps = 20\n"
        "[edge.control]\nurl = \"https://c:1\"\nid = \"e\"\n");
    next.control.token = "new-token";
    std::vector<std::string> restart;
    const EdgeConfig out = live_update(running, 2, next, &restart);
    // Live: taken.
    EXPECT_EQ(out.cache_control, "max-age=60");
    EXPECT_TRUE(out.require_signed_urls);
    EXPECT_EQ(out.log_level, "warn");
    EXPECT_EQ(out.limits.idle_timeout_ms, 5000u);
    EXPECT_EQ(out.limits.max_connections, 7u);
    EXPECT_EQ(out.cors.allow_origins, std::vector<std::string>{"https://p.example"});
    EXPECT_EQ(out.upgrade.grace_ms, 1000u);
    EXPECT_EQ(out.fill.window, "03:00+2h");
    EXPECT_EQ(out.fill.rate_mbps, 50);
    EXPECT_EQ(out.control.token, "new-token");
    // Restart-only: kept, and named.
    EXPECT_EQ(out.roots[0].path, "/srv");
    EXPECT_EQ(out.workers, 2u);
    EXPECT_EQ(out.backlog, 100u);
    EXPECT_EQ(out.fd_tables, "per-worker");
    EXPECT_EQ(out.limits.max_head_bytes, 8192u);
    EXPECT_EQ(out.fill.scrub_rate_mbps, 10);
    const std::string named = fmt::format("{}", fmt::join(restart, "|"));
    for (const char* k : {"edge.root", "edge.workers", "edge.backlog", "edge.fd_tables",
                          "edge.limits.max_head_bytes", "edge.fill (beyond"})
        EXPECT_NE(named.find(k), std::string::npos) << k << " in " << named;
    EXPECT_EQ(named.find("edge.control"), std::string::npos) << "only the token changed";
    EXPECT_EQ(named.find("cache_control"), std::string::npos);

    // The same file again: nothing to restart.
    restart.clear();
    (void)live_update(running, 2, running, &restart);
    EXPECT_TRUE(restart.empty()) << fmt::format("{}", fmt::join(restart, ", "));
    // workers = 0 (one per core) at start resolves to a number; the same file is no change.
    EdgeConfig resolved = running;
    resolved.workers = 8;
    EdgeConfig again = running;
    again.workers = 0;
    restart.clear();
    (void)live_update(resolved, 0, again, &restart);
    EXPECT_TRUE(restart.empty());
    // A listener added or moved needs a restart; the listeners stay.
    EdgeConfig moved = running;
    moved.listen = {"127.0.0.1:81"};
    restart.clear();
    EXPECT_EQ(live_update(running, 2, moved, &restart).listen, running.listen);
    ASSERT_EQ(restart.size(), 1u);
    EXPECT_EQ(restart[0], "edge.listen/tls_listen/listener");
}

TEST(EdgeConfig, UpgradeSection) {
    EdgeConfig c = parsed("[edge]\n[edge.upgrade]\nbinary = \"/usr/bin/vcdn\"\n"
                          "start_timeout_ms = 5000\ngrace_ms = 0\n");
    EXPECT_EQ(c.upgrade.binary, "/usr/bin/vcdn");
    EXPECT_EQ(c.upgrade.start_timeout_ms, 5000u);
    EXPECT_EQ(c.upgrade.grace_ms, 0u);
    EdgeConfig bad;
    EXPECT_FALSE(parse_edge_toml("[edge.upgrade]\nstart_timeout_ms = 5\n", "t", &bad).ok());
    EXPECT_FALSE(parse_edge_toml("[edge.upgrade]\ngrace = 5\n", "t", &bad).ok());
}

} // namespace
} // namespace vcdn::edge
