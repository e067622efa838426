#include <vcdn/io/http_service.h>

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <optional>
#include <stdexcept>
#include <unordered_map>

#include <vcdn/base/log.h>
#include <vcdn/base/time.h>
#include <vcdn/http/date.h>
#include <vcdn/http/request_parser.h>
#include <vcdn/http/response_writer.h>
#include <vcdn/http/target.h>
#include <vcdn/io/proxy_protocol.h>
#include <vcdn/io/tcp.h>

namespace vcdn::io {

namespace {

struct SslFree {
    void operator()(SSL* s) const { SSL_free(s); }
};

struct Conn {
    UniqueFd fd;
    // TLS connections only; declared after fd so that it is freed first.
    std::unique_ptr<SSL, SslFree> ssl;
    bool handshaking = false;
    IpAddress client;
    std::string in;
    std::string out;
    size_t sent = 0;
    int64_t deadline = 0; // idle or request deadline (monotonic ms)
    bool request_started = false;
    bool close_after = false;
    bool want_out = false;  // EPOLLOUT registered: a send would have blocked
    bool lingering = false; // answered and shut down for writing; draining what still comes
    bool pending = false;   // a blocking handler is working on its request
    std::string client_key; // per-client limits: counted under this key; empty = exempt
    bool peer_closed = false;
    bool proxied = false;        // the peer is a trusted proxy: X-Forwarded-For names the client
    bool awaiting_proxy = false; // its PROXY protocol header has not been read yet
    uint64_t gen = 0; // tells a reused fd's new connection from the one a late answer is for
    http::ScanState scan;
};

// Per-client limits count an IPv4 address, or an IPv6 /64 (one subscriber's usual share).
std::string client_key_of(const IpAddress& a) {
    const size_t n = a.family == AF_INET6 ? 8 : 16;
    return std::string(reinterpret_cast<const char*>(a.bytes), n) + static_cast<char>(a.family);
}

struct RateBucket {
    double tokens = 0;
    int64_t at_ms = 0;
};

void append_response(std::string* out, const ApiResponse& r, bool head, bool close) {
    // One Date string per second is plenty; formatted per call here (API rates are modest
    // next to content, and this keeps the service free of shared state).
    if (r.status == 204) { // no content, so no Content-Type or Content-Length (RFC 9110 8.6)
        fmt::format_to(std::back_inserter(*out),
                       "HTTP/1.1 204 No Content\r\nServer: vcdn\r\nDate: {}\r\n"
                       "Cache-Control: no-store\r\n{}{}\r\n",
                       http::http_date(time(nullptr)), r.extra_headers,
                       close ? "Connection: close\r\n" : "");
        return;
    }
    fmt::format_to(std::back_inserter(*out),
                   "HTTP/1.1 {} {}\r\nServer: vcdn\r\nDate: {}\r\nContent-Type: {}\r\n"
                   "Content-Length: {}\r\nCache-Control: no-store\r\n{}{}\r\n",
                   r.status, http::status_reason(r.status), http::http_date(time(nullptr)),
                   r.content_type, r.body.size(), r.extra_headers,
                   close ? "Connection: close\r\n" : "");
    if (!head) out->append(r.body);
}

} // namespace

ApiResponse json_error_answer(uint16_t status, std::string_view code, std::string_view message) {
    std::string m;
    for (char c : message.substr(0, 1000)) {
        if (c == '"' || c == '\\') m += '\\';
        if (static_cast<unsigned char>(c) >= 0x20) m += c;
    }
    ApiResponse r;
    r.status = status;
    r.body = fmt::format("{{\"error\":{{\"status\":{},\"code\":\"{}\",\"message\":\"{}\"}}}}\n",
                         status, code, m);
    return r;
}

namespace {

// One X-Forwarded-For entry as an address: "a.b.c.d", "a.b.c.d:port", "2001:db8::1",
// "[2001:db8::1]:port"; an IPv4-mapped IPv6 address is its IPv4 one, as peers are.
std::optional<IpAddress> forwarded_address(std::string_view e) {
    while (!e.empty() && (e.front() == ' ' || e.front() == '\t'))
        e.remove_prefix(1);
    while (!e.empty() && (e.back() == ' ' || e.back() == '\t'))
        e.remove_suffix(1);
    if (e.size() > 64) return std::nullopt;
    if (!e.empty() && e.front() == '[') {
        const size_t close = e.find(']');
        if (close == std::string_view::npos) return std::nullopt;
        e = e.substr(1, close - 1);
    } else if (const size_t colon = e.find(':'); colon != std::string_view::npos &&
                                                 e.find(':', colon + 1) == std::string_view::npos) {
        e = e.substr(0, colon); // one colon: IPv4 with a port
    }
    auto a = IpAddress::parse(e);
    if (!a) return std::nullopt;
    return a->unmapped();
}

bool in_any(const std::vector<IpPrefix>& prefixes, const IpAddress& a) {
    for (const IpPrefix& p : prefixes)
        if (p.contains(a)) return true;
    return false;
}

} // namespace

IpAddress real_client(const IpAddress& peer, std::string_view forwarded_for,
                      const std::vector<IpPrefix>& proxies) {
    if (!in_any(proxies, peer)) return peer;
    IpAddress client = peer;
    for (int i = 0; i < 32 && !forwarded_for.empty(); ++i) {
        const size_t comma = forwarded_for.rfind(',');
        const std::string_view entry =
            comma == std::string_view::npos ? forwarded_for : forwarded_for.substr(comma + 1);
        const std::optional<IpAddress> a = forwarded_address(entry);
        if (!a) break;
        client = *a;
        if (!in_any(proxies, client)) break;
        forwarded_for =
            comma == std::string_view::npos ? std::string_view() : forwarded_for.substr(0, comma);
    }
    return client;
}

ApiResponse text_error_answer(uint16_t status, std::string_view, std::string_view message) {
    ApiResponse r;
    r.status = status;
    r.content_type = "text/plain; charset=utf-8";
    std::string m;
    for (char c : message.substr(0, 1000))
        m += static_cast<unsigned char>(c) < 0x20 ? ' ' : c;
    r.body = fmt::format("{} {}: {}\n", status, http::status_reason(status), m);
    return r;
}

Router::Router(ErrorWriter errors) : errors_(std::move(errors)) {}

size_t Router::largest_body() const {
    size_t m = 0;
    for (const Route& r : routes_)
        m = std::max(m, r.max_body_bytes);
    return m;
}

Router& Router::add(http::Method m, std::string_view pattern, Handler h, size_t max_body_bytes,
                    Guard guard, bool blocking) {
    if (pattern.empty() || pattern.front() != '/')
        throw std::invalid_argument("route pattern must start with '/': " + std::string(pattern));
    Route r{m, std::string(pattern), {}, std::move(h), max_body_bytes, std::move(guard), blocking};
    size_t params = 0;
    std::string_view rest = pattern.substr(1);
    while (true) {
        const size_t slash = rest.find('/');
        std::string seg(rest.substr(0, slash));
        if (!seg.empty() && seg.front() == '{') {
            if (seg.back() != '}' || seg.size() < 3)
                throw std::invalid_argument("bad route parameter: " + std::string(pattern));
            if (seg.size() > 5 && seg.compare(seg.size() - 4, 4, "...}") == 0 &&
                slash != std::string_view::npos)
                throw std::invalid_argument("a {rest...} parameter must be last: " +
                                            std::string(pattern));
            if (++params > 4)
                throw std::invalid_argument("more than 4 parameters: " + std::string(pattern));
        }
        r.segments.push_back(std::move(seg));
        if (slash == std::string_view::npos) break;
        rest.remove_prefix(slash + 1);
    }
    routes_.push_back(std::move(r));
    return *this;
}

namespace {

// Matches `path` against a route's segments, filling the request's parameters.
bool match_segments(const Router::Route& r, std::string_view path, ApiRequest* req) {
    if (path.empty() || path.front() != '/') return false;
    std::string_view rest = path.substr(1);
    uint8_t n = 0;
    for (size_t i = 0; i < r.segments.size(); ++i) {
        const std::string& want = r.segments[i];
        const bool last = i + 1 == r.segments.size();
        if (last && want.size() > 5 && want.front() == '{' &&
            want.compare(want.size() - 4, 4, "...}") == 0) {
            if (rest.empty() || rest.back() == '/') return false; // names a file, not a folder
            req->params[n++] = rest;
            req->param_count = n;
            return true;
        }
        const size_t slash = rest.find('/');
        const std::string_view seg = rest.substr(0, slash);
        if (last != (slash == std::string_view::npos)) return false;
        if (!want.empty() && want.front() == '{') {
            if (seg.empty()) return false;
            req->params[n++] = seg;
        } else if (seg != want) {
            return false;
        }
        if (!last) rest.remove_prefix(slash + 1);
    }
    req->param_count = n;
    return true;
}

const char* route_method(http::Method m) {
    switch (m) {
    case http::Method::kGet:
        return "GET";
    case http::Method::kHead:
        return "HEAD";
    case http::Method::kPost:
        return "POST";
    case http::Method::kPut:
        return "PUT";
    case http::Method::kDelete:
        return "DELETE";
    case http::Method::kOptions:
        return "OPTIONS";
    case http::Method::kPatch:
        return "PATCH";
    default:
        return "?";
    }
}

} // namespace

const Router::Route* Router::match(ApiRequest* req, ApiResponse* refusal) const {
    const http::Method want = req->method == http::Method::kHead ? http::Method::kGet : req->method;
    std::string allow;
    for (const Route& r : routes_) {
        ApiRequest probe = *req;
        if (!match_segments(r, req->path, &probe)) continue;
        if (r.method == want) {
            *req = probe;
            return &r;
        }
        const std::string name = route_method(r.method);
        if (allow.find(name) == std::string::npos) allow += (allow.empty() ? "" : ", ") + name;
    }
    if (!allow.empty()) {
        if (allow.find("GET") != std::string::npos) allow += ", HEAD";
        *refusal = errors_(405, "method-not-allowed",
                           fmt::format("{} takes {}", req->path.substr(0, 200), allow));
        refusal->extra_headers += "Allow: " + allow + "\r\n";
    } else if (fallback_) {
        *refusal = fallback_(*req);
    } else {
        *refusal = errors_(404, "not-found",
                           fmt::format("no such resource: {}", req->path.substr(0, 200)));
    }
    return nullptr;
}

ApiResponse Router::dispatch(ApiRequest req) const {
    ApiResponse refusal;
    const Route* r = match(&req, &refusal);
    if (!r) return refusal;
    if (r->guard)
        if (auto denied = r->guard(req)) return *denied;
    if (req.body.size() > r->max_body_bytes)
        return errors_(413, "body-too-large",
                       fmt::format("the body is over {} bytes", r->max_body_bytes));
    try {
        return r->handler(req);
    } catch (const std::exception& e) {
        return errors_(500, "internal", e.what());
    }
}

// A blocking route's request, owned (the connection's buffer moves on meanwhile).
struct HttpService::Job {
    int loop = 0;
    int fd = -1;
    uint64_t gen = 0;
    bool head = false;
    bool close_after = false;
    const Router::Route* route = nullptr;
    http::Method method = http::Method::kGet;
    std::string method_text, path, query, authorization, host, body;
    IpAddress client;
    bool tls = false;
    std::array<std::pair<size_t, size_t>, 4> params{}; // offset and length in `path`
    uint8_t param_count = 0;
};

struct HttpService::Done {
    int fd = -1;
    uint64_t gen = 0;
    bool head = false;
    bool close_after = false;
    ApiResponse resp;
};

struct HttpService::LoopMailbox {
    UniqueFd event; // the loop's eventfd: answers are waiting
    std::mutex mu;
    std::vector<Done> done;
};

bool HttpService::exempt(const IpAddress& a) const {
    for (const IpPrefix& p : opt_.per_client.exempt)
        if (p.contains(a)) return true;
    return false;
}

bool HttpService::submit(std::unique_ptr<Job> job) {
    {
        std::lock_guard lk(jobs_mu_);
        if (jobs_.size() >= opt_.blocking_queue) return false;
        jobs_.push_back(std::move(job));
    }
    jobs_cv_.notify_one();
    return true;
}

void HttpService::work() {
    pthread_setname_np(pthread_self(), fmt::format("{}-w", thread_name_).substr(0, 15).c_str());
    for (;;) {
        std::unique_ptr<Job> job;
        {
            std::unique_lock lk(jobs_mu_);
            jobs_cv_.wait(lk, [&] { return workers_stop_ || !jobs_.empty(); });
            if (jobs_.empty()) return;
            job = std::move(jobs_.front());
            jobs_.pop_front();
        }
        ApiRequest ar;
        ar.method = job->method;
        ar.method_text = job->method_text;
        ar.path = job->path;
        ar.query = job->query;
        ar.authorization = job->authorization;
        ar.host = job->host;
        ar.body = job->body;
        ar.client = job->client;
        ar.thread = opt_.threads + static_cast<uint32_t>(job->loop);
        ar.tls = job->tls;
        ar.param_count = job->param_count;
        for (uint8_t i = 0; i < job->param_count; ++i)
            ar.params[i] =
                std::string_view(job->path).substr(job->params[i].first, job->params[i].second);
        Done d;
        d.fd = job->fd;
        d.gen = job->gen;
        d.head = job->head;
        d.close_after = job->close_after;
        try {
            d.resp = job->route->handler(ar);
        } catch (const std::exception& e) {
            d.resp = router_->error(500, "internal", e.what());
        }
        LoopMailbox& mb = *mailboxes_[static_cast<size_t>(job->loop)];
        {
            std::lock_guard lk(mb.mu);
            mb.done.push_back(std::move(d));
        }
        uint64_t one = 1;
        (void)!::write(mb.event.get(), &one, sizeof one);
    }
}

Result<std::unique_ptr<HttpService>> HttpService::listen(const SocketAddress& addr,
                                                         std::shared_ptr<const Router> router,
                                                         HttpServiceOptions opt, std::string name) {
    std::unique_ptr<HttpService> s(new HttpService());
    s->opt_ = opt;
    if (s->opt_.threads == 0) s->opt_.threads = 1;
    // A listener per thread with SO_REUSEPORT: the kernel spreads connections over the
    // threads (one shared listener let a single thread take most keep-alive connections).
    ListenOptions lo;
    lo.reuse_port = s->opt_.threads > 1;
    lo.defer_accept = false;
    lo.backlog = 4096;
    // Another process on the address is an error, not a share (listen_group).
    auto fds = listen_group(addr, s->opt_.threads, lo);
    if (!fds) return fds.error();
    return adopt(std::move(*fds), std::move(router), s->opt_, std::move(name));
}

Result<std::unique_ptr<HttpService>> HttpService::adopt(std::vector<UniqueFd> fds,
                                                        std::shared_ptr<const Router> router,
                                                        HttpServiceOptions opt, std::string name) {
    if (fds.empty() || !fds[0]) return Error{"no listening socket"};
    std::unique_ptr<HttpService> s(new HttpService());
    s->opt_ = opt;
    s->opt_.threads = static_cast<uint32_t>(fds.size());
    auto bound = local_address(fds[0].get());
    if (!bound) return bound.error();
    s->addr_ = *bound;
    s->listen_fds_ = std::move(fds);
    s->router_ = std::move(router);
    s->thread_name_ = std::move(name);
    s->wake_fd_.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    for (uint32_t i = 0; i < s->opt_.threads; ++i) {
        auto mb = std::make_unique<LoopMailbox>();
        mb->event.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
        s->mailboxes_.push_back(std::move(mb));
    }
    return s;
}

HttpService::~HttpService() {
    stop();
}

void HttpService::start() {
    for (uint32_t i = 0; i < opt_.blocking_threads; ++i)
        workers_.emplace_back([this] { work(); });
    for (uint32_t i = 0; i < opt_.threads; ++i)
        threads_.emplace_back([this, i] { run(static_cast<int>(i)); });
}

void HttpService::stop() {
    if (threads_.empty()) return;
    stop_.store(true);
    uint64_t one = 1;
    (void)!::write(wake_fd_.get(), &one, sizeof one);
    for (std::thread& t : threads_)
        t.join();
    threads_.clear();
    {
        std::lock_guard lk(jobs_mu_);
        workers_stop_ = true;
        jobs_.clear(); // requests not started yet: their connections are gone
    }
    jobs_cv_.notify_all();
    for (std::thread& t : workers_)
        t.join();
    workers_.clear();
}

void HttpService::run(int index) {
    pthread_setname_np(pthread_self(),
                       fmt::format("{}-{}", thread_name_, index).substr(0, 15).c_str());
    UniqueFd ep(::epoll_create1(EPOLL_CLOEXEC));
    epoll_event ev{};
    const int listen_fd = listen_fds_[static_cast<size_t>(index)].get();
    ev.events = EPOLLIN;
    ev.data.fd = listen_fd;
    ::epoll_ctl(ep.get(), EPOLL_CTL_ADD, listen_fd, &ev);
    ev.events = EPOLLIN;
    ev.data.fd = wake_fd_.get();
    ::epoll_ctl(ep.get(), EPOLL_CTL_ADD, wake_fd_.get(), &ev);
    LoopMailbox& mailbox = *mailboxes_[static_cast<size_t>(index)];
    ev.events = EPOLLIN;
    ev.data.fd = mailbox.event.get();
    ::epoll_ctl(ep.get(), EPOLL_CTL_ADD, mailbox.event.get(), &ev);
    uint64_t next_gen = 1;
    std::unordered_map<int, Conn> conns;
    const ClientLimits& pc = opt_.per_client;
    const double burst = pc.burst > 0 ? pc.burst : std::max(1.0, pc.requests_per_s);
    std::unordered_map<std::string, RateBucket, SeededStringHash>
        buckets; // this thread's, per client key
    // A request allowed by the client's bucket (this thread's share of its rate).
    // Behind a trusted proxy the key is the forwarded client's (the proxy itself is never
    // limited): otherwise one busy load balancer would be throttled for everyone behind it.
    auto rate_ok = [&](Conn& c, const http::Request& req, int64_t now) {
        if (pc.requests_per_s <= 0) return true;
        std::string forwarded_key;
        if (c.proxied) {
            const IpAddress real = real_client(c.client, req.forwarded_for, opt_.trusted_proxies);
            if (in_any(opt_.trusted_proxies, real) || exempt(real)) return true;
            forwarded_key = client_key_of(real);
        }
        const std::string& key = c.proxied ? forwarded_key : c.client_key;
        if (key.empty()) return true;
        auto [it, fresh] = buckets.try_emplace(key);
        RateBucket& b = it->second;
        if (fresh)
            b.tokens = burst;
        else
            b.tokens = std::min(burst, b.tokens + static_cast<double>(now - b.at_ms) *
                                                      pc.requests_per_s / 1000.0);
        b.at_ms = now;
        if (b.tokens < 1) return false;
        b.tokens -= 1;
        return true;
    };
    http::ParseLimits limits;
    limits.max_head_bytes = 16384;
    limits.max_target_bytes = 8192;
    std::string path_buf(limits.max_target_bytes + 2, '\0');
    char buf[16384];
    int64_t next_sweep = monotonic_ms() + 1000;
    // A request head and the largest body a route takes: more is not read until served.
    const size_t max_buffered = router_->largest_body() + limits.max_head_bytes;
    std::string busy;
    append_response(&busy, router_->error(503, "too-many-connections", "connection limit reached"),
                    false, true);

    std::string too_many;
    {
        ApiResponse r =
            router_->error(429, "too-many-connections", "too many connections from this address");
        r.extra_headers = "Retry-After: 1\r\n";
        append_response(&too_many, r, false, true);
    }
    auto close_conn = [&](int fd) {
        auto it = conns.find(fd);
        if (it == conns.end()) return;
        if (!it->second.client_key.empty() && pc.connections) {
            std::lock_guard lk(clients_mu_);
            auto ci = client_conns_.find(it->second.client_key);
            if (ci != client_conns_.end() && --ci->second == 0) client_conns_.erase(ci);
        }
        conns.erase(it);
        connections_.fetch_sub(1, std::memory_order_relaxed);
    };
    // Sends what is queued; false when the connection is finished (error, or closed by us).
    // EPOLLOUT is asked for only while a response is stuck: left on, every ACK would wake
    // the loop (measured: a third of the steering benchmark's wake-ups).
    auto set_want_out = [&](Conn& c, bool on) {
        if (c.want_out == on) return;
        c.want_out = on;
        epoll_event cev{};
        cev.events = EPOLLIN | EPOLLET | EPOLLRDHUP | (on ? uint32_t{EPOLLOUT} : 0u);
        cev.data.fd = c.fd.get();
        ::epoll_ctl(ep.get(), EPOLL_CTL_MOD, c.fd.get(), &cev);
    };
    auto flush = [&](Conn& c) -> bool {
        while (c.sent < c.out.size()) {
            if (c.ssl) {
                const int chunk =
                    static_cast<int>(std::min<size_t>(c.out.size() - c.sent, 1u << 20));
                const int n = SSL_write(c.ssl.get(), c.out.data() + c.sent, chunk);
                if (n <= 0) {
                    const int e = SSL_get_error(c.ssl.get(), n);
                    ERR_clear_error();
                    if (e == SSL_ERROR_WANT_WRITE) {
                        set_want_out(c, true);
                        return true;
                    }
                    if (e == SSL_ERROR_WANT_READ) return true; // a key update: the next read
                    return false;
                }
                c.sent += static_cast<size_t>(n);
                continue;
            }
            ssize_t n = ::send(c.fd.get(), c.out.data() + c.sent, c.out.size() - c.sent,
                               MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n < 0) {
                if (errno != EAGAIN && errno != EINTR) return false;
                set_want_out(c, true);
                return true;
            }
            c.sent += static_cast<size_t>(n);
        }
        c.out.clear();
        c.sent = 0;
        set_want_out(c, false);
        return c.pending || !c.close_after; // a closing answer may still be on its way
    };
    // Answers every complete request in c.in; false when the connection must close now.
    auto serve = [&](Conn& c, int64_t now) -> bool {
        for (;;) {
            if (c.pending) return true;     // one request at a time: answers stay in order
            if (c.close_after) return true; // nothing more after a closing answer
            // A client that pipelines and does not read gets no more answers until it does.
            if (c.out.size() - c.sent > (1u << 20)) return true;
            if (c.in.empty()) {
                c.request_started = false;
                return true;
            }
            if (!c.request_started) {
                c.request_started = true;
                c.deadline = now + opt_.request_timeout_ms;
            }
            http::Request req;
            http::ParseResult pr =
                http::parse_request(c.in.data(), c.in.size(), limits, &c.scan, &req);
            if (pr.status == http::ParseStatus::kIncomplete) return true;
            ApiResponse resp;
            bool head = false;
            size_t consumed = 0;
            if (pr.status == http::ParseStatus::kComplete && !rate_ok(c, req, now)) {
                // Answered from the head alone; the connection stays usable (keep-alive) when
                // it has no body in flight.
                client_rate_refusals_.fetch_add(1, std::memory_order_relaxed);
                resp = router_->error(429, "too-many-requests",
                                      "too many requests from this address: slow down");
                resp.extra_headers += "Retry-After: 1\r\n";
                consumed = req.head_bytes;
                if (req.content_length > 0 || req.has_transfer_encoding) c.close_after = true;
            } else if (pr.status == http::ParseStatus::kError) {
                resp = router_->error(pr.error_status, "bad-request", pr.error_reason);
                c.close_after = true;
            } else if (req.has_transfer_encoding) {
                resp = router_->error(411, "length-required",
                                      "send a Content-Length body, not chunked");
                c.close_after = true;
            } else {
                head = req.method == http::Method::kHead;
                c.close_after = req.connection_close ||
                                (!req.keep_alive_by_default() && !req.connection_keep_alive);
                http::Target t;
                http::TargetError te =
                    http::parse_target(req.target, path_buf.data() + 1, path_buf.size() - 1, &t);
                ApiRequest ar;
                const Router::Route* route = nullptr;
                if (te != http::TargetError::kNone) {
                    resp = router_->error(http::target_error_status(te), "bad-path",
                                          http::target_error_reason(te));
                } else {
                    path_buf[0] = '/';
                    ar.method = req.method;
                    ar.method_text = req.method_text;
                    ar.path = std::string_view(path_buf.data(), t.path.size() + 1);
                    ar.query = t.query;
                    ar.authorization = req.authorization;
                    ar.host = req.host;
                    ar.client = c.proxied
                                    ? real_client(c.client, req.forwarded_for, opt_.trusted_proxies)
                                    : c.client;
                    ar.thread = static_cast<uint32_t>(index);
                    ar.tls = c.ssl != nullptr;
                    ar.head = &req;
                    // The route, from the head alone: its body limit applies before buffering.
                    route = router_->match(&ar, &resp);
                }
                std::optional<ApiResponse> denied;
                if (route && route->guard) {
                    try {
                        denied = route->guard(ar);
                    } catch (const std::exception& e) {
                        denied = router_->error(500, "internal", e.what());
                    }
                }
                if (!route || denied) {
                    // Answered without the body: a connection with one unread closes after.
                    if (denied) resp = std::move(*denied);
                    if (req.content_length > 0) c.close_after = true;
                    consumed = req.head_bytes;
                } else if (req.content_length > route->max_body_bytes) {
                    resp = router_->error(
                        413, "body-too-large",
                        fmt::format("the body is over {} bytes", route->max_body_bytes));
                    c.close_after = true;
                } else {
                    const size_t need = req.head_bytes + req.content_length;
                    if (c.in.size() < need) {
                        if (c.in.capacity() < need) c.in.reserve(need);
                        return true;
                    }
                    consumed = need;
                    ar.body = std::string_view(c.in.data() + req.head_bytes, req.content_length);
                    if (route->blocking && opt_.blocking_threads > 0) {
                        auto job = std::make_unique<Job>();
                        job->loop = index;
                        job->fd = c.fd.get();
                        job->gen = c.gen;
                        job->head = head;
                        job->close_after = c.close_after;
                        job->route = route;
                        job->method = ar.method;
                        job->method_text = ar.method_text;
                        job->path = ar.path;
                        job->query = ar.query;
                        job->authorization = ar.authorization;
                        job->host = ar.host;
                        job->body = ar.body;
                        job->client = ar.client;
                        job->tls = ar.tls;
                        job->param_count = ar.param_count;
                        for (uint8_t k = 0; k < ar.param_count; ++k)
                            job->params[k] = {
                                static_cast<size_t>(ar.params[k].data() - ar.path.data()),
                                ar.params[k].size()};
                        if (submit(std::move(job))) {
                            c.pending = true;
                            c.in.erase(0, consumed);
                            c.scan.reset();
                            c.request_started = false;
                            c.deadline = now + opt_.request_timeout_ms;
                            return true;
                        }
                        busy_refusals_.fetch_add(1, std::memory_order_relaxed);
                        resp = router_->error(503, "busy", "too many requests waiting: try again");
                        resp.extra_headers += "Retry-After: 1\r\n";
                    } else {
                        try {
                            resp = route->handler(ar);
                        } catch (const std::exception& e) {
                            resp = router_->error(500, "internal", e.what());
                        }
                    }
                }
            }
            append_response(&c.out, resp, head, c.close_after);
            c.in.erase(0, consumed ? consumed : c.in.size());
            c.scan.reset();
            c.request_started = false;
            c.deadline = now + opt_.idle_timeout_ms;
        }
    };

    // After reading (or a blocking handler's answer): answer what is complete, send, and close
    // when the connection is done. `c` may be gone afterwards.
    auto finish_io = [&](Conn& c, int fd, int64_t now) {
        if (!serve(c, now) || !flush(c)) {
            if (c.close_after && c.out.empty() && !c.peer_closed) {
                if (c.ssl) SSL_shutdown(c.ssl.get()); // close_notify, best effort
                ::shutdown(fd, SHUT_WR);
                c.lingering = true;
                c.in.clear();
                c.deadline = now + opt_.linger_ms;
                return;
            }
            close_conn(fd);
            return;
        }
        if (c.peer_closed && c.out.empty() && !c.pending) close_conn(fd);
    };

    int64_t listen_paused_until = 0;
    log::RateLimit nofile_log(1000);
    log::RateLimit proxy_log(1000);
    while (!stop_.load(std::memory_order_acquire)) {
        epoll_event evs[128];
        int n = ::epoll_wait(ep.get(), evs, 128, listen_paused_until ? 100 : 500);
        int64_t now = monotonic_ms();
        if (listen_paused_until && now >= listen_paused_until) {
            listen_paused_until = 0;
            epoll_event lev{};
            lev.events = EPOLLIN;
            lev.data.fd = listen_fd;
            ::epoll_ctl(ep.get(), EPOLL_CTL_ADD, listen_fd, &lev);
        }
        for (int i = 0; i < n; ++i) {
            int fd = evs[i].data.fd;
            if (fd == wake_fd_.get()) continue;
            if (fd == mailbox.event.get()) {
                uint64_t count;
                (void)!::read(fd, &count, sizeof count);
                std::vector<Done> done;
                {
                    std::lock_guard lk(mailbox.mu);
                    done.swap(mailbox.done);
                }
                for (Done& d : done) {
                    auto ci = conns.find(d.fd);
                    if (ci == conns.end() || ci->second.gen != d.gen) continue; // gone meanwhile
                    Conn& c = ci->second;
                    c.pending = false;
                    append_response(&c.out, d.resp, d.head, d.close_after);
                    c.deadline = now + opt_.idle_timeout_ms;
                    finish_io(c, d.fd, now);
                }
                continue;
            }
            if (fd == listen_fd) {
                for (int k = 0; k < 64; ++k) {
                    sockaddr_storage ss{};
                    socklen_t sl = sizeof ss;
                    int cfd = ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&ss), &sl,
                                        SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (cfd < 0) {
                        if (errno == EMFILE || errno == ENFILE) {
                            // The listener stays readable: stop watching it for a moment
                            // rather than spin, and say so once a second at most.
                            ::epoll_ctl(ep.get(), EPOLL_CTL_DEL, listen_fd, nullptr);
                            listen_paused_until = now + 100;
                            uint64_t suppressed = 0;
                            if (nofile_log.allow(now, &suppressed))
                                log::warn("api: out of file descriptors with {} connections open: "
                                          "not accepting for 100 ms ({} similar suppressed)",
                                          connections_.load(), suppressed);
                        }
                        break;
                    }
                    if (connections_.load(std::memory_order_relaxed) >= opt_.max_connections) {
                        (void)!::send(cfd, busy.data(), busy.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
                        ::close(cfd);
                        continue;
                    }
                    const IpAddress client =
                        IpAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&ss));
                    std::string key;
                    const bool proxied = in_any(opt_.trusted_proxies, client);
                    if ((pc.connections || pc.requests_per_s > 0) && !exempt(client) && !proxied)
                        key = client_key_of(client);
                    if (!key.empty() && pc.connections) {
                        std::lock_guard lk(clients_mu_);
                        uint32_t& n = client_conns_[key];
                        if (n >= pc.connections) {
                            if (n == 0) client_conns_.erase(key);
                            client_conn_refusals_.fetch_add(1, std::memory_order_relaxed);
                            (void)!::send(cfd, too_many.data(), too_many.size(),
                                          MSG_DONTWAIT | MSG_NOSIGNAL);
                            ::close(cfd);
                            continue;
                        }
                        ++n;
                    }
                    connections_.fetch_add(1, std::memory_order_relaxed);
                    Conn& c = conns[cfd];
                    c.fd.reset(cfd);
                    c.gen = next_gen++;
                    c.client_key = std::move(key);
                    c.client = client;
                    c.proxied = proxied;
                    c.awaiting_proxy = proxied && opt_.proxy_protocol;
                    c.deadline =
                        now + (c.awaiting_proxy ? opt_.request_timeout_ms : opt_.idle_timeout_ms);
                    if (opt_.tls) {
                        c.ssl.reset(opt_.tls(cfd));
                        if (!c.ssl) {
                            tls_failures_.fetch_add(1, std::memory_order_relaxed);
                            close_conn(cfd);
                            continue;
                        }
                        SSL_set_accept_state(c.ssl.get());
                        c.handshaking = true;
                        c.deadline = now + opt_.request_timeout_ms; // the handshake's too
                    }
                    epoll_event cev{};
                    cev.events = EPOLLIN | EPOLLET | EPOLLRDHUP;
                    cev.data.fd = cfd;
                    ::epoll_ctl(ep.get(), EPOLL_CTL_ADD, cfd, &cev);
                }
                continue;
            }
            auto it = conns.find(fd);
            if (it == conns.end()) continue;
            Conn& c = it->second;
            if (c.lingering) {
                // Read and drop until the peer closes (or the deadline): closing with unread
                // bytes would reset the connection and could destroy the answer in flight.
                ssize_t r;
                while ((r = ::recv(fd, buf, sizeof buf, 0)) > 0) {
                }
                if (r == 0 || (errno != EAGAIN && errno != EINTR)) close_conn(fd);
                continue;
            }
            if (c.awaiting_proxy) {
                // The balancer's PROXY header, read before anything else (TLS included): a
                // peek until it is whole, then exactly its bytes. Bounded by kMaxProxyHeader
                // and the request timeout.
                char hb[kMaxProxyHeader];
                const ssize_t n = ::recv(fd, hb, sizeof hb, MSG_PEEK);
                if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
                ProxyHeader ph;
                const char* why = "the connection closed before its PROXY header";
                const ProxyStatus st =
                    n <= 0 ? ProxyStatus::kBad
                           : parse_proxy_header({hb, static_cast<size_t>(n)}, &ph, &why);
                if (st == ProxyStatus::kIncomplete && static_cast<size_t>(n) < sizeof hb)
                    continue; // the rest raises a new edge
                if (st != ProxyStatus::kOk ||
                    ::recv(fd, hb, ph.length, 0) != static_cast<ssize_t>(ph.length)) {
                    proxy_failures_.fetch_add(1, std::memory_order_relaxed);
                    uint64_t suppressed = 0;
                    if (proxy_log.allow(now, &suppressed))
                        log::warn("api: closed a connection from proxy {}: {} ({} similar "
                                  "suppressed)",
                                  c.client.to_string(),
                                  n > 0 && st == ProxyStatus::kOk ? "short read of its PROXY header"
                                                                  : why,
                                  suppressed);
                    close_conn(fd);
                    continue;
                }
                c.awaiting_proxy = false;
                c.deadline = now + opt_.idle_timeout_ms;
                if (ph.has_client) {
                    // The client is known: it is limited as any client, and what it says in
                    // X-Forwarded-For is its own word.
                    c.client = ph.client;
                    c.proxied = false;
                    if ((pc.connections || pc.requests_per_s > 0) && !exempt(c.client) &&
                        !in_any(opt_.trusted_proxies, c.client)) {
                        std::string key = client_key_of(c.client);
                        if (pc.connections) {
                            std::lock_guard lk(clients_mu_);
                            uint32_t& cn = client_conns_[key];
                            if (cn >= pc.connections) {
                                if (cn == 0) client_conns_.erase(key);
                                client_conn_refusals_.fetch_add(1, std::memory_order_relaxed);
                                (void)!::send(fd, too_many.data(), too_many.size(),
                                              MSG_DONTWAIT | MSG_NOSIGNAL);
                                key.clear(); // not counted: close_conn must not uncount it
                            } else {
                                ++cn;
                            }
                        }
                        if (key.empty() && pc.connections) {
                            close_conn(fd);
                            continue;
                        }
                        c.client_key = std::move(key);
                    }
                }
            }
            if (c.handshaking) {
                const int r = SSL_do_handshake(c.ssl.get());
                if (r != 1) {
                    const int e = SSL_get_error(c.ssl.get(), r);
                    ERR_clear_error();
                    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
                        set_want_out(c, e == SSL_ERROR_WANT_WRITE);
                        continue;
                    }
                    // Not TLS, a certificate the client refused, a protocol error: counted,
                    // closed (nothing meaningful can be answered on a failed handshake).
                    tls_failures_.fetch_add(1, std::memory_order_relaxed);
                    close_conn(fd);
                    continue;
                }
                c.handshaking = false;
                set_want_out(c, false);
                c.deadline = now + opt_.idle_timeout_ms;
            }
            bool peer_closed = false;
            // A short read means the socket is empty for now (new data raises a new edge), so
            // the usual extra recv() that returns EAGAIN is skipped, unless the peer also
            // closed (its FIN came with this event and would raise no other).
            const bool rdhup = evs[i].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR);
            // Reading stops too while answers pile up unread (see serve()).
            if (!c.close_after && c.out.size() - c.sent <= (1u << 20) && c.ssl) {
                // TLS: read until OpenSSL wants more from the socket (it may hold whole records
                // already read, which no new edge would announce).
                for (;;) {
                    const int r = SSL_read(c.ssl.get(), buf, sizeof buf);
                    if (r > 0) {
                        c.in.append(buf, static_cast<size_t>(r));
                        if (c.in.size() > max_buffered) break;
                        continue;
                    }
                    const int e = SSL_get_error(c.ssl.get(), r);
                    ERR_clear_error();
                    if (e == SSL_ERROR_WANT_WRITE)
                        set_want_out(c, true);
                    else if (e != SSL_ERROR_WANT_READ)
                        peer_closed = true;
                    break;
                }
            } else if (!c.close_after && c.out.size() - c.sent <= (1u << 20)) {
                for (;;) {
                    ssize_t r = ::recv(fd, buf, sizeof buf, 0);
                    if (r > 0) {
                        c.in.append(buf, static_cast<size_t>(r));
                        if (c.in.size() > max_buffered) break;
                        if (static_cast<size_t>(r) < sizeof buf && !rdhup) break;
                        continue;
                    }
                    if (r == 0 || (errno != EAGAIN && errno != EINTR)) peer_closed = true;
                    break;
                }
            }
            if (peer_closed) c.peer_closed = true;
            finish_io(c, fd, now);
        }
        if (now >= next_sweep) {
            next_sweep = now + 1000;
            std::vector<int> expired;
            for (auto& [fd, c] : conns)
                if (now >= c.deadline) expired.push_back(fd);
            for (int fd : expired)
                close_conn(fd);
            // Buckets that have been full for a while hold nothing worth keeping.
            if (buckets.size() > 1024)
                for (auto bi = buckets.begin(); bi != buckets.end();)
                    bi = now - bi->second.at_ms > 10000 ? buckets.erase(bi) : std::next(bi);
        }
    }
    for (auto& kv : conns) {
        (void)kv;
        connections_.fetch_sub(1, std::memory_order_relaxed);
    }
}

} // namespace vcdn::io
