// Hand-written rather than linking libsystemd: the protocol is one datagram of text to a unix
// socket, documented as stable (sd_notify(3), "reimplement it if you like"), and Debian's
// libsystemd-dev would tie the build to the exact libsystemd0 version (an upgrade of systemd's
// libraries on every build machine) for four lines of code.
#include <vcdn/base/sd_notify.h>

#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fmt/format.h>
#include <string>

#include <vcdn/base/log.h>
#include <vcdn/base/unique_fd.h>

namespace vcdn::sd {

namespace {
std::atomic<bool> g_muted{false};
}

void set_muted(bool muted) {
    g_muted.store(muted);
}

bool notify(std::string_view state) {
    if (g_muted.load()) return false;
    const char* path = std::getenv("NOTIFY_SOCKET");
    if (!path || !*path) return false;
    const size_t len = std::strlen(path);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    // An absolute path, or '@' for the abstract namespace (a leading NUL).
    if ((path[0] != '/' && path[0] != '@') || len >= sizeof addr.sun_path) {
        static std::atomic<bool> said{false};
        if (!said.exchange(true)) log::warn("sd_notify: NOTIFY_SOCKET '{}' is not usable", path);
        return false;
    }
    std::memcpy(addr.sun_path, path, len);
    if (path[0] == '@') addr.sun_path[0] = '\0';
    UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!fd) return false;
    const socklen_t alen = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len);
    const ssize_t n = ::sendto(fd.get(), state.data(), state.size(), MSG_NOSIGNAL,
                               reinterpret_cast<const sockaddr*>(&addr), alen);
    if (n != static_cast<ssize_t>(state.size())) {
        static std::atomic<bool> said{false};
        if (!said.exchange(true))
            log::warn("sd_notify: cannot send to {}: {}", path, std::strerror(errno));
        return false;
    }
    return true;
}

namespace {
std::string with_status(std::string_view head, std::string_view status) {
    std::string s(head);
    if (!status.empty()) {
        s += "\nSTATUS=";
        for (char c : status) // one line: the protocol is line-based
            s += c == '\n' ? ' ' : c;
    }
    return s;
}
} // namespace

void ready(std::string_view status) {
    notify(with_status("READY=1", status));
}

void reloading() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    const uint64_t usec =
        static_cast<uint64_t>(ts.tv_sec) * 1000000u + static_cast<uint64_t>(ts.tv_nsec) / 1000u;
    notify(fmt::format("RELOADING=1\nMONOTONIC_USEC={}", usec));
}

void stopping(std::string_view status) {
    notify(with_status("STOPPING=1", status));
}

uint64_t watchdog_usec() {
    const char* us = std::getenv("WATCHDOG_USEC");
    if (!us || !*us) return 0;
    if (const char* pid = std::getenv("WATCHDOG_PID"); pid && *pid)
        if (std::strtoll(pid, nullptr, 10) != static_cast<long long>(::getpid())) return 0;
    char* end = nullptr;
    const unsigned long long v = std::strtoull(us, &end, 10);
    return end && *end == '\0' ? v : 0;
}

void watchdog() {
    notify("WATCHDOG=1");
}

} // namespace vcdn::sd
