#include "process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

namespace vcdn::test {

std::string vcdn_binary() {
    return VCDN_BINARY;
}

Process::~Process() {
    kill_and_reap();
}

bool Process::start(const std::vector<std::string>& argv, const SpawnOptions& opt) {
    int pipefd[2];
    if (::pipe2(pipefd, O_CLOEXEC) != 0) return false;
    pid_t pid = ::fork();
    if (pid < 0) return false;
    if (pid == 0) {
        // Child: stderr to the pipe, stdout too (so nothing is lost), stdin from a file.
        ::dup2(pipefd[1], 2);
        ::dup2(pipefd[1], 1);
        int in = ::open(opt.stdin_path.c_str(), O_RDONLY);
        if (in >= 0) ::dup2(in, 0);
        if (!opt.cwd.empty() && ::chdir(opt.cwd.c_str()) != 0) _exit(126);
        // If the test runner dies (a crash, a timeout's SIGKILL), its servers die with it.
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (opt.nofile_limit > 0) {
            rlimit rl{static_cast<rlim_t>(opt.nofile_limit), static_cast<rlim_t>(opt.nofile_limit)};
            ::setrlimit(RLIMIT_NOFILE, &rl);
        }
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        for (const std::string& e : opt.env)
            ::putenv(const_cast<char*>(e.c_str()));
        std::vector<char*> args;
        for (const std::string& a : argv)
            args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        ::execvp(args[0], args.data());
        dprintf(2, "exec %s: %s\n", args[0], strerror(errno));
        _exit(127);
    }
    ::close(pipefd[1]);
    pid_ = pid;
    reaped_ = false;
    reader_thread_ = std::thread([this, fd = pipefd[0]] { reader(fd); });
    return true;
}

void Process::reader(int fd) {
    char buf[4096];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n <= 0) break;
        std::lock_guard<std::mutex> lk(mu_);
        partial_.append(buf, static_cast<size_t>(n));
        size_t nl;
        while ((nl = partial_.find('\n')) != std::string::npos) {
            lines_.push_back(partial_.substr(0, nl));
            partial_.erase(0, nl + 1);
        }
        cv_.notify_all();
    }
    ::close(fd);
    std::lock_guard<std::mutex> lk(mu_);
    if (!partial_.empty()) lines_.push_back(partial_);
    eof_ = true;
    cv_.notify_all();
}

std::optional<std::vector<std::string>> Process::wait_for_line(const std::regex& re, int timeout_ms,
                                                               size_t from) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    std::unique_lock<std::mutex> lk(mu_);
    size_t checked = from;
    for (;;) {
        for (; checked < lines_.size(); ++checked) {
            std::smatch m;
            if (std::regex_search(lines_[checked], m, re)) {
                std::vector<std::string> groups;
                for (const auto& g : m)
                    groups.push_back(g.str());
                return groups;
            }
        }
        if (eof_) return std::nullopt;
        if (cv_.wait_until(lk, deadline) == std::cv_status::timeout && checked == lines_.size())
            return std::nullopt;
    }
}

size_t Process::line_count() {
    std::lock_guard<std::mutex> lk(mu_);
    return lines_.size();
}

bool Process::saw_line(const std::regex& re) {
    std::lock_guard<std::mutex> lk(mu_);
    for (const auto& l : lines_)
        if (std::regex_search(l, re)) return true;
    return false;
}

std::string Process::stderr_text() {
    std::lock_guard<std::mutex> lk(mu_);
    std::string s;
    for (const auto& l : lines_)
        s += l + "\n";
    return s + partial_;
}

void Process::signal(int sig) {
    if (pid_ > 0 && !reaped_) ::kill(pid_, sig);
}

std::optional<int> Process::wait_exit(int timeout_ms, bool read_all_output) {
    if (pid_ <= 0) return std::nullopt;
    if (reaped_) return exit_status_;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
        int st = 0;
        pid_t r = ::waitpid(pid_, &st, WNOHANG);
        if (r == pid_) {
            reaped_ = true;
            exit_status_ = st;
            if (read_all_output && reader_thread_.joinable()) reader_thread_.join();
            return st;
        }
        if (std::chrono::steady_clock::now() > deadline) return std::nullopt;
        ::usleep(5000);
    }
}

bool Process::running() {
    if (pid_ <= 0 || reaped_) return false;
    int st = 0;
    pid_t r = ::waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
        reaped_ = true;
        exit_status_ = st;
        return false;
    }
    return true;
}

void Process::kill_and_reap() {
    if (pid_ > 0 && !reaped_) {
        ::kill(pid_, SIGKILL);
        wait_exit(10000);
    }
    if (reader_thread_.joinable()) reader_thread_.join();
}

RunResult run_command(const std::vector<std::string>& argv, int timeout_ms) {
    Process p;
    RunResult r;
    if (!p.start(argv)) return r;
    auto st = p.wait_exit(timeout_ms);
    if (!st) {
        p.kill_and_reap();
        r.status = -1;
    } else if (WIFEXITED(*st)) {
        r.status = WEXITSTATUS(*st);
    } else if (WIFSIGNALED(*st)) {
        r.status = 128 + WTERMSIG(*st);
    }
    r.output = p.stderr_text();
    return r;
}

} // namespace vcdn::test
