#pragma once
// `vcdn play`: simulated viewers (and a raw range load generator) on epoll event loops.
//
// Player mode: each player picks a title (by popularity), asks the control plane's steering
// for the URLs of the file at the bitrate it wants, fetches the stream in chunk-sized range
// requests over keep-alive HTTP, keeps a playout buffer that drains in real time, adapts the
// bitrate with BBA-0 between the title's files, and fails over to the next URL of the ranked
// list on an error, a timeout or a stall, resuming at the right byte. Many players per
// thread; no thread per player.
//
// Ranges mode (run_ranges): each connection fetches random ranges of random files from one
// target as fast as it can (like wrk with a range script) and records latencies.
//
// Threads: run() and run_ranges() start their own loop threads and return when they are done;
// `stop` may be set from any thread.
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <vcdn/base/result.h>
#include <vcdn/player/abr.h>

namespace vcdn::player {

struct PlayConfig {
    std::string control; // "http://host:port": steering and QoE (the public listener)
    // Where the catalog list comes from (the control plane's admin listener, with the read
    // token); empty: `control`. https is verified against api_ca.
    std::string api;
    std::string api_ca;
    std::string read_token;
    uint32_t players = 10; // players, or connections in ranges mode
    uint32_t duration_s = 30;
    uint32_t threads = 1;              // event loops
    std::vector<uint32_t> titles;      // only these titles; empty = all, by popularity
    std::string client_net;            // CIDR: each player binds to its own address in it
    double chunk_s = 2;                // media seconds per request (bounded by the bytes below)
    uint64_t min_chunk_bytes = 100000; // ~100 KB
    uint64_t max_chunk_bytes = 2000000;
    double startup_s = 2; // buffer needed to start playing, and to resume after a stall
    double max_buffer_s = 30;
    uint32_t request_timeout_ms = 4000; // a request without its last byte by then: failover
    uint32_t stall_failover_ms = 1000;  // a stall while a request is this old: failover
    AbrConfig abr;
    bool send_qoe = true;
    uint64_t seed = 1;
};

Status validate(const PlayConfig& c);

struct RangesConfig {
    std::string target;       // "http://IP:PORT" of an edge
    std::string catalog_file; // catalog.json: the files (paths and sizes) to ask for
    uint32_t connections = 100;
    uint32_t threads = 1;
    uint32_t duration_s = 10;
    uint64_t range_bytes = 102400;
};

// Totals and per-session numbers of a run.
struct PlayReport {
    nlohmann::json summary;  // totals and percentiles
    nlohmann::json sessions; // one object per finished (or cut) viewing session
};

// A line of progress, about once a second.
struct Progress {
    uint32_t active = 0;
    double gbps = 0;
    double rebuffer_ratio = 0;
    uint64_t requests = 0;
    uint64_t errors = 0;
};

// Runs until duration_s passes or `stop` is set. `on_progress` (optional) is called from
// the calling thread about once a second.
Result<PlayReport> run(const PlayConfig& cfg, const std::atomic<bool>& stop,
                       const std::function<void(const Progress&)>& on_progress = {});

// Requests/s, bytes, errors, the client's own CPU per request and latency percentiles.
Result<nlohmann::json> run_ranges(const RangesConfig& cfg, const std::atomic<bool>& stop,
                                  const std::function<void(const Progress&)>& on_progress = {});

} // namespace vcdn::player
