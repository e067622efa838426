// `vcdn play --mode ranges`: a range load generator for benchmarks. Each connection asks for
// random ranges of random files as fast as it can, keep-alive, one request at a time, and
// records each request's latency. Written for low CPU per request (so that it is never the
// bottleneck of a measurement): one epoll loop per thread, a reused request buffer, and a
// minimal response-head scan (status, Content-Length, Connection: close) instead of the
// general parser.
//
// Connections the server closes are told apart as an HTTP client must (RFC 9110 9.2.2,
// 9.3.1): a response with "Connection: close" ends its connection gracefully (a reconnect, not
// an error); a kept-alive connection closed before any byte of the next response came is
// retried once on a fresh one (a retry); a refused connect is counted as refused and as an
// error; anything else (a reset mid-response, a status other than 200/206) is an error.
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <mutex>
#include <thread>

#include <vcdn/base/random.h>
#include <vcdn/base/time.h>
#include <vcdn/catalog/catalog.h>
#include <vcdn/http/url.h>
#include <vcdn/io/address.h>
#include <vcdn/player/play.h>

namespace vcdn::player {

namespace {

struct RConn {
    int fd = -1;
    bool connecting = false;
    size_t head_len = 0; // bytes of head seen so far (kept in `head`)
    char head[1024];
    bool in_body = false;
    uint64_t body_left = 0;
    int64_t sent_us = 0;
    Rng rng{1};
    uint32_t served = 0;      // responses on this connection
    bool close_after = false; // the current response said Connection: close
    bool got_bytes = false;   // a byte of the current response arrived
    bool retry = false;       // open() resends the request below instead of a new one
    size_t req_file = 0;
    uint64_t req_first = 0;
};

// Status, Content-Length and Connection: close from a complete head; false if malformed.
bool scan_head(const char* h, size_t n, int* status, uint64_t* length, bool* close) {
    if (n < 12 || std::memcmp(h, "HTTP/1.", 7) != 0) return false;
    *status = (h[9] - '0') * 100 + (h[10] - '0') * 10 + (h[11] - '0');
    *length = 0;
    *close = false;
    bool have = false;
    for (size_t i = 0; i + 16 < n; ++i) {
        if (h[i] != '\n') continue;
        if (i + 18 < n && strncasecmp(h + i + 1, "connection: close", 17) == 0) *close = true;
        if (strncasecmp(h + i + 1, "content-length:", 15) == 0) {
            size_t j = i + 16;
            while (j < n && h[j] == ' ')
                ++j;
            uint64_t v = 0;
            while (j < n && h[j] >= '0' && h[j] <= '9')
                v = v * 10 + static_cast<uint64_t>(h[j++] - '0');
            *length = v;
            have = true;
        }
    }
    return have;
}

struct RangeShared {
    std::atomic<uint64_t> requests{0}, bytes{0}, errors{0};
    std::atomic<uint64_t> refused{0}, retries{0}, reconnects{0};
    std::mutex mu;
    LatencyHistogram latency;
};

void range_loop(const RangesConfig& cfg, const std::vector<std::pair<std::string, uint64_t>>& files,
                const io::SocketAddress& addr, uint32_t conns, uint64_t seed, int64_t end_us,
                const std::atomic<bool>& stop, RangeShared* sh) {
    const int ep = epoll_create1(EPOLL_CLOEXEC);
    std::vector<RConn> cs(conns);
    std::string req;
    req.reserve(512);
    LatencyHistogram lat;
    uint64_t requests = 0, bytes = 0, errors = 0;
    uint64_t refused = 0, retries = 0, reconnects = 0;
    char buf[65536];
    auto send_req = [&](uint32_t i, int64_t now) -> bool {
        RConn& c = cs[i];
        if (!c.retry) {
            c.req_file = c.rng.below(files.size());
            const uint64_t size = files[c.req_file].second;
            const uint64_t len = std::min<uint64_t>(cfg.range_bytes, size);
            c.req_first = size > len ? c.rng.below(size - len + 1) : 0;
        }
        c.retry = false;
        c.got_bytes = false;
        const auto& [path, size] = files[c.req_file];
        const uint64_t len = std::min<uint64_t>(cfg.range_bytes, size);
        const uint64_t first = c.req_first;
        req.clear();
        fmt::format_to(std::back_inserter(req),
                       "GET {} HTTP/1.1\r\nHost: bench\r\nRange: bytes={}-{}\r\n\r\n", path, first,
                       first + len - 1);
        c.sent_us = now;
        c.head_len = 0;
        c.in_body = false;
        // A request this small always fits in the socket buffer of a fresh or idle connection.
        return ::send(c.fd, req.data(), req.size(), MSG_NOSIGNAL) ==
               static_cast<ssize_t>(req.size());
    };
    auto open = [&](uint32_t i) {
        RConn& c = cs[i];
        c.fd = socket(addr.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        int one = 1;
        setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        const int rc = connect(c.fd, addr.sa(), addr.len);
        c.connecting = rc != 0 && errno == EINPROGRESS;
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLOUT | EPOLLET;
        ev.data.u32 = i;
        epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev);
        if (rc == 0) c.connecting = false;
        if (!c.connecting) send_req(i, monotonic_us());
    };
    enum class Why { kError, kRefused, kClosed, kGraceful };
    auto reopen = [&](uint32_t i, Why why) {
        RConn& c = cs[i];
        ::close(c.fd);
        if (why == Why::kClosed && c.served > 0 && !c.got_bytes) {
            ++retries; // the keep-alive race: the server closed as the request went out
            c.retry = true;
        } else if (why == Why::kGraceful) {
            ++reconnects;
        } else {
            ++errors;
            if (why == Why::kRefused) ++refused;
        }
        c.served = 0;
        c.close_after = false;
        open(i);
    };
    for (uint32_t i = 0; i < conns; ++i) {
        cs[i].rng = Rng(seed * 7919 + i);
        open(i);
    }
    std::vector<epoll_event> evs(256);
    while (!stop.load(std::memory_order_relaxed)) {
        const int n = epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), 100);
        const int64_t now = monotonic_us();
        if (now >= end_us) break;
        for (int k = 0; k < n; ++k) {
            const uint32_t i = evs[k].data.u32;
            RConn& c = cs[i];
            if (c.connecting) {
                int err = 0;
                socklen_t l = sizeof err;
                getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &l);
                if (err != 0) {
                    reopen(i, err == ECONNREFUSED ? Why::kRefused : Why::kError);
                    continue;
                }
                if (!(evs[k].events & EPOLLOUT)) continue;
                c.connecting = false;
                if (!send_req(i, now)) {
                    reopen(i, Why::kError);
                    continue;
                }
            }
            for (;;) { // edge-triggered: read until EAGAIN
                ssize_t r = ::recv(c.fd, buf, sizeof buf, 0);
                if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
                    reopen(i, Why::kClosed);
                    break;
                }
                if (r < 0) break;
                c.got_bytes = true;
                Why why = Why::kError;
                size_t off = 0;
                while (off < static_cast<size_t>(r)) {
                    if (!c.in_body) {
                        const size_t take =
                            std::min(static_cast<size_t>(r) - off, sizeof c.head - c.head_len);
                        std::memcpy(c.head + c.head_len, buf + off, take);
                        const size_t before = c.head_len;
                        c.head_len += take;
                        const void* end = memmem(c.head, c.head_len, "\r\n\r\n", 4);
                        if (!end) {
                            if (c.head_len == sizeof c.head)
                                off = SIZE_MAX; // too big: reset
                            else
                                off += take;
                            continue;
                        }
                        const size_t hl = static_cast<const char*>(end) - c.head + 4;
                        int status = 0;
                        uint64_t length = 0;
                        if (!scan_head(c.head, hl, &status, &length, &c.close_after) ||
                            (status != 200 && status != 206)) {
                            off = SIZE_MAX;
                            continue;
                        }
                        c.in_body = true;
                        c.body_left = length;
                        off += hl - before;
                    }
                    const uint64_t body =
                        std::min<uint64_t>(c.body_left, static_cast<size_t>(r) - off);
                    c.body_left -= body;
                    bytes += body;
                    off += body;
                    if (c.body_left == 0) {
                        lat.record(static_cast<uint64_t>(now - c.sent_us));
                        ++requests;
                        ++c.served;
                        c.in_body = false;
                        if (c.close_after) {
                            why = Why::kGraceful;
                            off = SIZE_MAX;
                            break;
                        }
                        if (!send_req(i, now)) {
                            why = Why::kClosed; // a reused connection: retried once
                            off = SIZE_MAX;
                            break;
                        }
                    }
                }
                if (off == SIZE_MAX) {
                    reopen(i, why);
                    break;
                }
            }
        }
        if ((requests & 1023) == 0) {
            sh->requests.fetch_add(requests, std::memory_order_relaxed);
            sh->bytes.fetch_add(bytes, std::memory_order_relaxed);
            sh->errors.fetch_add(errors, std::memory_order_relaxed);
            sh->refused.fetch_add(refused, std::memory_order_relaxed);
            sh->retries.fetch_add(retries, std::memory_order_relaxed);
            sh->reconnects.fetch_add(reconnects, std::memory_order_relaxed);
            requests = bytes = errors = refused = retries = reconnects = 0;
        }
    }
    for (RConn& c : cs)
        if (c.fd >= 0) ::close(c.fd);
    ::close(ep);
    sh->requests.fetch_add(requests);
    sh->bytes.fetch_add(bytes);
    sh->errors.fetch_add(errors);
    sh->refused.fetch_add(refused);
    sh->retries.fetch_add(retries);
    sh->reconnects.fetch_add(reconnects);
    std::lock_guard lk(sh->mu);
    sh->latency.merge(lat);
}

} // namespace

Result<nlohmann::json> run_ranges(const RangesConfig& cfg, const std::atomic<bool>& stop,
                                  const std::function<void(const Progress&)>& on_progress) {
    auto url = http::parse_base_url(cfg.target);
    if (!url || url->https()) return Error{"ranges mode: give --target http://IP:PORT"};
    auto addr = io::parse_socket_address(url->host_port());
    if (!addr) return Error{fmt::format("ranges mode: target: {}", addr.error().message)};
    if (cfg.connections < 1 || cfg.threads < 1 || cfg.range_bytes < 1 || cfg.duration_s < 1)
        return Error{"ranges mode: connections, threads, range bytes and duration must be >= 1"};
    auto cat = catalog::load(cfg.catalog_file);
    if (!cat) return Error{fmt::format("ranges mode: catalog: {}", cat.error().message)};
    std::vector<std::pair<std::string, uint64_t>> files;
    for (const auto& f : cat->files)
        if (f.size > 0) files.emplace_back(f.path, f.size);
    if (files.empty()) return Error{"ranges mode: the catalog has no files"};
    RangeShared sh;
    const int64_t start = monotonic_us();
    const int64_t end = start + int64_t{cfg.duration_s} * 1000000;
    std::vector<std::thread> threads;
    for (uint32_t t = 0; t < cfg.threads; ++t) {
        const uint32_t n = cfg.connections / cfg.threads + (t < cfg.connections % cfg.threads);
        threads.emplace_back(
            [&, n, t] { range_loop(cfg, files, *addr, n, t + 1, end, stop, &sh); });
    }
    timespec c0{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
    uint64_t last = 0;
    int64_t last_t = start;
    while (monotonic_us() < end && !stop.load()) {
        std::this_thread::sleep_for(
            std::chrono::milliseconds(std::clamp<int64_t>((end - monotonic_us()) / 1000, 1, 1000)));
        if (on_progress) {
            const int64_t now = monotonic_us();
            Progress p;
            p.active = cfg.connections;
            const uint64_t b = sh.bytes.load();
            p.gbps = now > last_t ? (b - last) * 8.0 / ((now - last_t) / 1e6) / 1e9 : 0;
            p.requests = sh.requests.load();
            p.errors = sh.errors.load();
            last = b;
            last_t = now;
            on_progress(p);
        }
    }
    for (auto& t : threads)
        t.join();
    timespec c1{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
    const double cpu = (c1.tv_sec - c0.tv_sec) + (c1.tv_nsec - c0.tv_nsec) / 1e9;
    const double secs = (monotonic_us() - start) / 1e6;
    const uint64_t reqs = sh.requests.load();
    return nlohmann::json{{"mode", "ranges"},
                          {"connections", cfg.connections},
                          {"duration_s", secs},
                          {"requests", reqs},
                          {"requests_per_s", reqs / secs},
                          {"bytes", sh.bytes.load()},
                          {"gbps", sh.bytes.load() * 8 / secs / 1e9},
                          {"errors", sh.errors.load()},
                          {"refused_connections", sh.refused.load()},
                          {"retried_requests", sh.retries.load()},
                          {"graceful_reconnects", sh.reconnects.load()},
                          {"client_cpu_s", cpu},
                          {"client_cpu_us_per_request", reqs ? cpu * 1e6 / reqs : 0.0},
                          {"latency_ms",
                           {{"p50", sh.latency.percentile(0.5) / 1000.0},
                            {"p90", sh.latency.percentile(0.9) / 1000.0},
                            {"p99", sh.latency.percentile(0.99) / 1000.0},
                            {"p999", sh.latency.percentile(0.999) / 1000.0},
                            {"max", sh.latency.max() / 1000.0}}}};
}

} // namespace vcdn::player
