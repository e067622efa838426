#include <vcdn/demo/demo.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/rand.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include <vcdn/auth/signed_url.h>
#include <vcdn/base/log.h>
#include <vcdn/base/process.h>
#include <vcdn/base/sha256.h>
#include <vcdn/base/time.h>
#include <vcdn/catalog/catalog.h>
#include <vcdn/io/address.h>
#include <vcdn/io/http_client.h>
#include <vcdn/io/tcp.h>
#include <vcdn/player/play.h>
#include <vcdn/tls/pki.h>

namespace vcdn::demo {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Secrets of one demo run: made fresh, kept in files of the work directory (0600).
std::string random_hex(size_t bytes) {
    std::string raw(bytes, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) != 1)
        return std::string(bytes * 2, '7'); // no randomness: still a valid token for a demo
    return auth::encode_hex(raw);
}

bool write_secret(const std::string& path, const std::string& text) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return false;
    const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    ::close(fd);
    return ok;
}

std::string g_admin; // the admin token of this run

uint16_t free_port() {
    return io::pick_free_loopback_port();
}

bool port_open(uint16_t port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    return ok;
}

// A child `vcdn` process with its stderr in a log file; stopped only by its pid.
struct Child {
    std::string name;
    pid_t pid = -1;
    uint16_t port = 0;
    uint16_t admin = 0;
    uint16_t edge_port = 0; // the control plane's listener for edges
    std::string log;
    bool killed = false; // on purpose

    bool alive() const {
        return pid > 0 && ::kill(pid, 0) == 0 && waitpid(pid, nullptr, WNOHANG) == 0;
    }
};

// CPU seconds (user + system) a process has used so far; 0 when it is gone.
double cpu_seconds(pid_t pid) {
    std::ifstream f(fmt::format("/proc/{}/stat", pid));
    std::string stat;
    if (!std::getline(f, stat)) return 0;
    // Fields after the command name (which may hold spaces) start past its ')'.
    const size_t close = stat.rfind(')');
    if (close == std::string::npos) return 0;
    std::istringstream in(stat.substr(close + 2));
    std::string field;
    double utime = 0, stime = 0;
    for (int i = 3; i <= 15 && in >> field; ++i) {
        if (i == 14) utime = std::strtod(field.c_str(), nullptr);
        if (i == 15) stime = std::strtod(field.c_str(), nullptr);
    }
    return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double self_cpu_seconds() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// The children start with signals unblocked (the demo blocks them for sigtimedwait).
bool spawn(Child* c, const std::vector<std::string>& args) {
    c->pid = spawn_logged(args, c->log, true);
    return c->pid > 0;
}

void stop_child(Child& c) {
    if (c.pid <= 0) return;
    ::kill(c.pid, SIGTERM);
    for (int i = 0; i < 150; ++i) {
        if (waitpid(c.pid, nullptr, WNOHANG) != 0) {
            c.pid = -1;
            return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ::kill(c.pid, SIGKILL);
    waitpid(c.pid, nullptr, 0);
    c.pid = -1;
}

bool wait_port(const Child& c, uint16_t port, int timeout_ms) {
    for (int waited = 0; waited < timeout_ms; waited += 20) {
        if (port_open(port)) return true;
        if (waitpid(c.pid, nullptr, WNOHANG) != 0) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
}

Result<json> api(uint16_t port, const std::string& method, const std::string& target,
                 const std::string& body = {}) {
    io::HttpClient http(io::HttpClientOptions{10000, 2000, 64u << 20});
    auto r =
        http.request(method, fmt::format("http://127.0.0.1:{}{}", port, target),
                     {"Authorization: Bearer " + g_admin, "Content-Type: application/json"}, body);
    if (!r) return r.error();
    auto j = json::parse(r->body, nullptr, false);
    if (r->status != 200)
        return Error{
            fmt::format("{} {}: HTTP {} {}", method, target, r->status, r->body.substr(0, 200))};
    return j;
}

// Sums a metric's samples in a Prometheus text.
double metric_sum(const std::string& text, const std::string& name) {
    double sum = 0;
    size_t pos = 0;
    while ((pos = text.find(name, pos)) != std::string::npos) {
        if ((pos == 0 || text[pos - 1] == '\n') &&
            (text[pos + name.size()] == '{' || text[pos + name.size()] == ' ')) {
            const size_t sp = text.find(' ', text.find_first_of("} ", pos + name.size()));
            sum += std::atof(text.c_str() + sp + 1);
        }
        pos += name.size();
    }
    return sum;
}

std::string edge_metrics(const Child& e) {
    auto r = io::http_get(fmt::format("http://127.0.0.1:{}/metrics", e.admin), 3000);
    return r && r->status == 200 ? r->body : std::string();
}

} // namespace

int run(const DemoOptions& opt, const std::atomic<bool>& stop) {
    const bool tty = isatty(STDOUT_FILENO) && !opt.ci;
    auto say = [&](const std::string& s) {
        std::printf("%s\n", s.c_str());
        std::fflush(stdout);
    };
    char self[4096];
    const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) {
        std::fprintf(stderr, "vcdn demo: cannot find its own executable\n");
        return 1;
    }
    self[n] = 0;
    const std::string vcdn(self);
    std::string dir = opt.dir;
    if (dir.empty()) {
        char tmpl[] = "/tmp/vcdn-demo-XXXXXX";
        if (!mkdtemp(tmpl)) {
            std::fprintf(stderr, "vcdn demo: cannot make a work directory under /tmp\n");
            return 1;
        }
        dir = tmpl;
    }
    std::error_code ec;
    fs::create_directories(dir + "/logs", ec);
    if (ec) {
        std::fprintf(stderr, "vcdn demo: %s: %s\n", dir.c_str(), ec.message().c_str());
        return 1;
    }

    // 1. The catalog (the origin's master copy): real H.264/AAC titles, packaged for DASH and
    // HLS by ffmpeg. Two are encoded; the others are copies of them under their own paths, so
    // that a big catalog takes seconds.
    say(fmt::format("vcdn demo: work directory {} (logs in {}/logs)", dir, dir));
    catalog::MediaOptions mo;
    mo.out_dir = dir + "/origin";
    mo.titles = opt.titles;
    mo.bitrates_kbps = {300, 750, 1750};
    mo.seconds = opt.seconds;
    mo.distinct = std::min(2u, opt.titles);
    say(fmt::format("catalog: encoding {} title(s) of {} s with ffmpeg ...", mo.distinct,
                    opt.seconds));
    auto made = catalog::make_media_catalog(mo);
    if (!made) {
        std::fprintf(stderr, "vcdn demo: catalog: %s\n", made.error().message.c_str());
        return 1;
    }
    const catalog::Catalog* cat = &made->catalog;
    uint64_t catalog_bytes = 0;
    for (const auto& f : cat->files)
        catalog_bytes += f.size;
    say(fmt::format("catalog: {} titles ({} encoded, the rest copies) x 3 H.264 bitrates + AAC, "
                    "{} s each, DASH and HLS, {:.0f} MB",
                    opt.titles, mo.distinct, opt.seconds, catalog_bytes / 1e6));

    // 2. The processes.
    std::vector<std::unique_ptr<Child>> kids;
    auto child = [&](const std::string& name) {
        auto c = std::make_unique<Child>();
        c->name = name;
        c->port = free_port();
        c->admin = free_port();
        c->log = dir + "/logs/" + name + ".log";
        kids.push_back(std::move(c));
        return kids.back().get();
    };
    Child* origin = child("origin");
    Child* control = child("control");
    control->edge_port = free_port();
    Child* a1 = child("a1");
    Child* a2 = child("a2");
    Child* x1 = child("x1");
    int rc = 0;
    auto fail = [&](const std::string& what) {
        std::fprintf(stderr, "vcdn demo: %s (see %s/logs)\n", what.c_str(), dir.c_str());
        rc = 1;
    };
    // Storage: each ISP edge holds ~45% of the catalog, the exchange all of it.
    const uint64_t isp_storage = catalog_bytes * 45 / 100;
    // Secrets and the fleet's CA, as a deployment has them: each edge its own token, the
    // origin its own signing key, the control plane's edge listener a certificate the edges
    // check against the CA.
    g_admin = random_hex(16);
    const std::string read_token = random_hex(16);
    std::map<std::string, std::string> edge_tokens;
    bool secrets = write_secret(dir + "/admin.token", g_admin + "\n") &&
                   write_secret(dir + "/read.token", read_token + "\n") &&
                   write_secret(dir + "/origin.keys", "o1 " + random_hex(32) + "\n");
    for (Child* e : {a1, a2, x1}) {
        edge_tokens[e->name] = random_hex(16);
        secrets =
            secrets && write_secret(dir + "/" + e->name + ".token", edge_tokens[e->name] + "\n");
    }
    if (Status s = tls::make_ca(dir + "/pki", "vcdn demo CA", 30); !s) {
        fail("CA: " + s.error().message);
        secrets = false;
    } else if (Status t = tls::issue_cert(
                   dir + "/pki", tls::CertRequest{"control", {"localhost"}, {"127.0.0.1"}, 30},
                   dir + "/pki/control");
               !t) {
        fail("certificate: " + t.error().message);
        secrets = false;
    }
    if (!secrets && rc == 0) fail("secrets could not be written");
    const std::string fleet = fmt::format(
        "[origin]\nurl = \"http://127.0.0.1:{}\"\nsigning_keys = \"{}/origin.keys\"\n\n"
        "[[site]]\nname = \"isp-1\"\ntier = \"embedded\"\nprefixes = [\"127.1.0.0/16\"]\n"
        "fallback = [\"ix-1\"]\nfill_peer_wait_s = 20\nfill_tier_wait_s = 40\n\n"
        "[[site.edge]]\nid = \"a1\"\nurl = \"http://127.0.0.1:{}\"\ntoken_sha256 = \"{}\"\n"
        "storage_bytes = {}\n\n"
        "[[site.edge]]\nid = \"a2\"\nurl = \"http://127.0.0.1:{}\"\ntoken_sha256 = \"{}\"\n"
        "storage_bytes = {}\n\n"
        "[[site]]\nname = \"ix-1\"\ntier = \"ix\"\nprefixes = [\"127.2.0.0/16\"]\n\n"
        "[[site.edge]]\nid = \"x1\"\nurl = \"http://127.0.0.1:{}\"\ntoken_sha256 = \"{}\"\n"
        "storage_bytes = {}\n",
        origin->port, dir, a1->port, Sha256::hex_of(edge_tokens["a1"]), isp_storage, a2->port,
        Sha256::hex_of(edge_tokens["a2"]), isp_storage, x1->port, Sha256::hex_of(edge_tokens["x1"]),
        catalog_bytes * 2);
    {
        std::ofstream f(dir + "/fleet.toml");
        f << fleet;
    }
    {
        std::ofstream f(dir + "/control.toml");
        // Players on the public listener, edges on theirs (TLS), the demo and the dashboard on
        // the admin one (plain on loopback, so that a browser opens it without a warning).
        f << "[control]\nfill_delete_delay_ms = 2000\nsteering_log = \"" << dir
          << "/logs/steering.log\"\n"
          << fmt::format("listen = \"127.0.0.1:{}\"\nedge_listen = \"127.0.0.1:{}\"\n"
                         "admin_listen = \"127.0.0.1:{}\"\nadmin_token_file = \"{}/admin.token\"\n"
                         "read_token_file = \"{}/read.token\"\n",
                         control->port, control->edge_port, control->admin, dir, dir)
          << "[control.tls]\ncert = \"" << dir << "/pki/control.pem\"\nkey = \"" << dir
          << "/pki/control.key\"\nlisteners = [\"edge\"]\n"
          << "[control.health]\nheartbeat_interval_ms = 500\n"
             "missed_heartbeats = 3\nhold_down_ms = 1000\n"
          << fmt::format("[control.play]\npublic_url = \"http://127.0.0.1:{}\"\n", control->port);
    }
    bool ok =
        rc == 0 &&
        spawn(origin, {vcdn, "origin", "--root", dir + "/origin", "--listen",
                       fmt::format("127.0.0.1:{}", origin->port), "--signing-keys",
                       dir + "/origin.keys", "--require-signed-urls", "--access-log", "off"}) &&
        wait_port(*origin, origin->port, 10000);
    ok = ok &&
         spawn(control, {vcdn, "control", "--config", dir + "/control.toml", "--db",
                         "sqlite:" + dir + "/control.db", "--fleet", dir + "/fleet.toml"}) &&
         wait_port(*control, control->admin, 10000);
    for (Child* e : {x1, a1, a2}) {
        if (!ok) break;
        fs::create_directories(dir + "/edge-" + e->name);
        ok = spawn(e, {vcdn,
                       "edge",
                       "--root",
                       dir + "/edge-" + e->name,
                       "--listen",
                       fmt::format("127.0.0.1:{}", e->port),
                       "--admin",
                       fmt::format("127.0.0.1:{}", e->admin),
                       "--access-log",
                       dir + "/logs/" + e->name + "-access.log",
                       "--require-signed-urls",
                       "--control",
                       fmt::format("https://127.0.0.1:{}", control->edge_port),
                       "--control-ca",
                       dir + "/pki/ca.pem",
                       "--id",
                       e->name,
                       "--token-file",
                       dir + "/" + e->name + ".token",
                       "--fill-window",
                       "always",
                       "--scrub-rate",
                       "0"}) &&
             wait_port(*e, e->port, 10000);
    }
    if (!ok) fail("a process did not start");
    const std::string dashboard =
        fmt::format("http://127.0.0.1:{}/#token={}", control->admin, read_token);
    if (rc == 0) {
        say(fmt::format("started: origin :{}, control :{} (dashboard {}), isp-1 edges a1 :{} a2 "
                        ":{} (clients 127.1.0.0/16), ix-1 edge x1 :{} (clients 127.2.0.0/16)",
                        origin->port, control->port, dashboard, a1->port, a2->port, x1->port));
        // 3. Catalog and a Zipf popularity (title 1 the hottest).
        std::string catalog_text;
        {
            std::ifstream f(dir + "/origin/catalog.json");
            catalog_text.assign(std::istreambuf_iterator<char>(f), {});
        }
        json pop = {{"files", json::array()}};
        for (const auto& f : cat->files)
            pop["files"].push_back({{"path", f.path}, {"popularity", 1000.0 / f.title}});
        if (auto r = api(control->admin, "POST", "/api/v1/catalog", catalog_text); !r)
            fail("catalog import: " + r.error().message);
        else if (auto p = api(control->admin, "POST", "/api/v1/popularity", pop.dump()); !p)
            fail("popularity import: " + p.error().message);
    }
    // 4. Fill.
    bool converged = false;
    const int64_t fill_start = monotonic_ms();
    while (rc == 0 && !stop.load() && monotonic_ms() - fill_start < 180000) {
        auto d = api(control->admin, "GET", "/api/v1/dashboard");
        if (d && (*d)["fill"].is_object()) {
            const json& f = (*d)["fill"];
            const uint64_t total = f.value("files_total", uint64_t{0});
            const uint64_t placed = f.value("files_placed", uint64_t{0});
            const std::string line =
                fmt::format("fill: {} / {} files placed, {:.0f} MB to go", placed, total,
                            f.value("bytes_pending", 0.0) / 1e6);
            if (tty) std::printf("\r%s\033[K", line.c_str());
            std::fflush(stdout);
            size_t complete = 0;
            for (const auto& s : (*d)["sites"])
                for (const auto& e : s["edges"])
                    complete += e.contains("fill") && e["fill"].value("state", "") == "complete" &&
                                e.contains("manifest") &&
                                e["fill"].value("manifest_version", -1) ==
                                    e["manifest"].value("version", -2);
            if (total > 0 && placed == total && complete == 3) {
                if (tty) std::printf("\n");
                say(fmt::format("fill: converged in {:.1f} s: {} files on 3 edges",
                                (monotonic_ms() - fill_start) / 1000.0, total));
                converged = true;
                break;
            }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    if (rc == 0 && !converged && !stop.load()) fail("fill did not converge in 180 s");

    // Standard players' way in: the control plane's generated manifests for title 1, with
    // title tokens and Content Steering (a browser on this machine is no ISP client: it is
    // steered to the exchange, x1), and the watch page that plays them.
    const std::string watch = fmt::format("http://127.0.0.1:{}/watch?title=1", control->port);
    bool manifests_ok = true;
    if (rc == 0 && converged) {
        for (const char* kind : {"m3u8", "mpd"}) {
            auto r = io::http_get(
                fmt::format("http://127.0.0.1:{}/api/v1/play/1.{}", control->port, kind));
            const bool ok = r && r->status == 200 && r->body.find("\"x1\"") != std::string::npos;
            manifests_ok = manifests_ok && ok;
            if (!ok)
                say(fmt::format(
                    "generated manifest 1.{}: {}", kind,
                    !r ? r.error().message
                       : fmt::format("HTTP {}: {}", r->status, r->body.substr(0, 200))));
        }
        if (manifests_ok) say("generated manifests: /api/v1/play/1.m3u8 and 1.mpd steer to x1");
    }

    // 5. Players: 70% in the ISP's clients, 30% in clients only the exchange covers.
    json isp_summary, ix_summary;
    // Per edge: body bytes and responses at the start, and a1's just before it is killed.
    std::map<std::string, double> bytes_before, reqs_before, bytes_at_kill, reqs_at_kill;
    // CPU seconds while the players run: the edges (a1 until its kill) and this process,
    // whose threads are the players (plus a little polling).
    std::map<std::string, double> cpu_before, cpu_at_kill;
    double self_cpu_before = 0, self_cpu_after = 0;
    if (rc == 0 && !stop.load()) {
        // Wait one health round so that steering sees every edge's final inventory.
        std::this_thread::sleep_for(std::chrono::milliseconds(1500));
        for (Child* e : {a1, a2, x1}) {
            const std::string m = edge_metrics(*e);
            bytes_before[e->name] = metric_sum(m, "vcdn_sent_body_bytes_total");
            reqs_before[e->name] = metric_sum(m, "vcdn_http_responses_total");
            cpu_before[e->name] = cpu_seconds(e->pid);
        }
        self_cpu_before = self_cpu_seconds();
        say(fmt::format("players: {} for {} s ({} in 127.1.0.0/16, {} in 127.2.0.0/16){}",
                        opt.players, opt.duration_s, opt.players * 7 / 10,
                        opt.players - opt.players * 7 / 10,
                        opt.kill_edge ? "; edge a1 is killed halfway" : ""));
        player::PlayConfig pc;
        pc.control = fmt::format("http://127.0.0.1:{}", control->port);
        pc.api = fmt::format("http://127.0.0.1:{}", control->admin);
        pc.read_token = read_token;
        pc.duration_s = opt.duration_s;
        pc.max_buffer_s = 12;
        pc.players = std::max(1u, opt.players * 7 / 10);
        pc.client_net = "127.1.0.0/16";
        player::PlayConfig px = pc;
        px.players = std::max(1u, opt.players - pc.players);
        px.client_net = "127.2.0.0/16";
        px.seed = 2;
        Result<player::PlayReport> r1 = Error{"not run"}, r2 = Error{"not run"};
        std::atomic<uint32_t> active{0};
        std::atomic<double> gbps{0};
        std::thread t2([&] {
            r2 = player::run(px, stop, [&](const player::Progress& p) {
                active.store(p.active);
                gbps.store(p.gbps);
            });
        });
        std::thread killer([&] {
            if (!opt.kill_edge) return;
            for (uint32_t ms = 0; ms < opt.duration_s * 500 && !stop.load(); ms += 50)
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
            if (stop.load()) return;
            const std::string m = edge_metrics(*a1);
            bytes_at_kill["a1"] = metric_sum(m, "vcdn_sent_body_bytes_total");
            reqs_at_kill["a1"] = metric_sum(m, "vcdn_http_responses_total");
            cpu_at_kill["a1"] = cpu_seconds(a1->pid);
            ::kill(a1->pid, SIGKILL);
            a1->killed = true;
            if (tty) std::printf("\n");
            say("killed edge a1 (kill -9): its players fail over to a2, then to ix-1");
        });
        r1 = player::run(pc, stop, [&](const player::Progress& p) {
            if (tty) {
                std::printf("\rplaying: %u active | %.2f Gbit/s | rebuffer %.2f%%\033[K",
                            p.active + active.load(), p.gbps + gbps.load(), p.rebuffer_ratio * 100);
                std::fflush(stdout);
            }
        });
        t2.join();
        killer.join();
        self_cpu_after = self_cpu_seconds();
        if (tty) std::printf("\n");
        if (!r1 || !r2) {
            fail(fmt::format("players: {}", !r1 ? r1.error().message : r2.error().message));
        } else {
            isp_summary = r1->summary;
            ix_summary = r2->summary;
        }
    }

    // 6. The summary.
    bool players_ok = true;
    if (rc == 0 && !stop.load()) {
        std::map<std::string, double> site_bytes, site_reqs;
        double total = 0, edge_cpu = 0;
        for (Child* e : {a1, a2, x1}) {
            double b = 0, q = 0;
            if (e->killed) {
                b = bytes_at_kill[e->name];
                q = reqs_at_kill[e->name];
                edge_cpu += cpu_at_kill[e->name] - cpu_before[e->name];
            } else {
                const std::string m = edge_metrics(*e);
                b = metric_sum(m, "vcdn_sent_body_bytes_total");
                q = metric_sum(m, "vcdn_http_responses_total");
                edge_cpu += cpu_seconds(e->pid) - cpu_before[e->name];
            }
            b = std::max(0.0, b - bytes_before[e->name]);
            q = std::max(0.0, q - reqs_before[e->name]);
            site_bytes[e == x1 ? "ix-1" : "isp-1"] += b;
            site_reqs[e == x1 ? "ix-1" : "isp-1"] += q;
            total += b;
        }
        const double secs = opt.duration_s;
        say("");
        say(fmt::format("{:<10} {:>10} {:>14} {:>10} {:>12}", "site", "requests", "bytes", "Gbit/s",
                        "byte share"));
        for (const auto& [site, b] : site_bytes)
            say(fmt::format("{:<10} {:>10.0f} {:>14.0f} {:>10.3f} {:>11.1f}%", site,
                            site_reqs[site], b, b * 8 / secs / 1e9,
                            total > 0 ? 100 * b / total : 0));
        say("(the origin serves no player: every byte came from an edge; isp-1 serves its own "
            "clients what it holds, ix-1 the rest and every client of 127.2.0.0/16)");
        const double player_cpu = self_cpu_after - self_cpu_before;
        say(fmt::format("cpu while playing: players {:.1f} s, edges {:.1f} s ({:.2f}x the edges'; "
                        "{:.2f} s per GB for the players, {:.2f} s per GB for the edges)",
                        player_cpu, edge_cpu, edge_cpu > 0 ? player_cpu / edge_cpu : 0,
                        total > 0 ? player_cpu / (total / 1e9) : 0,
                        total > 0 ? edge_cpu / (total / 1e9) : 0));
        say("");
        // Failovers the players rode through (a good chunk followed) are not errors: the viewer
        // saw at most a stall, which the rebuffer column shows. Viewer errors are what a viewer
        // would notice: no source left in the list, no steering answer.
        say(fmt::format("{:<16} {:>8} {:>12} {:>12} {:>10} {:>9} {:>9} {:>12} {:>13}", "players",
                        "sessions", "startup p50", "startup p95", "rebuffer", "kbit/s", "failovers",
                        "rode through", "viewer errors"));
        for (const auto& [name, s] :
             {std::pair{"isp 127.1/16", isp_summary}, std::pair{"ix 127.2/16", ix_summary}}) {
            uint64_t viewer = 0, unexpected = 0;
            for (const auto& [k, v] : s["viewer_errors"].items())
                viewer += v.get<uint64_t>();
            // Only the induced kill may fail requests: resets, refused connects, stalls.
            for (const auto& [k, v] : s["errors"].items())
                if (k != "reset" && k != "connect" && k != "send" && k != "stall" && k != "timeout")
                    unexpected += v.get<uint64_t>();
            say(fmt::format(
                "{:<16} {:>8} {:>10.0f}ms {:>10.0f}ms {:>9.2f}% {:>9.0f} {:>9} {:>12} {:>13}", name,
                s["sessions"].get<uint64_t>(), s["startup_ms"]["p50"].get<double>(),
                s["startup_ms"]["p95"].get<double>(), s["rebuffer_ratio"].get<double>() * 100,
                s["avg_bitrate_kbps"].get<double>(), s["failovers"].get<uint64_t>(),
                s["failovers_recovered"].get<uint64_t>(), viewer));
            if (viewer > 0 || unexpected > 0 || s["rebuffer_ratio"].get<double>() > 0.02 ||
                s["sessions"].get<uint64_t>() == 0) {
                players_ok = false;
                say(fmt::format("  {}: failed requests {}, viewer errors {} — beyond the induced "
                                "failover",
                                name, s["errors"].dump(), s["viewer_errors"].dump()));
            }
        }
        say("(failovers: requests that failed and moved to the next edge of the list; rode "
            "through: of them, the ones the player continued from without a viewer error; a "
            "failover still under way when the run ended is neither)");
        say("");
        say("dashboard: " + dashboard +
            (opt.keep ? "" : " (stopped with the demo; --keep leaves it up)"));
        say("watch:     " + watch + " (hls.js, dash.js or Shaka in a browser on this machine)");
        // Every process that was not killed on purpose must still be up.
        for (const auto& k : kids)
            if (!k->killed && !k->alive()) {
                fail(fmt::format("{} exited during the demo", k->name));
                break;
            }
        if (opt.ci && rc == 0 && (!converged || !players_ok || !manifests_ok)) {
            fail("the CI verdict failed: fill, errors, rebuffering or manifests (see above)");
        }
    }
    if (opt.keep && rc == 0) {
        say("--keep: everything stays up; Ctrl-C stops it.");
        while (!stop.load())
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    for (auto it = kids.rbegin(); it != kids.rend(); ++it)
        if (!(*it)->killed)
            stop_child(**it);
        else if ((*it)->pid > 0)
            waitpid((*it)->pid, nullptr, 0);
    if (opt.ci && rc == 0 && opt.dir.empty()) fs::remove_all(dir, ec);
    if (rc == 0 && stop.load() && !opt.keep) return 130;
    if (rc == 0) say(opt.ci ? "demo: ok" : "demo: done");
    return rc;
}

} // namespace vcdn::demo
