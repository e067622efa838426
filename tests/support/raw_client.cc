#include "raw_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>

namespace vcdn::test {

UniqueFd connect_to(uint16_t port, const std::string& host, int timeout_ms,
                    const std::string& source, int rcvbuf) {
    bool v6 = host.find(':') != std::string::npos;
    UniqueFd fd(::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (rcvbuf > 0) ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    if (!source.empty()) {
        sockaddr_in src{};
        src.sin_family = AF_INET;
        inet_pton(AF_INET, source.c_str(), &src.sin_addr);
        if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&src), sizeof src) != 0) return UniqueFd();
    }
    int r;
    if (v6) {
        sockaddr_in6 a{};
        a.sin6_family = AF_INET6;
        a.sin6_port = htons(port);
        inet_pton(AF_INET6, host.c_str(), &a.sin6_addr);
        r = ::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a);
    } else {
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        inet_pton(AF_INET, host.c_str(), &a.sin_addr);
        r = ::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a);
    }
    if (r != 0) return UniqueFd();
    return fd;
}

bool send_all(int fd, const std::string& data) {
    size_t off = 0;
    while (off < data.size()) {
        ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
        if (n <= 0) return false;
        off += static_cast<size_t>(n);
    }
    return true;
}

static bool recv_more(int fd, std::string* buf, int timeout_ms) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) return false;
    char tmp[65536];
    ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buf->append(tmp, static_cast<size_t>(n));
    return true;
}

RawResponse read_response(int fd, std::string* carry, bool head_request, int timeout_ms) {
    RawResponse r;
    std::string& buf = *carry;
    std::string err;
    for (;;) {
        auto pr = http::parse_response_head(buf, &r.head, &err);
        if (pr == http::ResponseParse::kError) {
            r.error = "bad response head: " + err;
            return r;
        }
        if (pr == http::ResponseParse::kComplete) break;
        if (!recv_more(fd, &buf, timeout_ms)) {
            r.error =
                buf.empty() ? "no response (closed or timed out)" : "incomplete response head";
            return r;
        }
    }
    r.head_text = buf.substr(0, r.head.head_bytes);
    buf.erase(0, r.head.head_bytes);
    const bool bodiless = head_request || r.head.status == 304 || r.head.status == 204;
    if (!bodiless) {
        if (!r.head.has_content_length) {
            r.error = "no Content-Length";
            return r;
        }
        while (buf.size() < r.head.content_length) {
            if (!recv_more(fd, &buf, timeout_ms)) {
                r.error = "body cut short at " + std::to_string(buf.size()) + " of " +
                          std::to_string(r.head.content_length) + " bytes";
                return r;
            }
        }
        r.body = buf.substr(0, r.head.content_length);
        buf.erase(0, r.head.content_length);
    }
    r.ok = true;
    return r;
}

RawResponse fetch(uint16_t port, const std::string& raw_request, bool head_request) {
    UniqueFd fd = connect_to(port);
    RawResponse r;
    if (!fd || !send_all(fd.get(), raw_request)) {
        r.error = "connect/send failed";
        return r;
    }
    std::string carry;
    return read_response(fd.get(), &carry, head_request);
}

std::string get_request(const std::string& target, const std::string& extra,
                        const std::string& method) {
    return method + " " + target + " HTTP/1.1\r\nHost: t\r\n" + extra + "\r\n";
}

bool wait_closed(int fd, int timeout_ms) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    char tmp[65536];
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                        deadline - std::chrono::steady_clock::now())
                        .count();
        if (left <= 0) return false;
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left)) <= 0) return false;
        ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
        if (n == 0) return true;
        if (n < 0) return errno == ECONNRESET;
    }
}

std::string read_all(int fd, int timeout_ms) {
    std::string out;
    read_until_closed(fd, timeout_ms, &out);
    return out;
}

bool read_until_closed(int fd, int timeout_ms, std::string* data) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    char tmp[65536];
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                        deadline - std::chrono::steady_clock::now())
                        .count();
        if (left <= 0) return false;
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left)) <= 0) return false;
        ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
        if (n == 0) return true;
        if (n < 0) return errno == ECONNRESET;
        data->append(tmp, static_cast<size_t>(n));
    }
}

} // namespace vcdn::test
