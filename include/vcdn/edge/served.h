#pragma once
// What an edge served, by file and client network, until the heartbeat takes it: the demand
// the control plane's placement learns from (wire::Served, heartbeat schema 3). Counted from
// responses the edge actually sent, so that nobody can move placement by asking steering.
//
// One tally per worker: add() runs per finished response on that worker (an uncontended lock
// and, for a key seen before, no allocation); take() runs on the heartbeat thread.
// Bounded: at most max_keys (file, network) entries; beyond them a file's bytes go to its
// entry without a network while there is room for one more in an eighth more, and what does
// not fit even so is dropped and counted.
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <vcdn/base/hash.h>
#include <vcdn/io/ip_prefix.h>
#include <vcdn/wire/heartbeat.h>

namespace vcdn::edge {

class ServedTally {
public:
    explicit ServedTally(size_t max_keys = 50000) : max_keys_(max_keys) {}

    // `path` is the URL path ("/t/1/v.mp4") or a file key ("t/1/v.mp4"); the client counts
    // as its /24 (IPv4) or /48 (IPv6).
    void add(std::string_view path, const io::IpAddress& client, uint64_t bytes);
    // Everything counted since the last take(), and a fresh start.
    std::vector<wire::Served> take();
    // Counts given back (a heartbeat that was not acknowledged): added again, as add() would.
    void put_back(const std::vector<wire::Served>& served);

    uint64_t dropped_bytes() const;
    size_t size() const;
    // Half of max_keys in use: time to report before entries start to fold.
    bool half_full() const;

private:
    void add_locked(const std::string& key, uint64_t bytes);
    // Key: path, '\0', then family and the network's bytes (none: unknown network).
    static void make_key(std::string* key, std::string_view path, const io::IpPrefix* net);

    const size_t max_keys_;
    mutable std::mutex mu_;
    std::unordered_map<std::string, uint64_t, SeededStringHash> bytes_; // keys are clients'
    std::string scratch_; // the key being looked up (under mu_), kept for its capacity
    std::string unknown_; // ... and its (file, unknown network) form when the tally is full
    uint64_t dropped_ = 0;
};

// The client network a response is counted for: /24 for IPv4, /48 for IPv6.
io::IpPrefix client_network(const io::IpAddress& a);

} // namespace vcdn::edge
