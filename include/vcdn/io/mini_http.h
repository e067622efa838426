#pragma once
// A small HTTP/1.1 server for low-rate endpoints (admin /metrics and /healthz): one thread,
// epoll, bounded request size, answers and closes. Not for content: the edge's workers are.
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <vcdn/base/result.h>
#include <vcdn/base/unique_fd.h>
#include <vcdn/http/request.h>
#include <vcdn/io/address.h>

namespace vcdn::io {

struct MiniResponse {
    uint16_t status = 200;
    std::string content_type = "text/plain; charset=utf-8";
    std::string body;
};

class MiniHttpServer {
public:
    using Handler = std::function<MiniResponse(const http::Request& req, std::string_view path)>;

    static Result<std::unique_ptr<MiniHttpServer>> listen(const SocketAddress& addr, Handler h,
                                                          std::string thread_name);
    ~MiniHttpServer();
    const SocketAddress& address() const { return addr_; }
    void start();
    void stop();

private:
    MiniHttpServer() = default;
    void run();

    SocketAddress addr_;
    Handler handler_;
    std::string thread_name_;
    UniqueFd listen_fd_;
    UniqueFd wake_fd_;
    std::thread thread_;
    std::atomic<bool> stop_{false};
};

} // namespace vcdn::io
