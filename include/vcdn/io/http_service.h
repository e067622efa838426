#pragma once
// The HTTP service core for everything that is not the file-serving hot path: the control
// plane's API and dashboard, and the admin listeners of the edge and the origin. The edge's
// workers serve content with their own measured loop (edge/worker.h); everything else is here,
// so that descriptor exhaustion, timeouts, lingering and error answers are handled once.
//
// A Router maps (method, path pattern) to a handler: "/api/v1/edges/{id}/heartbeat" matches
// that path with `id` as a parameter. The route is chosen from the request head, before the
// body is read: an unknown path is 404 and a known path with another method 405 (with
// `Allow`), and the route's own body limit decides 413 before a byte of the body is
// buffered. HEAD is answered by GET routes (without the body). Every error answer, the
// service's own and the handlers', goes through the router's one error writer.
//
// Threads: HttpService runs `threads` epoll loops (SO_REUSEPORT listeners). Handlers run on
// them, concurrently, and must not block for long (short locks, no network calls). The
// Router is immutable once the service starts. Lifetime: stop() joins the loops; the router
// and whatever its handlers capture must outlive it.
#include <array>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include <vcdn/base/hash.h>
#include <vcdn/base/result.h>
#include <vcdn/base/unique_fd.h>
#include <vcdn/http/query.h>
#include <vcdn/http/request.h>
#include <vcdn/io/address.h>
#include <vcdn/io/ip_prefix.h>

struct ssl_st; // OpenSSL's SSL

namespace vcdn::io {

struct ApiRequest {
    http::Method method = http::Method::kGet;
    std::string_view method_text;
    std::string_view path;  // decoded, with its leading '/'
    std::string_view query; // raw, without '?'
    std::string_view authorization;
    std::string_view host; // the Host header as sent (empty when absent)
    std::string_view body;
    IpAddress client;
    uint32_t thread = 0;                 // index of the service thread running the handler
    bool tls = false;                    // the connection is TLS
    const http::Request* head = nullptr; // the parsed head (other headers); may be null in tests
    std::array<std::string_view, 4> params{}; // the pattern's {parameters}, in order
    uint8_t param_count = 0;
    std::string_view param(size_t i) const { return i < param_count ? params[i] : ""; }
};

struct ApiResponse {
    uint16_t status = 200;
    std::string content_type = "application/json";
    std::string body;
    std::string extra_headers; // complete header lines, each ending in \r\n
};

class Router {
public:
    using Handler = std::function<ApiResponse(const ApiRequest&)>;
    // (status, a short code such as "not-found", a one-line message) → the answer.
    using ErrorWriter =
        std::function<ApiResponse(uint16_t, std::string_view code, std::string_view message)>;

    // Runs on the head alone, before a byte of the body is read (credentials, rates): an
    // answer refuses the request; nullopt lets it through to its body limit and handler.
    using Guard = std::function<std::optional<ApiResponse>(const ApiRequest&)>;

    struct Route {
        http::Method method;
        std::string pattern;
        std::vector<std::string> segments; // "{...}" marks a parameter
        Handler handler;
        size_t max_body_bytes;
        Guard guard; // may be empty
        // The handler may block (database calls): it runs on the service's worker pool, so
        // that the event loops keep serving everyone else meanwhile (see HttpServiceOptions).
        bool blocking = false;
    };

    explicit Router(ErrorWriter errors);
    // `pattern`: "/a/b", "/a/{x}/c" (a parameter is one whole segment, at most 4 of them);
    // a last parameter "{x...}" takes the rest of the path, slashes included ("/r/{path...}"
    // matches "/r/t/1/a.mp4" with "t/1/a.mp4"; never an empty rest or one ending in '/').
    // Registration order decides between overlapping patterns. Throws on a bad pattern (a
    // programming error, at start-up).
    Router& add(http::Method m, std::string_view pattern, Handler h,
                size_t max_body_bytes = kDefaultMaxBody, Guard guard = {}, bool blocking = false);
    Router& get(std::string_view pattern, Handler h) {
        return add(http::Method::kGet, pattern, std::move(h));
    }
    // Answers requests that match no route at all (default: 404 through the error writer).
    void set_fallback(Handler h) { fallback_ = std::move(h); }

    // The route for a request, with its parameters in *req; null with the answer in *refusal
    // (404 or 405) when there is none.
    const Route* match(ApiRequest* req, ApiResponse* refusal) const;
    // match() and run the handler (what HttpService does, for tests without sockets).
    ApiResponse dispatch(ApiRequest req) const;
    ApiResponse error(uint16_t status, std::string_view code, std::string_view message) const {
        return errors_(status, code, message);
    }
    size_t largest_body() const; // over every route

    static constexpr size_t kDefaultMaxBody = 1u << 20;

private:
    std::vector<Route> routes_;
    ErrorWriter errors_;
    Handler fallback_;
};

// The error writers of the two kinds of service: {"error":{"status","code","message"}} for
// the control plane's API, "<status> <reason>: <message>" text for admin listeners.
ApiResponse json_error_answer(uint16_t status, std::string_view code, std::string_view message);
ApiResponse text_error_answer(uint16_t status, std::string_view code, std::string_view message);

// Limits per client address (IPv4) or /64 (IPv6), for listeners anyone can reach. Addresses
// in `exempt` (a streaming service's front ends, monitoring) have none.
struct ClientLimits {
    uint32_t connections = 0;  // open at once; 0 = no limit
    double requests_per_s = 0; // token bucket per loop thread; 0 = no limit
    double burst = 0;          // the bucket's size (default: a second's worth)
    std::vector<IpPrefix> exempt;
};

// The client behind trusted proxies (load balancers): when the peer is in `proxies`, the
// X-Forwarded-For list is read from the right — the entries the proxies appended — and the
// first address that is not itself a proxy is the client. An entry that is not an address
// ("unknown", garbage) ends the walk at the last good one, and at most 32 entries are read:
// whatever lies to the left of a proxy's entry was written by the client and proves nothing.
// Any other peer is the client, whatever it sends.
IpAddress real_client(const IpAddress& peer, std::string_view forwarded_for,
                      const std::vector<IpPrefix>& proxies);

struct HttpServiceOptions {
    // TLS: when set, every connection is TLS (the edge and admin listeners of the control
    // plane); the factory makes each connection's SSL from the current certificate, so that a
    // reload reaches new connections while open ones keep theirs. Empty: plain HTTP.
    std::function<ssl_st*(int fd)> tls;
    uint32_t threads = 1;
    uint32_t idle_timeout_ms = 60000;
    uint32_t request_timeout_ms = 30000; // a request's head and body must arrive within this
    uint32_t linger_ms = 2000;           // after a closing answer: read and drop for this long
    uint32_t max_connections = 4096;     // whole service
    // Handlers of `blocking` routes run on this many worker threads (0: on the event loop,
    // as every other handler). A connection waits for its answer without holding the loop;
    // when `blocking_queue` requests already wait, the next is answered 503 at once.
    uint32_t blocking_threads = 0;
    uint32_t blocking_queue = 256;
    ClientLimits per_client;
    // Peers whose X-Forwarded-For names the client (real_client): handlers see that client,
    // and the per-client request rate counts it; a proxy's own connections are not limited.
    std::vector<IpPrefix> trusted_proxies;
    // Connections from trusted_proxies start with a PROXY protocol header (v1 or v2, before
    // TLS when there is TLS): its source address is the client, for handlers and the
    // per-client limits alike, and X-Forwarded-For on that connection is the client's own word
    // (ignored). A connection from a proxy without a valid header is closed and counted.
    // Connections from anyone else are plain HTTP(S), whatever their first bytes.
    bool proxy_protocol = false;
};

class HttpService {
public:
    static Result<std::unique_ptr<HttpService>> listen(const SocketAddress& addr,
                                                       std::shared_ptr<const Router> router,
                                                       HttpServiceOptions opt,
                                                       std::string thread_name);
    // The same on sockets already listening (handed over by a process being upgraded): one
    // thread per socket.
    static Result<std::unique_ptr<HttpService>> adopt(std::vector<UniqueFd> fds,
                                                      std::shared_ptr<const Router> router,
                                                      HttpServiceOptions opt,
                                                      std::string thread_name);
    ~HttpService();
    const SocketAddress& address() const { return addr_; }
    int listen_fd() const { return listen_fds_.empty() ? -1 : listen_fds_[0].get(); }
    void start();
    void stop(); // idempotent; joins the threads

private:
    HttpService() = default;
    void run(int index);

    SocketAddress addr_;
    std::shared_ptr<const Router> router_;
    HttpServiceOptions opt_;
    std::string thread_name_;
    std::vector<UniqueFd> listen_fds_; // one per thread (SO_REUSEPORT spreads connections)
    UniqueFd wake_fd_;
    std::vector<std::thread> threads_;
    std::atomic<bool> stop_{false};
    std::atomic<uint32_t> connections_{0};
    std::atomic<uint64_t> tls_failures_{0};

    // The worker pool for blocking routes, and each loop's finished answers.
    struct Job;
    struct Done;
    struct LoopMailbox;
    std::vector<std::unique_ptr<LoopMailbox>> mailboxes_; // one per loop thread
    std::vector<std::thread> workers_;
    std::mutex jobs_mu_;
    std::condition_variable jobs_cv_;
    std::deque<std::unique_ptr<Job>> jobs_;
    bool workers_stop_ = false;
    std::atomic<uint64_t> busy_refusals_{0};
    // Open connections per client key (address or /64), for per_client.connections.
    std::mutex clients_mu_;
    std::unordered_map<std::string, uint32_t, SeededStringHash> client_conns_;
    std::atomic<uint64_t> client_conn_refusals_{0}, client_rate_refusals_{0}, proxy_failures_{0};
    bool exempt(const IpAddress& a) const;
    bool submit(std::unique_ptr<Job> job);
    void work();

public:
    uint64_t busy_refusals() const { return busy_refusals_.load(); }
    // Requests for blocking routes waiting for a worker thread (not those being worked on).
    size_t blocking_waiting() {
        std::lock_guard lk(jobs_mu_);
        return jobs_.size();
    }
    uint64_t client_connection_refusals() const { return client_conn_refusals_.load(); }
    uint64_t client_rate_refusals() const { return client_rate_refusals_.load(); }
    uint64_t tls_handshake_failures() const { return tls_failures_.load(); }
    uint64_t proxy_header_failures() const { return proxy_failures_.load(); }
};

using http::query_param;
using http::url_decode;

} // namespace vcdn::io
