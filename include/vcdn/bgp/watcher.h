#pragma once
// The edge's BGP view: a thread that asks the local BIRD (its control socket) every poll
// interval for its BGP sessions, and re-reads the routes when a session's state or its
// received updates/withdraws counters moved. The result is one table, the best route per
// prefix over the established sessions, published as an immutable snapshot for the heartbeat
// and the metrics. A burst of updates is read once it has settled (no counter moved for one
// poll; at most 5 s of waiting), and re-reads of a big table are spaced to at least twice the
// time the last one took, so a churning full table costs BIRD and the edge at most ~1/3 of a
// core.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <vcdn/base/prometheus.h>
#include <vcdn/bgp/bird.h>
#include <vcdn/wire/routes.h>

namespace vcdn::bgp {

struct WatcherConfig {
    std::string socket;                          // BIRD's control socket
    uint32_t poll_ms = 1000;                     // how often sessions are checked
    int timeout_ms = 10000;                      // per BIRD reply line wait
    uint32_t stale_ms = 30000;                   // BIRD unreachable this long: the table is dropped
    size_t max_routes = wire::kMaxRoutesPerEdge; // prefixes kept per read (the first ones)
};

struct SessionView {
    Session session;
    uint64_t prefixes = 0;  // routes of this session in the last read
    int64_t changed_ms = 0; // wall clock when vcdn saw its state change (0: at start)
};

struct Snapshot {
    bool connected = false;
    std::string error = "not read from BIRD yet"; // the last failure talking to BIRD
    std::string bird_version;
    std::vector<SessionView> sessions;
    std::shared_ptr<const wire::RouteMap> table = std::make_shared<const wire::RouteMap>();
    uint64_t digest = 0; // wire::table_digest(*table)
    int64_t read_ms = 0; // wall clock of the last route read
    double read_seconds = 0;
    uint64_t reads = 0, errors = 0;
    // Routes the last read left out: BIRD offered more than max_routes prefixes.
    uint64_t over_limit = 0;
};

class Watcher {
public:
    explicit Watcher(WatcherConfig cfg);
    ~Watcher();
    void start();
    void stop();
    std::shared_ptr<const Snapshot> snapshot() const;
    // Prometheus text: vcdn_bgp_* families.
    void metrics(PromText& out) const;
    // One poll, on the caller's thread (tests, benchmarks): reads routes when changed.
    void poll_once();

private:
    void run();
    void publish(std::shared_ptr<Snapshot> s);

    WatcherConfig cfg_;
    std::unique_ptr<BirdClient> bird_;
    std::string signature_; // sessions' states and counters at the last route read
    std::string last_sig_;  // ... at the last poll
    int64_t changing_since_ = 0;
    int64_t next_read_ms_ = 0;
    static constexpr int64_t kSettleMaxMs = 5000;
    int64_t unreachable_since_ = 0;
    std::map<std::string, std::pair<std::string, int64_t>> states_; // name -> state, since
    mutable std::mutex mu_;
    std::shared_ptr<const Snapshot> snap_;
    std::thread thread_;
    std::condition_variable cv_;
    bool stopping_ = false;
};

} // namespace vcdn::bgp
