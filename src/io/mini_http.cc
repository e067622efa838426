#include <vcdn/io/mini_http.h>

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>

#include <vcdn/base/log.h>
#include <vcdn/base/time.h>
#include <vcdn/http/date.h>
#include <vcdn/http/request_parser.h>
#include <vcdn/http/response_writer.h>
#include <vcdn/http/target.h>
#include <vcdn/io/tcp.h>

namespace vcdn::io {

namespace {
constexpr size_t kMaxRequest = 16384;
constexpr int64_t kTimeoutMs = 5000;
constexpr size_t kMaxClients = 128;

struct Client {
    UniqueFd fd;
    std::string in;
    std::string out;
    size_t sent = 0;
    int64_t deadline = 0;
    http::ScanState scan;
};

std::string render(const MiniResponse& r, bool head) {
    std::string s = fmt::format("HTTP/1.1 {} {}\r\nServer: vcdn\r\nDate: {}\r\n"
                                "Content-Type: {}\r\nContent-Length: {}\r\n"
                                "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
                                r.status, http::status_reason(r.status),
                                http::http_date(time(nullptr)), r.content_type, r.body.size());
    if (!head) s += r.body;
    return s;
}
} // namespace

Result<std::unique_ptr<MiniHttpServer>> MiniHttpServer::listen(const SocketAddress& addr, Handler h,
                                                               std::string name) {
    std::unique_ptr<MiniHttpServer> s(new MiniHttpServer());
    ListenOptions opt;
    opt.reuse_port = false;
    opt.defer_accept = false;
    opt.backlog = 64;
    auto fd = listen_tcp(addr, opt);
    if (!fd) return fd.error();
    auto bound = local_address(fd->get());
    if (!bound) return bound.error();
    s->addr_ = *bound;
    s->listen_fd_ = std::move(*fd);
    s->handler_ = std::move(h);
    s->thread_name_ = std::move(name);
    s->wake_fd_.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    return s;
}

MiniHttpServer::~MiniHttpServer() {
    stop();
}

void MiniHttpServer::start() {
    thread_ = std::thread([this] { run(); });
}

void MiniHttpServer::stop() {
    if (!thread_.joinable()) return;
    stop_.store(true);
    uint64_t one = 1;
    (void)!::write(wake_fd_.get(), &one, sizeof one);
    thread_.join();
}

void MiniHttpServer::run() {
    pthread_setname_np(pthread_self(), thread_name_.substr(0, 15).c_str());
    UniqueFd ep(::epoll_create1(EPOLL_CLOEXEC));
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = listen_fd_.get();
    ::epoll_ctl(ep.get(), EPOLL_CTL_ADD, listen_fd_.get(), &ev);
    ev.data.fd = wake_fd_.get();
    ::epoll_ctl(ep.get(), EPOLL_CTL_ADD, wake_fd_.get(), &ev);
    std::map<int, Client> clients;
    UniqueFd reserve_fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    http::ParseLimits limits;
    limits.max_head_bytes = kMaxRequest;
    char buf[4096];

    auto finish = [&](int fd) {
        clients.erase(fd); // closes
    };
    auto pump_out = [&](Client& c) -> bool { // true when done
        while (c.sent < c.out.size()) {
            ssize_t n = ::send(c.fd.get(), c.out.data() + c.sent, c.out.size() - c.sent,
                               MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n < 0) return !(errno == EAGAIN || errno == EINTR);
            c.sent += static_cast<size_t>(n);
        }
        return true;
    };

    while (!stop_.load()) {
        epoll_event evs[64];
        int n = ::epoll_wait(ep.get(), evs, 64, 500);
        int64_t now = monotonic_ms();
        for (int i = 0; i < n; ++i) {
            int fd = evs[i].data.fd;
            if (fd == wake_fd_.get()) continue;
            if (fd == listen_fd_.get()) {
                for (;;) {
                    int cfd =
                        ::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (cfd < 0 && (errno == EMFILE || errno == ENFILE) && reserve_fd) {
                        // Out of descriptors: answer with the spare one instead of leaving
                        // the client hanging (and this level-triggered loop spinning).
                        reserve_fd.reset();
                        int tmp = ::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC);
                        if (tmp >= 0) {
                            static const char kBusy[] =
                                "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 38\r\n"
                                "Connection: close\r\n\r\n503 Service Unavailable: out of files\n";
                            (void)!::send(tmp, kBusy, sizeof kBusy - 1,
                                          MSG_DONTWAIT | MSG_NOSIGNAL);
                            ::close(tmp);
                        }
                        reserve_fd.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
                        continue;
                    }
                    if (cfd < 0) break;
                    if (clients.size() >= kMaxClients) {
                        ::close(cfd);
                        continue;
                    }
                    Client& c = clients[cfd];
                    c.fd.reset(cfd);
                    c.deadline = now + kTimeoutMs;
                    epoll_event cev{};
                    cev.events = EPOLLIN | EPOLLOUT | EPOLLET | EPOLLRDHUP;
                    cev.data.fd = cfd;
                    ::epoll_ctl(ep.get(), EPOLL_CTL_ADD, cfd, &cev);
                }
                continue;
            }
            auto it = clients.find(fd);
            if (it == clients.end()) continue;
            Client& c = it->second;
            if (!c.out.empty()) {
                if (pump_out(c)) finish(fd);
                continue;
            }
            bool closed = false;
            for (;;) {
                ssize_t r = ::recv(fd, buf, sizeof buf, 0);
                if (r > 0) {
                    c.in.append(buf, static_cast<size_t>(r));
                    if (c.in.size() > kMaxRequest) break;
                    continue;
                }
                if (r == 0) closed = true;
                break;
            }
            http::Request req;
            http::ParseResult pr =
                http::parse_request(c.in.data(), c.in.size(), limits, &c.scan, &req);
            if (pr.status == http::ParseStatus::kIncomplete) {
                if (closed) finish(fd);
                continue;
            }
            MiniResponse resp;
            bool head = false;
            if (pr.status == http::ParseStatus::kError) {
                resp.status = pr.error_status;
                resp.body = fmt::format("{} {}: {}\n", pr.error_status,
                                        http::status_reason(pr.error_status), pr.error_reason);
            } else if (req.method != http::Method::kGet && req.method != http::Method::kHead) {
                resp.status = 405;
                resp.body = "405 Method Not Allowed: only GET and HEAD\n";
            } else {
                head = req.method == http::Method::kHead;
                char pbuf[2048];
                http::Target t;
                if (http::parse_target(req.target, pbuf, sizeof pbuf, &t) !=
                    http::TargetError::kNone) {
                    resp.status = 400;
                    resp.body = "400 Bad Request: bad path\n";
                } else {
                    try {
                        resp = handler_(req, t.path);
                    } catch (const std::exception& e) {
                        resp.status = 500;
                        resp.body = fmt::format("500 Internal Server Error: {}\n", e.what());
                    }
                }
            }
            c.out = render(resp, head);
            if (pump_out(c)) finish(fd);
        }
        // Expire slow clients.
        for (auto it = clients.begin(); it != clients.end();) {
            if (it->second.deadline < now)
                it = clients.erase(it);
            else
                ++it;
        }
    }
}

} // namespace vcdn::io
