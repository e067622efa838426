// Two `vcdn control` instances on one real PostgreSQL (started by the test from Debian's
// packages) give the same steering answers: the fleet, heartbeats and health live in the
// database, whichever instance received them.
#include <glob.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <thread>

#include <vcdn/io/address.h>
#include <vcdn/io/tcp.h>

#include "control_fixture.h"

namespace vcdn::test {
namespace {

using nlohmann::json;

std::string postgres_bin_dir() {
    glob_t g{};
    std::string dir;
    if (::glob("/usr/lib/postgresql/*/bin/postgres", 0, nullptr, &g) == 0 && g.gl_pathc > 0) {
        dir = g.gl_pathv[g.gl_pathc - 1];
        dir.resize(dir.size() - std::string("/postgres").size());
    }
    globfree(&g);
    return dir;
}

uint16_t free_port() {
    return io::pick_free_loopback_port();
}

// A throw-away PostgreSQL server in a temp dir, run as the `postgres` user when we are root
// (the server refuses to run as root).
class PostgresServer {
public:
    bool start(const std::string& dir, std::string* why) {
        bin_ = postgres_bin_dir();
        if (bin_.empty()) {
            *why = "PostgreSQL is not installed (/usr/lib/postgresql/*/bin/postgres)";
            return false;
        }
        data_ = dir + "/pgdata";
        ::mkdir(data_.c_str(), 0700);
        std::vector<std::string> as_user;
        if (::geteuid() == 0) {
            const passwd* pw = ::getpwnam("postgres");
            if (!pw) {
                *why = "running as root and there is no 'postgres' user to run the server as";
                return false;
            }
            if (::chown(dir.c_str(), pw->pw_uid, pw->pw_gid) != 0 ||
                ::chown(data_.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
                *why = "cannot chown the data directory to postgres";
                return false;
            }
            ::chmod(dir.c_str(), 0755);
            as_user = {"/usr/bin/setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups",
                       "--"};
        }
        std::vector<std::string> init = as_user;
        for (const char* a : {"/initdb", "-D", "", "-U", "postgres", "--auth=trust", "-E", "UTF8"})
            init.push_back(a);
        init[as_user.size()] = bin_ + "/initdb";
        init[as_user.size() + 2] = data_;
        RunResult r = run_command(init, 120000);
        if (r.status != 0) {
            *why = "initdb failed: " + r.output.substr(0, 500);
            return false;
        }
        port_ = free_port();
        std::vector<std::string> run = as_user;
        for (const std::string& a :
             {bin_ + "/postgres", std::string("-D"), data_, std::string("-p"),
              std::to_string(port_), std::string("-k"), data_, std::string("-c"),
              std::string("listen_addresses=127.0.0.1"), std::string("-c"),
              std::string("fsync=off"), std::string("-c"), std::string("max_connections=40")})
            run.push_back(a);
        if (!proc_.start(run)) {
            *why = "cannot start postgres";
            return false;
        }
        if (!proc_.wait_for_line(std::regex("ready to accept connections"), 30000)) {
            *why = "postgres did not come up: " + proc_.stderr_text().substr(0, 800);
            return false;
        }
        return true;
    }
    ~PostgresServer() {
        if (proc_.running()) {
            proc_.signal(SIGINT); // fast shutdown
            if (!proc_.wait_exit(10000)) proc_.kill_and_reap();
        }
    }
    std::string url() const {
        return fmt::format("postgres://postgres@127.0.0.1:{}/postgres", port_);
    }

private:
    std::string bin_, data_;
    uint16_t port_ = 0;
    Process proc_;
};

json beat(bool healthy, std::vector<std::string> files) {
    return json{{"healthy", healthy},
                {"reason", healthy ? "ok" : "maintenance"},
                {"load", {{"gbps_out", 0.5}, {"connections", 2}, {"cpu", 0.1}}},
                {"inventory", {{"digest", ""}, {"full", true}, {"added", files}}}};
}

TEST(ControlPostgres, TwoInstancesOnOneDatabaseSteerAlike) {
    TempDir pgdir;
    PostgresServer pg;
    std::string why;
    if (!pg.start(pgdir.path(), &why)) {
        if (postgres_bin_dir().empty()) GTEST_SKIP() << why;
        FAIL() << why;
    }
    TempDir work1, work2;
    write_file(work1 / "fleet.toml", fleet_toml());
    const std::string health =
        "[control.health]\nheartbeat_interval_ms = 500\nmissed_heartbeats = 4\n";
    ControlProcess c1, c2;
    ASSERT_TRUE(c1.start(work1.path(), pg.url(), work1 / "fleet.toml", health))
        << c1.proc.stderr_text();
    ASSERT_TRUE(c2.start(work2.path(), pg.url(), "", health)) << c2.proc.stderr_text();
    ApiReply cat = c1.call("POST", "/api/v1/catalog", read_file(shared_root() + "/catalog.json"));
    ASSERT_EQ(cat.status, 200) << cat.body;
    const std::vector<std::string> files = {"/t/1/v-235k.mp4", "/t/2/v-235k.mp4",
                                            "/t/3/v-750k.mp4"};

    // Heartbeats go to either instance; a2 reports itself unhealthy.
    std::atomic<bool> stop{false};
    std::thread beats([&] {
        for (int i = 0; i < 400 && !stop.load(); ++i) {
            api(c1.port, "POST", "/api/v1/edges/a1/heartbeat", beat(true, files).dump(),
                "edge-secret-0123-a1");
            api(c2.port, "POST", "/api/v1/edges/x1/heartbeat", beat(true, files).dump(),
                "edge-secret-0123-x1");
            api(c2.port, "POST", "/api/v1/edges/a2/heartbeat", beat(false, files).dump(),
                "edge-secret-0123-a2");
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
    });
    for (ControlProcess* c : {&c1, &c2}) {
        EXPECT_EQ(c->wait_edge_state("a1", "up", 10000)["state"], "up");
        EXPECT_EQ(c->wait_edge_state("x1", "up", 10000)["state"], "up");
        json a2 = c->wait_edge_state("a2", "down", 10000);
        EXPECT_EQ(a2["reason"], "reported-unhealthy: maintenance");
    }
    auto summary = [](const json& ans) {
        std::vector<std::string> out;
        for (const auto& u : ans["urls"]) {
            // The key (and, signed per edge, the whole signature) must agree between instances;
            // the origin has no key in this fleet: unsigned.
            std::string url = u["url"];
            const size_t k = url.find("&k=");
            out.push_back(u["edge"].get<std::string>() + " " + u["reason"].get<std::string>() +
                          " " + (k == std::string::npos ? "unsigned" : url.substr(k)));
        }
        return out;
    };
    // Wait until both have the inventories, then compare answers for a spread of clients.
    for (int i = 0; i < 100; ++i) {
        ApiReply r =
            c2.call("GET", "/api/v1/steer?file=/t/1/v-235k.mp4&client=10.1.2.3", "", false);
        if (r.status == 200 && r.json["urls"].size() == 3) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    int compared = 0;
    for (const char* client :
         {"10.1.2.3", "10.9.9.9", "192.0.2.1", "2001:db8:1::5", "2001:db8:2::5"}) {
        for (const std::string& f : files) {
            std::string q = fmt::format("/api/v1/steer?file={}&client={}", f, client);
            // The signature covers the expiry, which is the second of the answer plus the TTL:
            // two answers that straddle a second differ there by right. Ask again until both
            // instances answered within one second (a few tries at most).
            ApiReply a, b;
            for (int attempt = 0; attempt < 5; ++attempt) {
                a = c1.call("GET", q, "", false);
                b = c2.call("GET", q, "", false);
                ASSERT_EQ(a.status, 200) << a.body;
                ASSERT_EQ(b.status, 200) << b.body;
                ASSERT_TRUE(a.json["expires"].is_number_integer()) << a.body;
                if (a.json["expires"] == b.json["expires"]) break;
            }
            ASSERT_EQ(a.json["expires"], b.json["expires"]) << "never answered within a second";
            EXPECT_EQ(summary(a.json), summary(b.json)) << client << " " << f;
            ++compared;
        }
    }
    EXPECT_EQ(compared, 15);
    json ans = c1.call("GET", "/api/v1/steer?file=/t/1/v-235k.mp4&client=10.1.2.3", "", false).json;
    ASSERT_EQ(ans["urls"].size(), 3u) << ans.dump();
    EXPECT_EQ(ans["urls"][0]["edge"], "a1");
    EXPECT_EQ(ans["urls"][1]["edge"], "x1");
    EXPECT_EQ(ans["urls"][2]["edge"], "origin");
    // A fleet change through one instance shows in the other.
    ASSERT_EQ(c2.call("POST", "/api/v1/edges/x1/drain").status, 200);
    EXPECT_EQ(c1.wait_edge_state("x1", "draining", 5000)["state"], "draining");
    stop = true;
    beats.join();
}

} // namespace
} // namespace vcdn::test
