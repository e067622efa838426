#include <vcdn/demo/demo.h>

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>
#include <mutex>
#include <thread>
#include <vector>

#include <openssl/rand.h>

#include <vcdn/auth/signed_url.h>
#include <vcdn/base/log.h>
#include <vcdn/base/random.h>
#include <vcdn/base/strings.h>
#include <vcdn/base/time.h>
#include <vcdn/catalog/catalog.h>
#include <vcdn/client/http_client.h>
#include <vcdn/edge/server.h>

namespace vcdn::demo {

namespace {

struct PlayerStats {
    uint64_t requests = 0;
    uint64_t bytes = 0;
    uint64_t errors = 0;
    uint64_t corrupt = 0;
    std::vector<int64_t> latencies_us;
    std::string first_error;
};

// One simulated viewer: picks a file, walks it in player-sized ranges, checks every byte.
void play(uint32_t id, const io::SocketAddress& edge, const catalog::Catalog& cat,
          const auth::SigningKey& key, int64_t deadline_ns, const std::atomic<bool>& stop,
          PlayerStats* st) {
    Rng rng(0x5eed0000ULL + id);
    client::HttpClient http(edge, 5000);
    std::vector<char> expect;
    while (monotonic_ns() < deadline_ns && !stop.load()) {
        const catalog::CatalogFile& f = cat.files[rng.below(cat.files.size())];
        // Steered players get signed URLs (the control plane will hand them out); for now the
        // demo signs them itself, valid for ten minutes.
        const std::string url = auth::sign_url(f.path, realtime_ns() / 1000000000 + 600, key);
        uint64_t off = 0;
        while (off < f.size && monotonic_ns() < deadline_ns && !stop.load()) {
            uint64_t chunk = 64 * 1024 + rng.below(192 * 1024);
            uint64_t last = std::min(f.size, off + chunk) - 1;
            auto r = http.request("GET", url, {fmt::format("Range: bytes={}-{}", off, last)});
            ++st->requests;
            if (!r || r->head.status != 206 || r->body.size() != last - off + 1) {
                ++st->errors;
                if (st->first_error.empty())
                    st->first_error =
                        r ? fmt::format("{} for {} bytes={}-{}", r->head.status, f.path, off, last)
                          : r.error().message;
                http.close();
                break;
            }
            st->latencies_us.push_back(r->duration_us);
            st->bytes += r->body.size();
            expect.resize(r->body.size());
            catalog::synthetic_bytes(cat.seed, f.path, off, expect.data(), expect.size());
            if (std::memcmp(expect.data(), r->body.data(), expect.size()) != 0) ++st->corrupt;
            off = last + 1;
        }
    }
}

int64_t percentile(std::vector<int64_t>& v, double p) {
    if (v.empty()) return 0;
    size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
    std::nth_element(v.begin(), v.begin() + static_cast<long>(i), v.end());
    return v[i];
}

std::string metric_sum(const std::string& text, const std::string& name) {
    uint64_t sum = 0;
    size_t pos = 0;
    while ((pos = text.find(name, pos)) != std::string::npos) {
        size_t eol = text.find('\n', pos);
        std::string line = text.substr(pos, eol - pos);
        pos = eol;
        if (line.rfind(name, 0) != 0 ||
            (line.size() > name.size() && line[name.size()] != '{' && line[name.size()] != ' '))
            continue;
        sum += std::strtoull(line.substr(line.rfind(' ') + 1).c_str(), nullptr, 10);
    }
    return std::to_string(sum);
}

} // namespace

int run(const DemoOptions& opt, const std::atomic<bool>& stop) {
    namespace fs = std::filesystem;
    std::string dir = opt.dir;
    if (dir.empty()) {
        char tmpl[] = "/tmp/vcdn-demo-XXXXXX";
        if (!mkdtemp(tmpl)) {
            fmt::print(stderr, "vcdn demo: cannot create a work directory: {}\n", strerror(errno));
            return 1;
        }
        dir = tmpl;
    }
    const std::string root = dir + "/content";
    fmt::print("vcdn demo — work directory {}\n\n", dir);

    // 1. Catalog.
    catalog::MakeOptions mo;
    mo.out_dir = root;
    mo.titles = opt.titles;
    mo.seconds = opt.seconds;
    mo.bitrates_kbps = {235, 750, 1750, 3000, 5800};
    mo.seed = 42;
    const int64_t t0 = monotonic_ns();
    const bool tty = isatty(STDOUT_FILENO) && !opt.ci;
    auto cat = catalog::make_catalog(mo, [&](size_t done, size_t total) {
        if (!tty) return;
        fmt::print("\r  making catalog: {}/{} files", done, total);
        fflush(stdout);
    });
    if (!cat) {
        fmt::print(stderr, "\nvcdn demo: catalog: {}\n", cat.error().message);
        return 1;
    }
    uint64_t total_bytes = 0;
    for (const auto& f : cat->files)
        total_bytes += f.size;
    fmt::print("{}  catalog: {} titles, {} files, {} in {:.1f} s → {}/catalog.json\n",
               tty ? "\r" : "", opt.titles, cat->files.size(),
               human_bytes(static_cast<double>(total_bytes)),
               static_cast<double>(monotonic_ns() - t0) / 1e9, root);

    // 2. Edge. Its log lines would interleave with the report: only warnings and errors.
    if (log::level() < log::Level::kWarn) log::set_level(log::Level::kWarn);
    // A signing key: the edge accepts only signed URLs, as it will in production.
    unsigned char secret[32];
    RAND_bytes(secret, sizeof secret);
    const std::string keys_path = dir + "/signing-keys";
    {
        FILE* kf = std::fopen(keys_path.c_str(), "w");
        if (!kf) {
            fmt::print(stderr, "vcdn demo: cannot write {}: {}\n", keys_path, strerror(errno));
            return 1;
        }
        fmt::print(kf, "demo {}\n", to_hex(secret, sizeof secret));
        std::fclose(kf);
    }
    auto keys = auth::KeySet::load(keys_path);
    if (!keys) {
        fmt::print(stderr, "vcdn demo: {}\n", keys.error().message);
        return 1;
    }
    edge::EdgeConfig ec;
    ec.signing_keys = keys_path;
    ec.require_signed_urls = true;
    ec.roots = {edge::RootConfig{root, edge::Tier::kDisk}};
    ec.listen = {opt.listen};
    ec.admin = opt.admin;
    ec.access_log = dir + "/access.log";
    auto server = edge::EdgeServer::create(ec);
    if (!server) {
        fmt::print(stderr, "vcdn demo: edge: {}\n", server.error().message);
        return 1;
    }
    (void)(*server)->start();
    const io::SocketAddress addr = (*server)->listen_addresses().front();
    const io::SocketAddress admin = (*server)->admin_addresses().front();
    fmt::print("  edge: http://{}  ({} workers)   admin: http://{}/metrics\n", addr.to_string(),
               (*server)->workers(), admin.to_string());

    // 3. Players.
    fmt::print("  playing: {} players for {} s, ranges of 64–256 KiB, every byte verified...\n",
               opt.players, opt.duration_s);
    std::vector<PlayerStats> stats(opt.players);
    std::vector<std::thread> threads;
    const int64_t start = monotonic_ns();
    const int64_t deadline = start + int64_t{opt.duration_s} * 1000000000;
    for (uint32_t i = 0; i < opt.players; ++i)
        threads.emplace_back(play, i, addr, std::cref(*cat), std::cref(*keys->newest()), deadline,
                             std::cref(stop), &stats[i]);
    for (auto& t : threads)
        t.join();
    const double secs = static_cast<double>(monotonic_ns() - start) / 1e9;

    PlayerStats all;
    for (auto& s : stats) {
        all.requests += s.requests;
        all.bytes += s.bytes;
        all.errors += s.errors;
        all.corrupt += s.corrupt;
        all.latencies_us.insert(all.latencies_us.end(), s.latencies_us.begin(),
                                s.latencies_us.end());
        if (all.first_error.empty()) all.first_error = s.first_error;
    }
    // An unsigned request, as a player that was not steered would send it: refused.
    auto unsigned_req = client::http_get(addr, cat->files.front().path);
    const int unsigned_status = unsigned_req ? unsigned_req->head.status : 0;
    auto metrics = client::http_get(admin, "/metrics");
    std::string mtext = metrics ? metrics->body : "";

    fmt::print("\n  {:<28} {:>14}\n", "players", opt.players);
    fmt::print("  {:<28} {:>14}\n", "range requests", all.requests);
    fmt::print("  {:<28} {:>14.0f}\n", "requests/s", static_cast<double>(all.requests) / secs);
    fmt::print("  {:<28} {:>14}\n", "bytes received", human_bytes(static_cast<double>(all.bytes)));
    fmt::print("  {:<28} {:>14.2f}\n", "Gbit/s", static_cast<double>(all.bytes) * 8 / secs / 1e9);
    fmt::print("  {:<28} {:>14.2f}\n", "latency p50 (ms)",
               static_cast<double>(percentile(all.latencies_us, 0.50)) / 1000);
    fmt::print("  {:<28} {:>14.2f}\n", "latency p99 (ms)",
               static_cast<double>(percentile(all.latencies_us, 0.99)) / 1000);
    fmt::print("  {:<28} {:>14}\n", "errors", all.errors);
    fmt::print("  {:<28} {:>14}\n", "corrupt ranges", all.corrupt);
    fmt::print("  {:<28} {:>14}\n", "unsigned request answered", unsigned_status);
    fmt::print("  {:<28} {:>14}\n", "edge: responses (metrics)",
               metric_sum(mtext, "vcdn_http_responses_total"));
    fmt::print("  {:<28} {:>14}\n", "edge: connections accepted",
               metric_sum(mtext, "vcdn_connections_accepted_total"));
    if (!all.first_error.empty()) fmt::print("  first error: {}\n", all.first_error);
    if (!opt.ci) fmt::print("\n  access log: {}/access.log\n", dir);

    const bool ok = all.errors == 0 && all.corrupt == 0 && all.requests > 0 && metrics.ok() &&
                    unsigned_status == 403;
    if (opt.keep && !stop.load()) {
        fmt::print(
            "\n  --keep: the edge stays up at http://{} (admin http://{}); Ctrl-C stops it.\n",
            addr.to_string(), admin.to_string());
        fmt::print("  try: curl -r 0-99 -o /dev/null -w '%{{http_code}} %{{size_download}}\\n' "
                   "'http://{}{}'\n",
                   addr.to_string(),
                   auth::sign_url(cat->files.front().path, realtime_ns() / 1000000000 + 3600,
                                  *keys->newest()));
        fflush(stdout);
        while (!stop.load())
            usleep(100000);
    }
    (*server)->begin_drain();
    (*server)->wait(5000);
    (*server)->stop();
    fmt::print("  edge stopped. {}\n", ok ? "demo OK" : "demo FAILED");
    fflush(stdout);
    if (opt.dir.empty() && !opt.keep) {
        // The content is regenerated on every run; keep only the access log to look at
        // (nothing at all in CI mode).
        std::error_code ec2;
        fs::remove_all(opt.ci ? dir : dir + "/content", ec2);
    }
    return ok ? 0 : 1;
}

} // namespace vcdn::demo
