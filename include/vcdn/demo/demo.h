#pragma once
// `vcdn demo`: the whole CDN on one machine in one command. Makes a catalog, starts an origin,
// a control plane (SQLite in the work directory) and two sites: an ISP-embedded site with two
// edges (clients 127.1.0.0/16) and an exchange site with one edge (clients 127.2.0.0/16 that
// only it covers), all as real `vcdn` processes on loopback. Imports the catalog and a Zipf
// popularity, waits for the edges to fill (the ISP site from the exchange and its peers), runs
// simulated players from both client networks, kills one ISP edge halfway to show the players
// failing over, and prints per-site and per-player results and the dashboard URL.
//
// Threads: run() blocks its caller until the demo ends; `stop` may be set from a signal thread.
#include <atomic>
#include <cstdint>
#include <string>

namespace vcdn::demo {

struct DemoOptions {
    std::string dir; // work directory; empty = a new one under /tmp
    uint32_t duration_s = 30;
    uint32_t players = 300;
    uint32_t titles = 8;
    uint32_t seconds = 60; // length of each title
    bool keep = false;     // leave everything running until interrupted
    bool ci = false;       // short and non-interactive; the exit code is the verdict
    bool kill_edge = true; // kill one ISP edge halfway through
};

// Runs the demo; returns the process exit code. `stop` is polled (set from a signal).
int run(const DemoOptions& opt, const std::atomic<bool>& stop);

} // namespace vcdn::demo
