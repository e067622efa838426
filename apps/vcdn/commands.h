#pragma once
// Each subcommand registers its flags on the CLI11 app and returns the function that runs it.
#include <CLI/CLI.hpp>
#include <atomic>
#include <functional>

#include <algorithm>

#include <vcdn/base/sd_notify.h>
#include <vcdn/base/time.h>
#include <vcdn/edge/config.h>

namespace vcdn::app {

using Runner = std::function<int()>;

Runner add_edge(CLI::App& app);
Runner add_catalog(CLI::App& app);
Runner add_demo(CLI::App& app);
Runner add_sign(CLI::App& app);
Runner add_bgp_config(CLI::App& app);
Runner add_sim(CLI::App& app);
Runner add_control(CLI::App& app);
Runner add_origin(CLI::App& app);
Runner add_play(CLI::App& app);
Runner add_cert(CLI::App& app);

// Validates the config, runs an edge server until SIGTERM/SIGINT (drain) and returns the exit
// code; `name` is the subcommand for messages ("edge", "origin"). `check_only`
// (--check-config): checks it as the server would and says so, without starting anything.
// `load` reads the config file and applies the flags over it: at start (an error: exit 2) and
// again on every SIGHUP (an error: logged, counted, the running config stays).
using ServerConfigLoader = std::function<vcdn::Result<vcdn::edge::EdgeConfig>()>;
int run_edge_server(const ServerConfigLoader& load, const char* name, bool check_only = false);
// "vcdn <name>: <line>" on stderr for each line of a (multi-line) error: one per problem.
void print_errors(const char* name, const std::string& message);
// The [edge] section of `config_path` (if any), then `--root` flags over it (one line per
// problem in the error).
vcdn::Status load_server_config(const std::string& config_path,
                                const std::vector<std::string>& roots, vcdn::edge::EdgeConfig* cfg);

// Blocks SIGINT/SIGTERM/SIGHUP in the calling thread (and the threads it starts later), so
// that they can be waited for with sigtimedwait; ignores SIGPIPE.
void block_signals();
// Waits up to timeout_ms for one of the blocked signals; returns it, or 0 on timeout.
int wait_signal(int timeout_ms);
// Blocks the signals, runs `body` with a flag that SIGINT/SIGTERM set, returns its code.
int run_until_signal(const std::function<int(const std::atomic<bool>&)>& body);

// The service manager's watchdog (WatchdogSec=): fed every half interval, when the caller's
// liveness check passes. Inert when the manager asked for none.
struct Watchdog {
    explicit Watchdog(uint64_t usec)
        : half_ms(usec ? std::max<int64_t>(1, static_cast<int64_t>(usec / 2000)) : 0) {}
    int64_t half_ms;
    int64_t next_ms = 0;
    bool due() const { return half_ms > 0 && monotonic_ms() >= next_ms; }
    // Feeds it when `alive`; returns `alive`.
    bool feed(bool alive) {
        next_ms = monotonic_ms() + half_ms;
        if (alive) sd::watchdog();
        return alive;
    }
    // How long a wait may last before the next feeding is due (at most `longest`).
    int wait_ms(int longest) const {
        if (!half_ms) return longest;
        return static_cast<int>(std::clamp<int64_t>(next_ms - monotonic_ms(), 1, longest));
    }
};

} // namespace vcdn::app
