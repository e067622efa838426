#pragma once
// `vcdn demo`: the system on one machine in one command. For now (edge v1) it makes a
// catalog, starts an edge on loopback, plays it like a set of video players (sequential
// ~100 KiB ranges, every byte checked against the catalog) and prints what they saw.
#include <atomic>
#include <cstdint>
#include <string>

namespace vcdn::demo {

struct DemoOptions {
    std::string dir; // work directory; empty = a new one under /tmp
    uint32_t duration_s = 10;
    uint32_t players = 16;
    uint32_t titles = 6;
    uint32_t seconds = 30; // length of each title
    bool keep = false;     // leave the edge running until interrupted
    bool ci = false;       // short, quiet, exit code reflects the outcome
    std::string listen = "127.0.0.1:0";
    std::string admin = "127.0.0.1:0";
};

// Runs the demo; returns the process exit code. `stop` is polled (set from a signal).
int run(const DemoOptions& opt, const std::atomic<bool>& stop);

} // namespace vcdn::demo
