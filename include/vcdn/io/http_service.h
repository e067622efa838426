#pragma once
// A small multi-threaded HTTP/1.1 server for APIs (the control plane): keep-alive,
// pipelining, request bodies up to a limit, one epoll loop per thread sharing one listener.
// Handlers run on the loop threads and must not block for long (they take short locks and
// build a response). Not for file content: the edge's workers are.
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <vcdn/base/result.h>
#include <vcdn/base/unique_fd.h>
#include <vcdn/http/query.h>
#include <vcdn/http/request.h>
#include <vcdn/io/address.h>
#include <vcdn/io/ip_prefix.h>

namespace vcdn::io {

struct ApiRequest {
    http::Method method = http::Method::kGet;
    std::string_view method_text;
    std::string_view path;  // decoded, with its leading '/'
    std::string_view query; // raw, without '?'
    std::string_view authorization;
    std::string_view body;
    IpAddress client;
    uint32_t thread = 0; // index of the service thread running the handler
};

struct ApiResponse {
    uint16_t status = 200;
    std::string content_type = "application/json";
    std::string body;
    std::string extra_headers; // complete header lines, each ending in \r\n
};

struct HttpServiceOptions {
    uint32_t threads = 1;
    size_t max_body_bytes = 64u << 20;       // requests with an Authorization header
    size_t max_public_body_bytes = 1u << 20; // requests without one (checked before buffering)
    uint32_t idle_timeout_ms = 60000;
    uint32_t request_timeout_ms = 30000; // a request's head and body must arrive within this
    uint32_t max_connections = 4096;     // whole server
};

class HttpService {
public:
    using Handler = std::function<ApiResponse(const ApiRequest&)>;

    static Result<std::unique_ptr<HttpService>>
    listen(const SocketAddress& addr, Handler h, HttpServiceOptions opt, std::string thread_name);
    ~HttpService();
    const SocketAddress& address() const { return addr_; }
    void start();
    void stop(); // idempotent; joins the threads

private:
    HttpService() = default;
    void run(int index);

    SocketAddress addr_;
    Handler handler_;
    HttpServiceOptions opt_;
    std::string thread_name_;
    std::vector<UniqueFd> listen_fds_; // one per thread (SO_REUSEPORT spreads connections)
    UniqueFd wake_fd_;
    std::vector<std::thread> threads_;
    std::atomic<bool> stop_{false};
    std::atomic<uint32_t> connections_{0};
};

using http::query_param;
using http::url_decode;

} // namespace vcdn::io
