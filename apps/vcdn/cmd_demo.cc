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
        "demo", "Run the CDN on this machine: make a catalog, start an edge on loopback, play it "
                "with simulated players that verify every byte, and print what they saw.");
    cmd->add_option("--dir", o->dir, "Work directory (default: a new one under /tmp)");
    cmd->add_option("--duration", o->duration_s, "Seconds of playing")->capture_default_str();
    cmd->add_option("--players", o->players, "Simulated players")->capture_default_str();
    cmd->add_option("--titles", o->titles, "Titles in the catalog")->capture_default_str();
    cmd->add_flag("--keep", o->keep, "Leave the edge running afterwards until Ctrl-C");
    cmd->add_flag("--ci", o->ci, "Short, non-interactive run for CI; the exit code is the verdict");
    cmd->add_option("--listen", o->listen, "Edge listen address")->capture_default_str();
    return [o]() -> int {
        block_signals();
        std::atomic<bool> stop{false};
        std::atomic<bool> done{false};
        std::thread sig([&] {
            while (!done.load()) {
                int s = wait_signal(200);
                if (s == SIGINT || s == SIGTERM) stop.store(true);
            }
        });
        int rc = demo::run(*o, stop);
        done.store(true);
        sig.join();
        return rc;
    };
}

} // namespace vcdn::app
