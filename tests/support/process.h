#pragma once
// Test support: start a real process (the vcdn binary, nginx, ...), capture its stderr, wait
// for a line, signal it by pid, and always reap it. Stops only what it started.
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

namespace vcdn::test {

struct SpawnOptions {
    std::vector<std::string> env; // extra "K=V"
    long nofile_limit = -1;       // RLIMIT_NOFILE (soft and hard) for the child; -1 = inherit
    std::string stdin_path = "/dev/null";
    std::string cwd;
};

class Process {
public:
    Process() = default;
    ~Process();
    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;

    bool start(const std::vector<std::string>& argv, const SpawnOptions& opt = {});
    pid_t pid() const { return pid_; }

    // Waits for an output line matching `re`; returns the match groups ([0] = whole match).
    // `from`: only lines from that index on (line_count() before an action: what it caused,
    // not an earlier line that looks the same).
    std::optional<std::vector<std::string>> wait_for_line(const std::regex& re,
                                                          int timeout_ms = 10000, size_t from = 0);
    // How many whole lines of output so far.
    size_t line_count();
    // True when some stderr line so far matches.
    bool saw_line(const std::regex& re);
    std::string stderr_text();

    void signal(int sig);
    // Waits for exit; returns the exit status (as from waitpid), or nullopt on timeout.
    // read_all_output: also wait until every holder of its stderr closed it (a process it started
    // may keep it: an upgraded edge).
    std::optional<int> wait_exit(int timeout_ms, bool read_all_output = true);
    // SIGKILL if still running, then reap.
    void kill_and_reap();
    bool running();

private:
    void reader(int fd);

    pid_t pid_ = -1;
    bool reaped_ = false;
    int exit_status_ = 0;
    std::thread reader_thread_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::vector<std::string> lines_;
    std::string partial_;
    bool eof_ = false;
};

// Runs a command to completion, capturing stdout+stderr; returns {exit status, output}.
struct RunResult {
    int status = -1; // exit code, or 128+signal
    std::string output;
};
RunResult run_command(const std::vector<std::string>& argv, int timeout_ms = 60000);

std::string vcdn_binary();

} // namespace vcdn::test
