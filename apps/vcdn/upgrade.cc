#include "upgrade.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include <vcdn/base/log.h>
#include <vcdn/base/sd_notify.h>
#include <vcdn/base/time.h>

extern char** environ;

namespace vcdn::app {

namespace {
std::vector<std::string> g_args;
std::string g_exe; // the executable as it was at start (a package upgrade replaces the file)

constexpr const char* kListenersEnv = "VCDN_UPGRADE_LISTENERS";
constexpr const char* kAdminEnv = "VCDN_UPGRADE_ADMIN";
constexpr const char* kChannelEnv = "VCDN_UPGRADE_CHANNEL";
constexpr int64_t kHealthSilenceMs = 3000;
constexpr unsigned kCloseRangeCloexec = 1u << 2; // CLOSE_RANGE_CLOEXEC (Linux 5.11)

// Lines from a non-blocking socket: appended to *buf; false on EOF or error.
bool read_lines(int fd, std::string* buf) {
    char tmp[512];
    for (;;) {
        const ssize_t n = ::recv(fd, tmp, sizeof tmp, MSG_DONTWAIT);
        if (n > 0) {
            if (buf->size() < 65536) buf->append(tmp, static_cast<size_t>(n));
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
        if (n < 0 && errno == EINTR) continue;
        return false;
    }
}

bool next_line(std::string* buf, std::string* line) {
    const size_t nl = buf->find('\n');
    if (nl == std::string::npos) return false;
    *line = buf->substr(0, nl);
    buf->erase(0, nl + 1);
    return true;
}

bool say(int fd, std::string_view what) {
    return ::send(fd, what.data(), what.size(), MSG_DONTWAIT | MSG_NOSIGNAL) ==
           static_cast<ssize_t>(what.size());
}

// A descriptor number from the environment: a plain decimal, nothing else.
bool parse_fd(std::string_view s, int* out) {
    if (s.empty() || s.size() > 6) return false;
    int v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return false;
        v = v * 10 + (c - '0');
    }
    if (v < 3) return false;
    *out = v;
    return true;
}
} // namespace

void save_process_args(int argc, char** argv) {
    g_args.assign(argv, argv + argc);
    char path[PATH_MAX];
    const ssize_t n = ::readlink("/proc/self/exe", path, sizeof path - 1);
    if (n > 0) g_exe.assign(path, static_cast<size_t>(n));
}

Result<std::unique_ptr<UpgradeAttempt>>
UpgradeAttempt::start(const std::string& binary,
                      const std::vector<std::pair<uint8_t, int>>& listeners, int admin_fd,
                      const edge::UpgradeConfig& cfg) {
    const std::string exe = !binary.empty() ? binary : g_exe;
    if (exe.empty() || g_args.empty()) return Error{"the executable's path is not known"};
    if (::access(exe.c_str(), X_OK) != 0)
        return Error{fmt::format("{}: {}", exe, std::strerror(errno))};
    if (listeners.empty()) return Error{"no listening sockets to hand over"};
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return Error{fmt::format("socketpair: {}", std::strerror(errno))};
    std::unique_ptr<UpgradeAttempt> a(new UpgradeAttempt());
    a->channel_.reset(sv[0]);
    UniqueFd theirs(sv[1]);
    a->cfg_ = cfg;

    // Everything the child needs is built before fork: after it, only async-signal-safe calls.
    std::string list;
    std::vector<int> pass;
    for (const auto& [index, fd] : listeners) {
        list += fmt::format("{}{}:{}", list.empty() ? "" : ",", index, fd);
        pass.push_back(fd);
    }
    if (admin_fd >= 0) pass.push_back(admin_fd);
    pass.push_back(theirs.get());
    std::vector<std::string> env;
    for (char** e = environ; e && *e; ++e) {
        std::string_view kv(*e);
        if (kv.starts_with("VCDN_UPGRADE_")) continue;
        // The watchdog is for the service's main process: this one until it hands over, then
        // the new one, whose pid is not known here (without WATCHDOG_PID it is anyone's).
        if (kv.starts_with("WATCHDOG_PID=")) continue;
        env.emplace_back(kv);
    }
    env.push_back(fmt::format("{}={}", kListenersEnv, list));
    if (admin_fd >= 0) env.push_back(fmt::format("{}={}", kAdminEnv, admin_fd));
    env.push_back(fmt::format("{}={}", kChannelEnv, theirs.get()));
    std::vector<char*> envp, argv;
    for (std::string& s : env)
        envp.push_back(s.data());
    envp.push_back(nullptr);
    std::vector<std::string> args = g_args;
    for (std::string& s : args)
        argv.push_back(s.data());
    argv.push_back(nullptr);

    const pid_t pid = ::fork();
    if (pid < 0) return Error{fmt::format("fork: {}", std::strerror(errno))};
    if (pid == 0) {
        // Only async-signal-safe calls from here. Nothing of this process but the handed-over
        // descriptors crosses the exec (libraries' sockets may lack O_CLOEXEC), and the new
        // process starts with no signal blocked (a wrapper script must see SIGTERM).
        ::syscall(SYS_close_range, 3u, ~0u, kCloseRangeCloexec);
        for (int fd : pass)
            ::fcntl(fd, F_SETFD, 0); // inherited across exec
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        ::signal(SIGPIPE, SIG_DFL);
        ::execve(exe.c_str(), argv.data(), envp.data());
        _exit(127);
    }
    a->pid_ = pid;
    a->started_ms_ = monotonic_ms();
    log::info("upgrade: started {} as pid {} with {} listening socket(s); waiting up to {} ms for "
              "it to be ready",
              exe, pid, listeners.size() + (admin_fd >= 0), cfg.start_timeout_ms);
    return a;
}

UpgradeAttempt::~UpgradeAttempt() {
    if (pid_ > 0 && !reaped_ && state_ != State::kTakenOver) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
    }
}

void UpgradeAttempt::fail(std::string why, std::string* out) {
    state_ = State::kFailed;
    *out = std::move(why);
}

UpgradeAttempt::State UpgradeAttempt::poll(std::string* why) {
    const int64_t now = monotonic_ms();
    if (!reaped_ && pid_ > 0) {
        int st = 0;
        if (::waitpid(pid_, &st, WNOHANG) == pid_) {
            reaped_ = true;
            if (state_ == State::kStarting || state_ == State::kGrace)
                fail(WIFEXITED(st)
                         ? fmt::format("the new process exited with status {}{}", WEXITSTATUS(st),
                                       WEXITSTATUS(st) == 127 ? " (could not run it)" : "")
                         : fmt::format("the new process was killed by signal {}", WTERMSIG(st)),
                     why);
            return state_;
        }
    }
    if (state_ == State::kFailed || state_ == State::kTakenOver) return state_;
    const bool open = read_lines(channel_.get(), &buf_);
    std::string line;
    while (next_line(&buf_, &line)) {
        if (line == "R" && state_ == State::kStarting) {
            state_ = State::kGrace;
            ready_ms_ = last_healthy_ms_ = now;
        } else if (line == "H") {
            last_healthy_ms_ = now;
        } else if (line.starts_with("U ")) {
            fail("the new process is unhealthy: " + line.substr(2, 200), why);
            return state_;
        }
    }
    if (!open) {
        fail("the new process closed its channel", why);
        return state_;
    }
    if (state_ == State::kStarting && now - started_ms_ > int64_t{cfg_.start_timeout_ms})
        fail(fmt::format("the new process was not ready within {} ms", cfg_.start_timeout_ms), why);
    else if (state_ == State::kGrace && now - last_healthy_ms_ > kHealthSilenceMs)
        fail(fmt::format("the new process stopped reporting healthy for {} ms", kHealthSilenceMs),
             why);
    return state_;
}

bool UpgradeAttempt::grace_passed() const {
    return state_ == State::kGrace && monotonic_ms() - ready_ms_ >= int64_t{cfg_.grace_ms};
}

void UpgradeAttempt::hand_over() {
    say(channel_.get(), "T\n");
    state_ = State::kTakenOver;
    channel_.reset();
}

void UpgradeAttempt::abandon() {
    state_ = State::kFailed;
    abandoned_ms_ = monotonic_ms();
    if (channel_) say(channel_.get(), "A\n"); // before the SIGTERM: it must not take over
    if (!reaped_ && pid_ > 0) ::kill(pid_, SIGTERM);
    channel_.reset();
}

bool UpgradeAttempt::reap(int64_t kill_after_ms) {
    if (reaped_ || pid_ <= 0) return true;
    if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        reaped_ = true;
        return true;
    }
    if (monotonic_ms() - abandoned_ms_ > kill_after_ms) ::kill(pid_, SIGKILL);
    return false;
}

std::unique_ptr<UpgradeChild> UpgradeChild::from_environment(edge::Handoff* handoff) {
    const char* ch = std::getenv(kChannelEnv);
    const char* ls = std::getenv(kListenersEnv);
    const char* ad = std::getenv(kAdminEnv);
    std::unique_ptr<UpgradeChild> c;
    int fd = -1;
    if (ch && ls && parse_fd(ch, &fd)) {
        c.reset(new UpgradeChild());
        c->channel_.reset(fd);
        c->parent_ = ::getppid();
        std::string_view rest(ls);
        while (!rest.empty()) {
            const size_t comma = std::min(rest.find(','), rest.size());
            std::string_view item = rest.substr(0, comma);
            rest.remove_prefix(std::min(rest.size(), comma + 1));
            const size_t colon = item.find(':');
            int index = 0, lfd = -1;
            if (colon == std::string_view::npos || colon == 0 || colon > 2 ||
                !parse_fd(item.substr(colon + 1), &lfd))
                continue;
            for (char d : item.substr(0, colon))
                index = index * 10 + (d >= '0' && d <= '9' ? d - '0' : 1000);
            if (index > 255) continue;
            ::fcntl(lfd, F_SETFD, FD_CLOEXEC);
            handoff->listeners.emplace_back(static_cast<uint8_t>(index), UniqueFd(lfd));
        }
        int afd = -1;
        if (ad && parse_fd(ad, &afd)) {
            ::fcntl(afd, F_SETFD, FD_CLOEXEC);
            handoff->admin.reset(afd);
        }
        ::fcntl(fd, F_SETFD, FD_CLOEXEC);
        handoff->defer_fill = true;
        sd::set_muted(true); // not the service's main process yet
        log::info("upgrade: started by pid {} with {} listening socket(s) handed over", ::getppid(),
                  handoff->listeners.size() + (handoff->admin ? 1 : 0));
    }
    ::unsetenv(kChannelEnv);
    ::unsetenv(kListenersEnv);
    ::unsetenv(kAdminEnv);
    return c;
}

void UpgradeChild::ready() {
    say(channel_.get(), "R\n");
    next_ms_ = monotonic_ms() + 500;
}

UpgradeChild::Verdict UpgradeChild::tick(const std::string& problem) {
    if (!channel_) return Verdict::kAbandoned;
    const bool open = read_lines(channel_.get(), &buf_);
    std::string line;
    while (next_line(&buf_, &line)) {
        if (line == "T") {
            log::info("upgrade: the old process handed over: this one (pid {}) is the service",
                      ::getpid());
            channel_.reset();
            return Verdict::kTakeOver;
        }
        if (line == "A") {
            log::warn("upgrade: the old process rolled back: this one (pid {}) retires",
                      ::getpid());
            channel_.reset();
            return Verdict::kAbandoned;
        }
    }
    if (!open) {
        channel_.reset();
        if (::getppid() != parent_) {
            log::warn("upgrade: the process that started this one died before handing over: "
                      "this one (pid {}) is the service",
                      ::getpid());
            return Verdict::kTakeOver;
        }
        log::warn("upgrade: the old process closed the channel without handing over: this one "
                  "(pid {}) retires",
                  ::getpid());
        return Verdict::kAbandoned;
    }
    const int64_t now = monotonic_ms();
    if (now >= next_ms_) {
        next_ms_ = now + 500;
        say(channel_.get(),
            problem.empty() ? std::string("H\n") : "U " + problem.substr(0, 200) + "\n");
    }
    return Verdict::kWaiting;
}

} // namespace vcdn::app
