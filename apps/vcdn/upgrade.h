#pragma once
// Zero-downtime upgrade of `vcdn edge` / `vcdn origin` (SIGUSR2), the analogue of an Open
// Connect appliance's firmware flow with automatic rollback:
//
//   old: SIGUSR2 -> starts the new binary with its own arguments, the listening sockets (and
//        the admin listener's) inherited, and one end of a socketpair, the channel.
//   new: binds nothing it was handed, scans its roots, starts its workers; does not tell the
//        service manager anything yet; says "R" on the channel, then "H" (healthy) or
//        "U <why>" every 500 ms.
//   old: at "R" stops accepting (the new one accepts from the very same sockets: no
//        connection is refused or lost in a queue) and serves the connections it has. After
//        grace_ms of "H" it stops its fill, sends MAINPID=<new> to the service manager, says
//        "T" (take over) and drains as on SIGTERM. The new one then starts its fill and feeds
//        the watchdog.
//   If the new one does not say "R" within start_timeout_ms, exits, says "U", or stops saying
//   "H" for 3 s before "T", the old one accepts again, says "A" (abandoned) and stops the new
//   one with SIGTERM (it drains what it took, never becoming the service) and reports the
//   failure: log line, vcdn_edge_upgrades_total. The new one becomes the service only on "T",
//   or when the old process is gone (it died: nobody else serves).
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <vcdn/base/result.h>
#include <vcdn/base/unique_fd.h>
#include <vcdn/edge/server.h>

namespace vcdn::app {

// main() saves its arguments: the new process gets the same ones.
void save_process_args(int argc, char** argv);

// The old process's side: one upgrade attempt.
class UpgradeAttempt {
public:
    enum class State { kStarting, kGrace, kTakenOver, kFailed };
    // Starts `binary` (empty: the executable this process was started from), handing it the
    // sockets. The grace and start timeouts come from `cfg`.
    static Result<std::unique_ptr<UpgradeAttempt>>
    start(const std::string& binary, const std::vector<std::pair<uint8_t, int>>& listeners,
          int admin_fd, const edge::UpgradeConfig& cfg);
    ~UpgradeAttempt();
    // Reads the channel and checks the new process; moves the state on. *why: what failed.
    State poll(std::string* why);
    State state() const { return state_; }
    pid_t pid() const { return pid_; }
    // The new process has been ready and healthy for grace_ms.
    bool grace_passed() const;
    // Grace passed: tells the new process it is the service now.
    void hand_over();
    // Failed: SIGTERM to the new process (it drains what it took).
    void abandon();
    // After abandon(): true once the new process is reaped; SIGKILL past kill_after_ms.
    bool reap(int64_t kill_after_ms);

private:
    UpgradeAttempt() = default;
    pid_t pid_ = -1;
    UniqueFd channel_;
    edge::UpgradeConfig cfg_;
    State state_ = State::kStarting;
    int64_t started_ms_ = 0, ready_ms_ = 0, last_healthy_ms_ = 0, abandoned_ms_ = 0;
    bool reaped_ = false;
    std::string buf_;
    void fail(std::string why, std::string* out);
};

// The new process's side: what was handed over (from the environment, which is then cleared
// so that nothing it starts inherits it) and the channel back.
class UpgradeChild {
public:
    // Empty when this process was not started by an upgrade.
    static std::unique_ptr<UpgradeChild> from_environment(edge::Handoff* handoff);
    void ready();
    enum class Verdict { kWaiting, kTakeOver, kAbandoned };
    // Every 500 ms: "H" or "U <problem>". kTakeOver once the old process said "T" or died:
    // this process is the service now (the caller starts its fill, unmutes sd_notify).
    // kAbandoned when the old one rolled back ("A", or closed the channel and lives on): this
    // one retires and drains (a SIGTERM follows).
    Verdict tick(const std::string& problem);

private:
    UniqueFd channel_;
    pid_t parent_ = 0;
    int64_t next_ms_ = 0;
    std::string buf_;
};

} // namespace vcdn::app
