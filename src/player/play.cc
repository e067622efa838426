#include <vcdn/player/play.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fmt/format.h>
#include <mutex>
#include <queue>
#include <thread>

#include <vcdn/base/log.h>
#include <vcdn/base/random.h>
#include <vcdn/base/time.h>
#include <vcdn/catalog/catalog.h>
#include <vcdn/http/response_parser.h>
#include <vcdn/http/url.h>
#include <vcdn/io/address.h>
#include <vcdn/io/http_client.h>
#include <vcdn/io/ip_prefix.h>
#include <vcdn/io/tcp.h>
#include <vcdn/wire/qoe.h>

namespace vcdn::player {

Status validate(const PlayConfig& c) {

    if (c.players < 1 || c.players > 200000) return Error{"players: 1 to 200000"};
    if (c.threads < 1 || c.threads > 64) return Error{"threads: 1 to 64"};
    if (c.duration_s < 1) return Error{"duration: at least 1 s"};
    {
        // Plain HTTP to a numeric address: the players' own loop has no TLS and no DNS.
        auto u = http::parse_base_url(c.control);
        if (!u || u->https() || !io::parse_socket_address(u->host_port()))
            return Error{fmt::format("control '{}': use http://IP:PORT", c.control)};
    }
    if (!c.api.empty())
        if (auto a = http::parse_base_url(c.api); !a)
            return Error{fmt::format("api '{}': {}", c.api, a.error().message)};
    if (!c.api_ca.empty() && ::access(c.api_ca.c_str(), R_OK) != 0)
        return Error{fmt::format("api ca {}: {}", c.api_ca, std::strerror(errno))};
    if (!(c.chunk_s > 0) || c.min_chunk_bytes < 1 || c.max_chunk_bytes < c.min_chunk_bytes)
        return Error{"chunk sizes: chunk_s > 0 and 1 <= min <= max bytes"};
    if (!(c.startup_s > 0) || c.max_buffer_s < c.startup_s + c.chunk_s)
        return Error{"buffer: need startup_s > 0 and max_buffer_s >= startup_s + chunk_s"};
    if (!c.client_net.empty())
        if (auto p = io::IpPrefix::parse(c.client_net); !p)
            return Error{fmt::format("client net: {}", p.error().message)};
    return {};
}

namespace {

// "http://1.2.3.4:80/path?q" -> address and target. Numeric hosts only (no DNS on a loop).
bool split_url(const std::string& url, io::SocketAddress* addr, std::string* target) {
    auto u = http::parse_url(url);
    if (!u || u->https()) return false;
    auto a = io::parse_socket_address(u->host_port());
    if (!a) return false;
    *addr = *a;
    *target = u->path.empty() ? "/" : u->path;
    if (!u->query.empty()) *target += "?" + u->query;
    return true;
}

bool same_address(const io::SocketAddress& a, const io::SocketAddress& b) {
    return a.len == b.len && std::memcmp(&a.storage, &b.storage, a.len) == 0;
}

struct Title {
    uint32_t id = 0;
    double popularity = 0;
    double duration_s = 0;
    std::vector<uint32_t> ladder;   // kbit/s, ascending
    std::vector<std::string> paths; // by rung
    std::vector<uint64_t> sizes;    // by rung
};

// The catalog grouped by title, from the control plane.
Result<std::vector<Title>> load_titles(const PlayConfig& cfg) {
    const std::string& from = cfg.api.empty() ? cfg.control : cfg.api;
    auto base = http::parse_base_url(from);
    if (!base) return Error{fmt::format("control: {}", base.error().message)};
    io::HttpClient http(io::HttpClientOptions{10000, 2000, 256u << 20, cfg.api_ca, "", ""});
    std::vector<std::string> headers;
    if (!cfg.read_token.empty()) headers.push_back("Authorization: Bearer " + cfg.read_token);
    auto r = http.get(base->base() + "/api/v1/catalog?list=1", headers);
    if (!r) return Error{fmt::format("catalog from {}: {}", cfg.control, r.error().message)};
    if (r->status != 200)
        return Error{fmt::format("catalog from {}: HTTP {}", cfg.control, r->status)};
    auto j = nlohmann::json::parse(r->body, nullptr, false);
    if (!j.is_object() || !j.contains("list") || !j["list"].is_array())
        return Error{"catalog: the control plane sent no file list"};
    std::map<uint32_t, Title> by_id;
    for (const auto& f : j["list"]) {
        const uint32_t id = f.value("title", 0u);
        if (!cfg.titles.empty() &&
            std::find(cfg.titles.begin(), cfg.titles.end(), id) == cfg.titles.end())
            continue;
        const uint32_t kbps = f.value("bitrate_kbps", 0u);
        const uint64_t size = f.value("size", uint64_t{0});
        const std::string path = f.value("path", std::string());
        // A packaged title's playlists carry their variant's bitrate too: the ladder is media.
        if (kbps == 0 || size == 0 || path.ends_with(".m3u8") || path.ends_with(".mpd")) continue;
        Title& t = by_id[id];
        t.id = id;
        t.popularity = std::max(t.popularity, f.value("popularity", 0.0));
        t.ladder.push_back(kbps);
        t.paths.push_back(f.value("path", std::string()));
        t.sizes.push_back(size);
    }
    std::vector<Title> out;
    for (auto& [id, t] : by_id) {
        // Sort the rungs by bitrate.
        std::vector<size_t> order(t.ladder.size());
        for (size_t i = 0; i < order.size(); ++i)
            order[i] = i;
        std::sort(order.begin(), order.end(),
                  [&](size_t a, size_t b) { return t.ladder[a] < t.ladder[b]; });
        Title s;
        s.id = t.id;
        s.popularity = t.popularity;
        for (size_t i : order) {
            s.ladder.push_back(t.ladder[i]);
            s.paths.push_back(t.paths[i]);
            s.sizes.push_back(t.sizes[i]);
        }
        s.duration_s = static_cast<double>(s.sizes[0]) * 8 / (s.ladder[0] * 1000.0);
        out.push_back(std::move(s));
    }
    if (out.empty()) return Error{"catalog: no titles to play (import a catalog first)"};
    return out;
}

// One non-blocking HTTP/1.1 connection.
struct Conn {
    int fd = -1;
    io::SocketAddress addr;
    bool connecting = false;
    std::string out;
    size_t out_off = 0;
    std::string in;
    bool head_done = false;
    http::ResponseHead head;
    uint64_t body_left = 0;
    uint64_t body_got = 0;
    bool keep_body = false; // steering answers are kept; file bytes are counted and dropped
    std::string body;
    bool close_after = false;
    bool busy = false;
    int64_t sent_us = 0;
    int64_t last_progress_us = 0;

    void reset_response() {
        head_done = false;
        head = {};
        body_left = body_got = 0;
        body.clear();
    }
};

enum class ConnKind : uint8_t { kEdge = 0, kControl = 1 };

struct Session {
    uint32_t title = 0;
    int64_t start_us = 0;
    int64_t startup_us = -1;
    uint32_t stalls = 0;
    int64_t stall_us = 0;
    double played_s = 0;
    double bitrate_seconds = 0; // Σ kbps × seconds played at it
    uint32_t switches = 0;
    uint32_t failovers = 0; // failed requests the player moved on from to the next URL
    uint32_t recovered = 0; // ... of them followed by a good chunk: the viewer rode through
    uint32_t pending = 0;   // ... not (yet) followed by one
    uint64_t bytes = 0;
    std::map<std::string, uint32_t> errors;        // every failed request, by kind
    std::map<std::string, uint32_t> viewer_errors; // what the viewer saw: no source left, no steer
    std::string last_edge;
};

struct Player {
    uint32_t id = 0;
    io::SocketAddress bind_addr;
    bool has_bind = false;
    Conn edge, ctl;
    // Session state.
    bool in_session = false;
    Session s;
    const Title* title = nullptr;
    size_t rung = 0;
    double pos_s = 0; // media time of the next chunk
    double buffer_s = 0;
    int64_t clock_us = 0; // when buffer_s was last brought up to date
    bool started = false, stalled = false;
    int64_t stall_start_us = 0;
    // The ranked URLs of each rung's file (filled by steering on first use).
    std::vector<std::vector<std::string>> urls;
    std::vector<std::vector<std::string>> url_edges;
    size_t url_idx = 0;
    bool want_steer = false;
    size_t steer_rung = 0;
    double chunk_media_s = 0; // media seconds of the request in flight
    uint32_t chunk_rung = 0;
    int64_t next_wake_us = 0;
    int64_t retry_at_us = 0;
    Rng rng{1};
};

struct Shared {
    std::atomic<uint64_t> bytes{0}, requests{0}, errors{0};
    std::atomic<int64_t> stall_us{0}, play_us{0};
    std::atomic<uint32_t> active{0};
    std::mutex mu;
    std::vector<nlohmann::json> sessions;
    std::vector<wire::QoeSample> qoe_pending;
    LatencyHistogram latency;
};

class Loop {
public:
    Loop(const PlayConfig& cfg, const std::vector<Title>* titles, std::vector<double> cdf,
         const io::SocketAddress& control, Shared* shared)
        : cfg_(cfg), titles_(titles), cdf_(std::move(cdf)), control_(control), sh_(shared) {}

    void add_player(uint32_t id, const io::SocketAddress* bind) {
        auto p = std::make_unique<Player>();
        p->id = id;
        p->rng = Rng(cfg_.seed * 1000003 + id);
        if (bind) {
            p->bind_addr = *bind;
            p->has_bind = true;
        }
        players_.push_back(std::move(p));
    }

    void run(int64_t end_us, const std::atomic<bool>& stop);

private:
    void start_session(Player& p, int64_t now);
    void end_session(Player& p, int64_t now, const char* why);
    // Counts a failure the viewer sees (no source left, no steering answer): in both maps.
    static void viewer_error(Player& p, const std::string& kind) {
        ++p.s.errors[kind];
        ++p.s.viewer_errors[kind];
    }
    void advance_clock(Player& p, int64_t now);
    void step(Player& p, int64_t now);
    void request_chunk(Player& p, int64_t now);
    void steer(Player& p, size_t rung, int64_t now);
    bool send(Player& p, Conn& c, ConnKind kind, const io::SocketAddress& addr,
              const std::string& req, int64_t now);
    void on_event(Player& p, ConnKind kind, uint32_t events, int64_t now);
    void on_response(Player& p, ConnKind kind, int64_t now);
    void fail(Player& p, const std::string& kind, int64_t now);
    void close_conn(Conn& c);
    void schedule(Player& p, int64_t at);

    const PlayConfig& cfg_;
    const std::vector<Title>* titles_;
    std::vector<double> cdf_;
    io::SocketAddress control_;
    Shared* sh_;
    int ep_ = -1;
    std::vector<std::unique_ptr<Player>> players_;
    using Wake = std::pair<int64_t, uint32_t>;
    std::priority_queue<Wake, std::vector<Wake>, std::greater<>> timers_;
    LatencyHistogram latency_;
    static constexpr size_t kHeadRead = 4096;
    char scratch_[65536];
};

void Loop::schedule(Player& p, int64_t at) {
    p.next_wake_us = at;
    timers_.emplace(at, p.id);
}

void Loop::close_conn(Conn& c) {
    if (c.fd >= 0) {
        epoll_ctl(ep_, EPOLL_CTL_DEL, c.fd, nullptr);
        ::close(c.fd);
    }
    c.fd = -1;
    c.connecting = false;
    c.busy = false;
    c.out.clear();
    c.out_off = 0;
    c.in.clear();
    c.reset_response();
}

void Loop::start_session(Player& p, int64_t now) {
    // A title by popularity (the inverse of the cumulative distribution).
    const double u = p.rng.uniform();
    size_t t = static_cast<size_t>(std::lower_bound(cdf_.begin(), cdf_.end(), u) - cdf_.begin());
    t = std::min(t, titles_->size() - 1);
    p.title = &(*titles_)[t];
    p.s = Session{};
    p.s.title = p.title->id;
    p.s.start_us = now;
    p.in_session = true;
    p.rung = 0; // start low, climb with the buffer
    p.pos_s = 0;
    p.buffer_s = 0;
    p.clock_us = now;
    p.started = p.stalled = false;
    p.urls.assign(p.title->ladder.size(), {});
    p.url_edges.assign(p.title->ladder.size(), {});
    p.url_idx = 0;
    sh_->active.fetch_add(1, std::memory_order_relaxed);
}

void Loop::end_session(Player& p, int64_t now, const char* why) {
    if (!p.in_session) return;
    advance_clock(p, now);
    if (p.stalled) p.s.stall_us += now - p.stall_start_us;
    p.in_session = false;
    sh_->active.fetch_sub(1, std::memory_order_relaxed);
    const double watch_s = p.s.played_s + p.s.stall_us / 1e6;
    nlohmann::json j = {
        {"player", p.id},
        {"title", p.s.title},
        {"end", why},
        {"startup_ms", p.s.startup_us >= 0 ? nlohmann::json(p.s.startup_us / 1000.0) : nullptr},
        {"stalls", p.s.stalls},
        {"stall_ms", p.s.stall_us / 1000.0},
        {"rebuffer_ratio", watch_s > 0 ? p.s.stall_us / 1e6 / watch_s : 0.0},
        {"played_s", p.s.played_s},
        {"avg_bitrate_kbps", p.s.played_s > 0 ? p.s.bitrate_seconds / p.s.played_s : 0.0},
        {"switches", p.s.switches},
        {"failovers", p.s.failovers},
        {"failovers_recovered", p.s.recovered},
        {"failovers_pending", p.s.pending},
        {"bytes", p.s.bytes},
        {"errors", p.s.errors},
        {"viewer_errors", p.s.viewer_errors},
        {"edge", p.s.last_edge}};
    std::lock_guard lk(sh_->mu);
    if (!p.s.last_edge.empty() && p.s.startup_us >= 0)
        sh_->qoe_pending.push_back(wire::QoeSample{
            p.s.last_edge, p.title->paths[p.rung], static_cast<uint64_t>(p.s.startup_us / 1000),
            p.s.stalls, static_cast<uint64_t>(j["avg_bitrate_kbps"].get<double>())});
    sh_->sessions.push_back(std::move(j));
}

// Plays the buffer forward to `now`: real time drains it; running dry starts a stall.
void Loop::advance_clock(Player& p, int64_t now) {
    const double dt = static_cast<double>(now - p.clock_us) / 1e6;
    p.clock_us = now;
    if (!p.started || p.stalled || dt <= 0) return;
    const double played = std::min(dt, p.buffer_s);
    p.buffer_s -= played;
    p.s.played_s += played;
    p.s.bitrate_seconds += played * p.title->ladder[p.chunk_rung];
    sh_->play_us.fetch_add(static_cast<int64_t>(played * 1e6), std::memory_order_relaxed);
    const bool at_end = p.pos_s >= p.title->duration_s - 1e-6;
    if (p.buffer_s <= 1e-9 && !at_end) {
        p.stalled = true;
        ++p.s.stalls;
        p.stall_start_us = now - static_cast<int64_t>((dt - played) * 1e6);
    }
}

bool Loop::send(Player& p, Conn& c, ConnKind kind, const io::SocketAddress& addr,
                const std::string& req, int64_t now) {
    if (c.fd >= 0 && (!same_address(c.addr, addr) || c.close_after)) close_conn(c);
    if (c.fd < 0) {
        c.fd = socket(addr.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (c.fd < 0) return false;
        int one = 1;
        setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (p.has_bind && p.bind_addr.family() == addr.family()) {
            setsockopt(c.fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
            if (bind(c.fd, p.bind_addr.sa(), p.bind_addr.len) != 0) {
                ::close(c.fd);
                c.fd = -1;
                return false;
            }
        }
        c.addr = addr;
        c.close_after = false;
        const int rc = connect(c.fd, addr.sa(), addr.len);
        if (rc != 0 && errno != EINPROGRESS) {
            ::close(c.fd);
            c.fd = -1;
            return false;
        }
        c.connecting = rc != 0;
        epoll_event ev{};
        // Edge-triggered: a level-triggered EPOLLOUT fires on every idle connection on every
        // wait (a busy loop). Reads and writes run until EAGAIN, so no edge is lost.
        ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
        ev.data.u64 = uint64_t{p.id} << 1 | static_cast<uint64_t>(kind);
        epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &ev);
    }
    c.out = req;
    c.out_off = 0;
    c.in.clear();
    c.reset_response();
    c.busy = true;
    c.sent_us = c.last_progress_us = now;
    if (!c.connecting) on_event(p, kind, EPOLLOUT, now);
    return true;
}

void Loop::steer(Player& p, size_t rung, int64_t now) {
    p.want_steer = true;
    p.steer_rung = rung;
    const std::string req = fmt::format(
        "GET /api/v1/steer?file={} HTTP/1.1\r\nHost: control\r\n\r\n", p.title->paths[rung]);
    if (!send(p, p.ctl, ConnKind::kControl, control_, req, now))
        fail(p, errno == EMFILE || errno == ENFILE ? "open-file-limit" : "steer-connect", now);
}

void Loop::request_chunk(Player& p, int64_t now) {
    const size_t rung = p.rung;
    if (p.urls[rung].empty()) {
        steer(p, rung, now);
        return;
    }
    if (p.url_idx >= p.urls[rung].size()) {
        // Every URL failed: ask steering again (the ranking may have changed) after a pause.
        p.urls[rung].clear();
        p.url_idx = 0;
        p.retry_at_us = now + 1000000;
        viewer_error(p, "no-url-left");
        return;
    }
    const uint32_t kbps = p.title->ladder[rung];
    const double bytes_per_s = kbps * 1000.0 / 8;
    double media = cfg_.chunk_s;
    media =
        std::clamp(media, cfg_.min_chunk_bytes / bytes_per_s, cfg_.max_chunk_bytes / bytes_per_s);
    media = std::min(media, p.title->duration_s - p.pos_s);
    const uint64_t size = p.title->sizes[rung];
    const uint64_t first =
        std::min<uint64_t>(size - 1, static_cast<uint64_t>(p.pos_s * bytes_per_s));
    const uint64_t last =
        std::min<uint64_t>(size - 1, static_cast<uint64_t>((p.pos_s + media) * bytes_per_s) - 1);
    io::SocketAddress addr;
    std::string target;
    if (!split_url(p.urls[rung][p.url_idx], &addr, &target)) {
        ++p.url_idx;
        viewer_error(p, "bad-url");
        return;
    }
    p.chunk_media_s = media;
    p.chunk_rung = static_cast<uint32_t>(rung);
    const std::string req = fmt::format(
        "GET {} HTTP/1.1\r\nHost: edge\r\nRange: bytes={}-{}\r\nUser-Agent: vcdn-play\r\n\r\n",
        target, first, std::max(first, last));
    p.s.last_edge = p.url_edges[rung][p.url_idx];
    if (!send(p, p.edge, ConnKind::kEdge, addr, req, now))
        fail(p, errno == EMFILE || errno == ENFILE ? "open-file-limit" : "connect", now);
}

void Loop::fail(Player& p, const std::string& kind, int64_t now) {
    sh_->errors.fetch_add(1, std::memory_order_relaxed);
    if (!p.in_session) return;
    if (p.want_steer) {
        viewer_error(p, kind);
        close_conn(p.ctl);
        p.want_steer = false;
        p.retry_at_us = now + 1000000;
        return;
    }
    ++p.s.errors[kind];
    close_conn(p.edge);
    // Next URL of the ranked list, same byte.
    ++p.url_idx;
    ++p.s.failovers;
    ++p.s.pending;
    p.retry_at_us = now;
}

void Loop::on_response(Player& p, ConnKind kind, int64_t now) {
    Conn& c = kind == ConnKind::kEdge ? p.edge : p.ctl;
    c.busy = false;
    if (c.head.connection_close) c.close_after = true;
    if (kind == ConnKind::kControl) {
        p.want_steer = false;
        if (c.head.status != 200) {
            viewer_error(p, fmt::format("steer-{}", c.head.status));
            p.retry_at_us = now + 1000000;
            return;
        }
        auto j = nlohmann::json::parse(c.body, nullptr, false);
        if (!j.is_object() || !j.contains("urls") || !j["urls"].is_array() || j["urls"].empty()) {
            viewer_error(p, "steer-empty");
            p.retry_at_us = now + 1000000;
            return;
        }
        auto& list = p.urls[p.steer_rung];
        auto& edges = p.url_edges[p.steer_rung];
        list.clear();
        edges.clear();
        for (const auto& u : j["urls"]) {
            list.push_back(u.value("url", std::string()));
            edges.push_back(u.value("edge", std::string()));
        }
        // Stay on the edge already in use when it is in the new list.
        p.url_idx = 0;
        for (size_t i = 0; i < edges.size(); ++i)
            if (edges[i] == p.s.last_edge) p.url_idx = i;
        p.retry_at_us = now;
        // Players steer rarely: no idle connection (and descriptor) per player on the control
        // plane.
        close_conn(c);
        return;
    }
    sh_->requests.fetch_add(1, std::memory_order_relaxed);
    if (c.head.status != 206 && c.head.status != 200) {
        fail(p, fmt::format("http-{}", c.head.status), now);
        return;
    }
    latency_.record(static_cast<uint64_t>((now - c.sent_us)));
    p.s.recovered += p.s.pending;
    p.s.pending = 0;
    advance_clock(p, now);
    p.pos_s += p.chunk_media_s;
    p.buffer_s += p.chunk_media_s;
    if (!p.started && (p.buffer_s >= cfg_.startup_s || p.pos_s >= p.title->duration_s - 1e-6)) {
        p.started = true;
        p.s.startup_us = now - p.s.start_us;
    }
    if (p.stalled && (p.buffer_s >= cfg_.startup_s || p.pos_s >= p.title->duration_s - 1e-6)) {
        p.stalled = false;
        const int64_t d = now - p.stall_start_us;
        p.s.stall_us += d;
        sh_->stall_us.fetch_add(d, std::memory_order_relaxed);
    }
    // Next rung by the buffer (BBA-0).
    const size_t next = bba_choose(p.title->ladder, p.rung, p.buffer_s, cfg_.abr);
    if (next != p.rung) {
        ++p.s.switches;
        p.rung = next;
        // The new file's URLs: the same edge when steering lists it.
        p.url_idx = 0;
        for (size_t i = 0; i < p.url_edges[next].size(); ++i)
            if (p.url_edges[next][i] == p.s.last_edge) p.url_idx = i;
    }
    p.retry_at_us = now;
}

void Loop::on_event(Player& p, ConnKind kind, uint32_t events, int64_t now) {
    Conn& c = kind == ConnKind::kEdge ? p.edge : p.ctl;
    if (c.fd < 0) return;
    if (c.connecting && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
            close_conn(c);
            fail(p, kind == ConnKind::kEdge ? "connect" : "steer-connect", now);
            step(p, now);
            return;
        }
        c.connecting = false;
    }
    if (c.connecting) return;
    while (c.out_off < c.out.size()) {
        ssize_t n = ::send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
        if (n > 0) {
            c.out_off += static_cast<size_t>(n);
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        close_conn(c);
        fail(p, kind == ConnKind::kEdge ? "send" : "steer-send", now);
        step(p, now);
        return;
    }
    if (!(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) return;
    for (;;) {
        ssize_t n;
        if (!c.head_done) {
            // A small read for the head (and the start of the body): the rest of a media
            // body is discarded below without being copied.
            n = ::recv(c.fd, scratch_, kHeadRead, 0);
            if (n > 0) c.in.append(scratch_, static_cast<size_t>(n));
        } else {
            if (c.keep_body) {
                n = ::recv(c.fd, scratch_, std::min<uint64_t>(sizeof scratch_, c.body_left), 0);
            } else {
                // Media bytes are only counted: TCP's MSG_TRUNC discards them in the kernel
                // without the copy to user space, which was most of the player's CPU.
                n = ::recv(c.fd, nullptr, std::min<uint64_t>(uint64_t{1} << 20, c.body_left),
                           MSG_TRUNC);
            }
            if (n > 0) {
                if (c.keep_body) c.body.append(scratch_, static_cast<size_t>(n));
                c.body_left -= static_cast<uint64_t>(n);
                c.body_got += static_cast<uint64_t>(n);
            }
        }
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
            const bool was_busy = c.busy;
            close_conn(c);
            if (was_busy) {
                fail(p, kind == ConnKind::kEdge ? "reset" : "steer-reset", now);
                step(p, now);
            }
            return;
        }
        if (n < 0) return; // EAGAIN
        c.last_progress_us = now;
        if (kind == ConnKind::kEdge) {
            sh_->bytes.fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
            p.s.bytes += static_cast<uint64_t>(n);
        }
        if (!c.head_done) {
            std::string err;
            auto r = http::parse_response_head(c.in, &c.head, &err);
            if (r == http::ResponseParse::kIncomplete) continue;
            if (r == http::ResponseParse::kError || !c.head.has_content_length) {
                close_conn(c);
                fail(p, kind == ConnKind::kEdge ? "bad-response" : "steer-bad-response", now);
                step(p, now);
                return;
            }
            c.head_done = true;
            c.keep_body = kind == ConnKind::kControl;
            const uint64_t have = c.in.size() - c.head.head_bytes;
            c.body_left = c.head.content_length;
            const uint64_t take = std::min(have, c.body_left);
            if (c.keep_body) c.body.assign(c.in, c.head.head_bytes, take);
            c.body_left -= take;
            c.body_got = take;
            c.in.clear();
        }
        if (c.head_done && c.body_left == 0) {
            on_response(p, kind, now);
            step(p, now);
            return;
        }
    }
}

// Decides what a player does next and when it wakes up again.
void Loop::step(Player& p, int64_t now) {
    if (!p.in_session) start_session(p, now);
    advance_clock(p, now);
    // A stall while a request has been slow: give up on that source.
    if (p.edge.busy && p.stalled && now - p.edge.sent_us > int64_t{cfg_.stall_failover_ms} * 1000)
        fail(p, "stall", now);
    else if (p.edge.busy && now - p.edge.sent_us > int64_t{cfg_.request_timeout_ms} * 1000)
        fail(p, "timeout", now);
    if (p.ctl.busy && now - p.ctl.sent_us > int64_t{cfg_.request_timeout_ms} * 1000)
        fail(p, "steer-timeout", now);
    const bool at_end = p.pos_s >= p.title->duration_s - 1e-6;
    if (at_end && p.buffer_s <= 1e-9 && p.started && !p.stalled) {
        end_session(p, now, "finished");
        start_session(p, now);
    }
    int64_t wake = now + 1000000;
    if (!p.edge.busy && !p.ctl.busy && !at_end) {
        if (now >= p.retry_at_us && p.buffer_s <= cfg_.max_buffer_s - cfg_.chunk_s) {
            request_chunk(p, now);
        } else if (now < p.retry_at_us) {
            wake = std::min(wake, p.retry_at_us);
        } else {
            // Buffer full: wake when one chunk has played out.
            wake = std::min(wake, now +
                                      static_cast<int64_t>(
                                          (p.buffer_s - (cfg_.max_buffer_s - cfg_.chunk_s)) * 1e6) +
                                      1000);
        }
    }
    if (p.edge.busy || p.ctl.busy)
        wake =
            std::min(wake, now + std::min<int64_t>(int64_t{cfg_.stall_failover_ms} * 1000, 250000));
    if (p.started && !p.stalled && p.buffer_s > 0)
        wake = std::min(wake, now + static_cast<int64_t>(p.buffer_s * 1e6) + 1000);
    if (at_end && p.started && !p.stalled)
        wake = std::min(wake, now + static_cast<int64_t>(p.buffer_s * 1e6) + 1000);
    schedule(p, std::max(wake, now + 1000));
}

void Loop::run(int64_t end_us, const std::atomic<bool>& stop) {
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    const int64_t t0 = monotonic_us();
    // Spread the starts over the first second (a real audience does not arrive at once).
    for (auto& p : players_)
        schedule(*p, t0 + static_cast<int64_t>(p->rng.below(1000000)));
    std::vector<epoll_event> evs(512);
    // Players are found by id: ids are dense per loop, mapped through this table.
    std::unordered_map<uint32_t, Player*> by_id;
    for (auto& p : players_)
        by_id[p->id] = p.get();
    while (!stop.load(std::memory_order_relaxed)) {
        int64_t now = monotonic_us();
        if (now >= end_us) break;
        int timeout = 100;
        // Rounded up: a timer less than 1 ms away must not turn into a zero-timeout spin.
        if (!timers_.empty())
            timeout = static_cast<int>(
                std::clamp<int64_t>((timers_.top().first - now + 999) / 1000, 0, 100));
        const int n = epoll_wait(ep_, evs.data(), static_cast<int>(evs.size()), timeout);
        now = monotonic_us();
        for (int i = 0; i < n; ++i) {
            const uint32_t id = static_cast<uint32_t>(evs[i].data.u64 >> 1);
            const ConnKind kind = static_cast<ConnKind>(evs[i].data.u64 & 1);
            if (auto it = by_id.find(id); it != by_id.end())
                on_event(*it->second, kind, evs[i].events, now);
        }
        while (!timers_.empty() && timers_.top().first <= now) {
            auto [at, id] = timers_.top();
            timers_.pop();
            Player* p = by_id[id];
            if (p->next_wake_us != at) continue; // superseded
            step(*p, now);
        }
    }
    const int64_t now = monotonic_us();
    for (auto& p : players_) {
        end_session(*p, now, "run-ended");
        close_conn(p->edge);
        close_conn(p->ctl);
    }
    ::close(ep_);
    std::lock_guard lk(sh_->mu);
    sh_->latency.merge(latency_);
}

double pct(std::vector<double> v, double q) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
}

// In reports of at most wire::kMaxQoeSamples (what the control plane takes per call).
void post_qoe(const std::string& control, std::vector<wire::QoeSample> samples) {
    io::HttpClient http(io::HttpClientOptions{3000, 2000, 1u << 20});
    for (size_t i = 0; i < samples.size(); i += wire::kMaxQoeSamples) {
        wire::QoeReport rep;
        const size_t end = std::min(samples.size(), i + wire::kMaxQoeSamples);
        rep.samples.assign(std::make_move_iterator(samples.begin() + static_cast<long>(i)),
                           std::make_move_iterator(samples.begin() + static_cast<long>(end)));
        (void)http.request("POST", control + "/api/v1/qoe", {"Content-Type: application/json"},
                           wire::encode(rep));
    }
}

} // namespace

Result<PlayReport> run(const PlayConfig& cfg, const std::atomic<bool>& stop,
                       const std::function<void(const Progress&)>& on_progress) {
    if (Status s = validate(cfg); !s) return s.error();
    // One descriptor per player (its edge connection; steering connections are short-lived).
    const uint64_t nofile = io::raise_nofile_limit();
    if (cfg.players + 64 > nofile)
        log::warn("play: {} players but the open-file limit is {}: players beyond it fail with "
                  "'open-file-limit' (spread them over several processes and --client-net "
                  "ranges)",
                  cfg.players, nofile);
    io::SocketAddress control;
    std::string ignored;
    if (!split_url(cfg.control + "/", &control, &ignored))
        return Error{fmt::format("control '{}': use http://IP:PORT", cfg.control)};
    const std::string control_base = http::parse_base_url(cfg.control)->base();
    auto titles = load_titles(cfg);
    if (!titles) return titles.error();
    // Popularity CDF (uniform when no title has any).
    std::vector<double> cdf;
    double total = 0;
    for (const Title& t : *titles)
        total += t.popularity > 0 ? t.popularity : 0;
    double acc = 0;
    for (const Title& t : *titles) {
        acc += total > 0 ? std::max(0.0, t.popularity) / total : 1.0 / titles->size();
        cdf.push_back(acc);
    }
    std::vector<io::SocketAddress> binds;
    if (!cfg.client_net.empty()) {
        auto net = io::IpPrefix::parse(cfg.client_net);
        for (uint32_t i = 0; i < cfg.players; ++i) {
            io::IpAddress a = net->addr;
            // Host number i + 1 inside the prefix (IPv4: the last 32 - bits bits).
            uint64_t host = i + 1;
            for (size_t b = a.length(); b-- > 0 && host;) {
                const unsigned sum = a.bytes[b] + static_cast<unsigned>(host & 0xff);
                a.bytes[b] = static_cast<uint8_t>(sum);
                host = (host >> 8) + (sum >> 8);
            }
            io::SocketAddress sa;
            if (a.family == AF_INET) {
                auto* s4 = reinterpret_cast<sockaddr_in*>(&sa.storage);
                s4->sin_family = AF_INET;
                std::memcpy(&s4->sin_addr, a.bytes, 4);
                sa.len = sizeof(sockaddr_in);
            } else {
                auto* s6 = reinterpret_cast<sockaddr_in6*>(&sa.storage);
                s6->sin6_family = AF_INET6;
                std::memcpy(&s6->sin6_addr, a.bytes, 16);
                sa.len = sizeof(sockaddr_in6);
            }
            binds.push_back(sa);
        }
    }
    Shared sh;
    std::vector<std::unique_ptr<Loop>> loops;
    for (uint32_t t = 0; t < cfg.threads; ++t)
        loops.push_back(std::make_unique<Loop>(cfg, &*titles, cdf, control, &sh));
    for (uint32_t i = 0; i < cfg.players; ++i)
        loops[i % cfg.threads]->add_player(i, binds.empty() ? nullptr : &binds[i]);
    const int64_t start = monotonic_us();
    const int64_t end = start + int64_t{cfg.duration_s} * 1000000;
    std::vector<std::thread> threads;
    for (auto& l : loops)
        threads.emplace_back([&, lp = l.get()] { lp->run(end, stop); });
    uint64_t last_bytes = 0;
    int64_t last_t = start;
    while (monotonic_us() < end && !stop.load()) {
        std::this_thread::sleep_for(
            std::chrono::milliseconds(std::clamp<int64_t>((end - monotonic_us()) / 1000, 1, 1000)));
        const int64_t now = monotonic_us();
        std::vector<wire::QoeSample> qoe;
        {
            std::lock_guard lk(sh.mu);
            qoe.swap(sh.qoe_pending);
        }
        if (cfg.send_qoe) post_qoe(control_base, std::move(qoe));
        const uint64_t bytes = sh.bytes.load();
        Progress pr;
        pr.active = sh.active.load();
        pr.gbps = now > last_t ? (bytes - last_bytes) * 8.0 / ((now - last_t) / 1e6) / 1e9 : 0;
        const double stall = sh.stall_us.load() / 1e6, play = sh.play_us.load() / 1e6;
        pr.rebuffer_ratio = stall + play > 0 ? stall / (stall + play) : 0;
        pr.requests = sh.requests.load();
        pr.errors = sh.errors.load();
        last_bytes = bytes;
        last_t = now;
        if (on_progress) on_progress(pr);
    }
    for (auto& t : threads)
        t.join();
    const double secs = (monotonic_us() - start) / 1e6;
    std::vector<wire::QoeSample> qoe;
    qoe.swap(sh.qoe_pending);
    if (cfg.send_qoe) post_qoe(control_base, std::move(qoe));

    // The summary.
    PlayReport rep;
    std::vector<double> startup, rebuffer, bitrate;
    uint64_t stalls = 0, switches = 0, failovers = 0, recovered = 0, pending = 0, bytes = 0,
             finished = 0;
    double stall_s = 0, played_s = 0;
    std::map<std::string, uint64_t> errors, viewer_errors;
    for (const auto& s : sh.sessions) {
        if (s["startup_ms"].is_number()) startup.push_back(s["startup_ms"].get<double>());
        rebuffer.push_back(s["rebuffer_ratio"].get<double>());
        if (s["played_s"].get<double>() > 0) bitrate.push_back(s["avg_bitrate_kbps"].get<double>());
        stalls += s["stalls"].get<uint64_t>();
        switches += s["switches"].get<uint64_t>();
        failovers += s["failovers"].get<uint64_t>();
        recovered += s["failovers_recovered"].get<uint64_t>();
        pending += s["failovers_pending"].get<uint64_t>();
        bytes += s["bytes"].get<uint64_t>();
        stall_s += s["stall_ms"].get<double>() / 1000;
        played_s += s["played_s"].get<double>();
        finished += s["end"] == "finished";
        for (const auto& [k, n] : s["errors"].items())
            errors[k] += n.get<uint64_t>();
        for (const auto& [k, n] : s["viewer_errors"].items())
            viewer_errors[k] += n.get<uint64_t>();
    }
    rep.summary = {
        {"players", cfg.players},
        {"duration_s", secs},
        {"sessions", sh.sessions.size()},
        {"sessions_finished", finished},
        {"startup_ms", {{"p50", pct(startup, 0.5)}, {"p95", pct(startup, 0.95)}, {"max", pct(startup, 1)}}},
        {"rebuffer_ratio", stall_s + played_s > 0 ? stall_s / (stall_s + played_s) : 0.0},
        {"rebuffer_ratio_p95", pct(rebuffer, 0.95)},
        {"stalls", stalls},
        {"avg_bitrate_kbps", played_s > 0 ? [&] {
             double w = 0;
             for (const auto& s : sh.sessions)
                 w += s["avg_bitrate_kbps"].get<double>() * s["played_s"].get<double>();
             return w / played_s;
         }() : 0.0},
        {"bitrate_kbps_p50", pct(bitrate, 0.5)},
        {"switches", switches},
        {"failovers", failovers},
        {"failovers_recovered", recovered},
        {"failovers_pending", pending},
        {"bytes", bytes},
        {"gbps", secs > 0 ? bytes * 8 / secs / 1e9 : 0},
        {"requests", sh.requests.load()},
        {"request_ms", {{"p50", sh.latency.percentile(0.5) / 1000.0},
                        {"p99", sh.latency.percentile(0.99) / 1000.0}}},
        {"errors", errors},
        {"viewer_errors", viewer_errors}};
    rep.sessions = std::move(sh.sessions);
    return rep;
}

} // namespace vcdn::player
