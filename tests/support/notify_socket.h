#pragma once
// Test support: the service manager's side of the notify protocol (sd_notify(3)) — a unix
// datagram socket in a temp dir whose path goes into the child's NOTIFY_SOCKET, and the
// messages it received, in order.
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include <vcdn/base/unique_fd.h>

namespace vcdn::test {

class NotifySocket {
public:
    explicit NotifySocket(const std::string& path) : path_(path) {
        fd_ = UniqueFd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
        ::unlink(path.c_str());
        ok_ = fd_ && ::bind(fd_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    }
    bool ok() const { return ok_; }
    std::string env() const { return "NOTIFY_SOCKET=" + path_; }
    // The next message (one datagram), or "" after timeout_ms.
    std::string next(int timeout_ms) {
        pollfd p{fd_.get(), POLLIN, 0};
        if (::poll(&p, 1, timeout_ms) <= 0) return {};
        char buf[4096];
        const ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
        return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
    }
    // The next message that does not start with any of `skip` (e.g. "WATCHDOG=1"); "" after
    // timeout_ms in all. Skipped ones are counted in skipped().
    std::string next_except(const std::string& skip, int timeout_ms) {
        const auto deadline =
            std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
        for (;;) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                                  deadline - std::chrono::steady_clock::now())
                                  .count();
            if (left <= 0) return {};
            std::string m = next(static_cast<int>(left));
            if (m.empty()) return {};
            if (m.rfind(skip, 0) == 0) {
                ++skipped_;
                continue;
            }
            return m;
        }
    }
    size_t skipped() const { return skipped_; }

private:
    std::string path_;
    UniqueFd fd_;
    bool ok_ = false;
    size_t skipped_ = 0;
};

} // namespace vcdn::test
