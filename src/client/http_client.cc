#include <vcdn/client/http_client.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include <vcdn/base/time.h>

namespace vcdn::client {

HttpClient::HttpClient(io::SocketAddress server, int timeout_ms)
    : server_(server), timeout_ms_(timeout_ms) {}

Status HttpClient::connect() {
    fd_.reset(::socket(server_.family(), SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd_) return Error::from_errno("socket");
    int one = 1;
    ::setsockopt(fd_.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (::connect(fd_.get(), server_.sa(), server_.len) != 0 && errno != EINPROGRESS)
        return Error::from_errno("connect " + server_.to_string());
    pollfd p{fd_.get(), POLLOUT, 0};
    int r = ::poll(&p, 1, timeout_ms_);
    if (r <= 0) return Error{"connect " + server_.to_string() + ": timed out"};
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err) return Error::from_errno("connect " + server_.to_string(), err);
    buf_.clear();
    return {};
}

Status HttpClient::send_all(const std::string& data) {
    size_t off = 0;
    while (off < data.size()) {
        ssize_t n = ::send(fd_.get(), data.data() + off, data.size() - off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                pollfd p{fd_.get(), POLLOUT, 0};
                if (::poll(&p, 1, timeout_ms_) <= 0) return Error{"send: timed out"};
                continue;
            }
            return Error::from_errno("send");
        }
        off += static_cast<size_t>(n);
    }
    return {};
}

Status HttpClient::read_more() {
    char tmp[65536];
    for (;;) {
        ssize_t n = ::recv(fd_.get(), tmp, sizeof tmp, 0);
        if (n > 0) {
            buf_.append(tmp, static_cast<size_t>(n));
            return {};
        }
        if (n == 0) return Error{"connection closed by server"};
        if (errno == EAGAIN || errno == EINTR) {
            pollfd p{fd_.get(), POLLIN, 0};
            if (::poll(&p, 1, timeout_ms_) <= 0) return Error{"receive: timed out"};
            continue;
        }
        return Error::from_errno("recv");
    }
}

Result<Response> HttpClient::request(const std::string& method, const std::string& target,
                                     const std::vector<std::string>& headers,
                                     const std::string& body) {
    for (int attempt = 0; attempt < 2; ++attempt) {
        bool fresh = false;
        if (!fd_) {
            if (Status s = connect(); !s) return s.error();
            fresh = true;
        }
        std::string req =
            fmt::format("{} {} HTTP/1.1\r\nHost: {}\r\n", method, target, server_.to_string());
        for (const std::string& h : headers)
            req += h + "\r\n";
        if (!body.empty() || method == "POST" || method == "PUT")
            req += fmt::format("Content-Length: {}\r\n", body.size());
        req += "\r\n";
        req += body;
        const int64_t t0 = monotonic_ns();
        Status s = send_all(req);
        Response resp;
        std::string perr;
        while (s) {
            http::ResponseParse pr = http::parse_response_head(buf_, &resp.head, &perr);
            if (pr == http::ResponseParse::kError) return Error{"bad response: " + perr};
            if (pr == http::ResponseParse::kComplete) break;
            s = read_more();
        }
        if (!s) {
            fd_.reset();
            // A kept-alive connection the server closed meanwhile: retry once on a new one.
            if (!fresh && buf_.empty()) continue;
            return s.error();
        }
        buf_.erase(0, resp.head.head_bytes);
        const bool bodiless = method == "HEAD" || resp.head.status == 304 ||
                              resp.head.status == 204 || resp.head.status < 200;
        if (!bodiless) {
            if (resp.head.chunked) return Error{"chunked responses are not supported"};
            if (resp.head.has_content_length) {
                while (buf_.size() < resp.head.content_length) {
                    if (Status r = read_more(); !r) {
                        fd_.reset();
                        return Error{fmt::format("body cut short at {} of {} bytes: {}",
                                                 buf_.size(), resp.head.content_length,
                                                 r.error().message)};
                    }
                }
                resp.body = buf_.substr(0, resp.head.content_length);
                buf_.erase(0, resp.head.content_length);
            } else {
                while (read_more()) {
                }
                resp.body = std::move(buf_);
                buf_.clear();
                fd_.reset();
            }
        }
        resp.duration_us = (monotonic_ns() - t0) / 1000;
        if (resp.head.connection_close) fd_.reset();
        return resp;
    }
    return Error{"request failed"};
}

Result<Response> http_get(const io::SocketAddress& server, const std::string& target,
                          int timeout_ms) {
    HttpClient c(server, timeout_ms);
    return c.request("GET", target);
}

} // namespace vcdn::client
