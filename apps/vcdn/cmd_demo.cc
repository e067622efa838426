#include <atomic>
#include <csignal>
#include <memory>
#include <thread>

#include <vcdn/demo/demo.h>

#include "commands.h"

namespace vcdn::app {

Runner add_demo(CLI::App& app) {
    auto o = std::make_shared<demo::DemoOptions>();
    CLI::App* cmd = app.add_subcommand(
        "demo", "Run the whole CDN on this machine: an origin, a control plane, an ISP site of 2 "
                "edges and an exchange site of 1 edge (real processes on loopback); fill them, "
                "play them with simulated viewers from two client networks, kill an edge "
                "halfway, and print what the viewers saw.");
    cmd->add_option("--dir", o->dir, "Work directory (default: a new one under /tmp)");
    // Checked here, so that a bad value is exit 2 before anything is encoded or started.
    cmd->add_option("--duration", o->duration_s, "Seconds of playing (1-86400)")
        ->check(CLI::Range(1, 86400))
        ->capture_default_str();
    cmd->add_option("--players", o->players,
                    "Simulated players (2-200000: 70% and 30% from two networks)")
        ->check(CLI::Range(2, 200000))
        ->capture_default_str();
    cmd->add_option("--titles", o->titles, "Titles in the catalog (1-1000)")
        ->check(CLI::Range(1, 1000))
        ->capture_default_str();
    cmd->add_option("--seconds", o->seconds, "Length of each title in seconds (2-3600)")
        ->check(CLI::Range(2, 3600))
        ->capture_default_str();
    cmd->add_flag("--keep", o->keep, "Leave everything running afterwards until Ctrl-C");
    cmd->add_flag("--ci", o->ci,
                  "Non-interactive; the exit code is the verdict (processes up, "
                  "fill converged, no player error but the induced failover, "
                  "rebuffer ratio under 2%)");
    cmd->add_flag(
        "--no-kill", [o](int64_t) { o->kill_edge = false; }, "Do not kill an edge halfway");
    return [o]() -> int {
        return run_until_signal([&](const std::atomic<bool>& stop) { return demo::run(*o, stop); });
    };
}

} // namespace vcdn::app
