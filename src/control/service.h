#pragma once
// The control plane's state and its sync loop: the store, the immutable View that steering and
// the API read, the counters. server.cc runs it behind an HTTP service; the API handlers
// (api_*.cc, declared in api.h) are functions of (request, Service) that unit tests call
// without a socket.
//
// Threads: the API threads read views (view_for: no lock on the steering path) and write
// through the store; the sync thread (and sync_once() from API writes) publishes new views.
// Lifetime: a Service outlives the HTTP service that calls into it.
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <vcdn/auth/signed_url.h>
#include <vcdn/base/hash.h>
#include <vcdn/base/prometheus.h>
#include <vcdn/control/config.h>
#include <vcdn/control/manifest.h>
#include <vcdn/control/server.h>
#include <vcdn/control/store.h>
#include <vcdn/io/access_log.h>
#include <vcdn/io/http_service.h>
#include <vcdn/steer/steering.h>
#include <vcdn/wire/heartbeat.h>

#include "play.h"

namespace vcdn::control {

// Everything the API reads, immutable once published.
// The big parts are shared between successive views: a sync that only sees new heartbeats
// replaces `status` and leaves the rest, and copies the topology only when an edge's
// eligibility changed.
// A site's BGP picture: the union of what its edges hear, and where they disagree.
struct BgpDifference {
    std::string prefix;
    std::vector<std::string> heard_by, missing_from;
};
// A route the control plane did not take: outside the site's allowed prefixes, or too short.
struct BgpRefusal {
    std::string prefix, edge, reason;
};
// BGP is a claim to check: a route steers players only when it lies inside the site's
// bgp_allowed (default: its prefixes), is at least [control.bgp]'s minimum length, and is
// heard by more than half of the site's edges that hear anything (so one edge, lying or
// misconfigured, cannot take clients its peers do not hear). What fails is reported, not used.
struct SiteBgp {
    std::string site;
    bool bgp = false; // some edge of the site reports BGP: its config prefixes are not used
    std::vector<std::pair<std::string, size_t>> edges; // reporting edges and their prefix counts
    size_t heard = 0;                                  // the union of the accepted routes
    size_t prefixes = 0;                               // ... of which steer (heard by a majority)
    size_t differing = 0; // accepted prefixes some reporting edge of the site does not hear
    size_t minority = 0;  // ... of which are heard by half of the edges or fewer: not used
    std::vector<BgpDifference> differences; // the first kMaxDifferences of them
    size_t refused = 0;                     // routes (per edge) outside what the site may claim
    std::vector<BgpRefusal> refusals;       // the first kMaxRefusals of them
    static constexpr size_t kMaxDifferences = 1000;
    static constexpr size_t kMaxRefusals = 1000;
};

struct View {
    int64_t generation = -1;
    std::shared_ptr<const Fleet> fleet;
    std::map<std::string, bool> drained;
    std::shared_ptr<const std::map<std::string, EdgeStatus>> status;
    size_t catalog_files = 0;
    std::shared_ptr<const steer::Topology> topo;
    std::unordered_map<std::string, uint32_t> edge_index; // id -> topo->edges index
    std::vector<const EdgeSpec*> edge_specs;              // by topo edge index, into *fleet
    std::vector<KeyRecord> keys;                          // valid (not retired), oldest first
    bool have_signing_key = false;
    auth::SigningKey signing_key; // the newest valid key (held by the control plane only)
    // What signs for whom: each edge's own key derived from signing_key (by topo edge index),
    // and the origin's newest key. No edge ever holds a key another edge or the origin takes.
    std::vector<auth::SigningKey> edge_keys;
    std::optional<auth::SigningKey> origin_key;
    // Placement: the catalog, each edge's manifest and its version.
    std::shared_ptr<const std::vector<CatalogEntry>> files;
    std::shared_ptr<const TitleIndex> titles = std::make_shared<const TitleIndex>();
    std::shared_ptr<const FleetPlan> plan;
    std::map<std::string, ManifestVersion> manifest_versions;
    std::vector<std::string> site_group; // by topo site index: popularity group
    // Edges whose holders in `topo` are limited to their manifest (the ack may be given).
    std::set<std::string> steered_by_manifest;
    // BGP: each reporting edge's routes, each site's union and consistency. `prefix_key`
    // names what the prefix index was built from, so an unchanged one is reused.
    std::map<std::string, EdgeBgp> bgp_edges;
    std::shared_ptr<const std::vector<SiteBgp>> bgp_sites =
        std::make_shared<const std::vector<SiteBgp>>();
    std::string prefix_key;
};

struct HistoryPoint {
    int64_t t = 0; // unix seconds
    double gbps_out = 0;
    uint64_t connections = 0;
};

// Failed credentials by client address (IPv4) or /64 (IPv6): an address that presented
// kMaxFailures wrong tokens within a window is refused (429) for the rest of it, so that
// tokens cannot be guessed at the API's request rate. Bounded: at most kMaxAddresses tracked.
class AuthLimiter {
public:
    static constexpr uint32_t kMaxFailures = 20;
    static constexpr int64_t kWindowMs = 60000;
    static constexpr size_t kMaxAddresses = 100000;
    // 0 when `client` may try; else the ms until it may.
    int64_t blocked_for(const io::IpAddress& client, int64_t now_ms);
    void failed(const io::IpAddress& client, int64_t now_ms);
    uint64_t refusals() const { return refusals_.load(); }
    uint64_t failures() const { return failures_.load(); }
    uint64_t resets() const { return resets_.load(); }

private:
    struct Entry {
        int64_t window_start = 0;
        uint32_t count = 0;
    };
    std::mutex mu_;
    // key: the address's 16 bytes + family (seeded: clients choose addresses)
    std::unordered_map<std::string, Entry, SeededStringHash> by_addr_;
    std::atomic<uint64_t> refusals_{0}, failures_{0}, resets_{0};
};

struct Service {
    // Opens the store (migrating it), applies the fleet file, makes a first signing key when
    // there is none, opens the steering log and publishes the first view. No listener.
    static Result<std::unique_ptr<Service>> open(const ControlConfig& cfg);

    ControlConfig cfg;
    std::vector<io::IpPrefix> trusted; // cfg.limits.trusted: their client= is honoured
    std::vector<io::IpPrefix> proxies; // cfg.limits.proxies: their X-Forwarded-For is
    // The listeners' own counters (set by the server that owns them).
    std::function<void(PromText&)> listener_metrics;
    std::unique_ptr<Store> store;
    std::unique_ptr<io::AccessLog> steering_log;
    uint32_t threads = 1;

    mutable std::mutex view_mu;
    std::shared_ptr<const View> view;
    std::atomic<uint64_t> view_version{0}; // bumped on every publish
    std::shared_ptr<const View> current() const {
        std::lock_guard lk(view_mu);
        return view;
    }
    void publish(std::shared_ptr<const View> v) {
        std::lock_guard lk(view_mu);
        view = std::move(v);
        view_version.fetch_add(1, std::memory_order_release);
    }
    // Each API thread keeps its own reference and re-reads only after a publish, so that a
    // steering request takes no lock and touches no shared reference count.
    struct alignas(64) ViewCache {
        uint64_t version = ~0ull;
        std::shared_ptr<const View> view;
    };
    std::vector<ViewCache> view_cache; // one per API thread
    const View& view_for(uint32_t thread) {
        ViewCache& c = view_cache[thread];
        const uint64_t v = view_version.load(std::memory_order_acquire);
        if (c.version != v) {
            c.view = current();
            c.version = v;
        }
        return *c.view;
    }
    // Steering counters per API thread (the dashboard sums them).
    struct alignas(64) SteerStats {
        std::mutex mu; // uncontended but for the dashboard's read
        std::unordered_map<std::string, uint64_t> by_site, by_tier;
        uint64_t total = 0;
    };
    std::vector<std::unique_ptr<SteerStats>> steer_stats;

    // Dashboard history and counters (in memory, per instance).
    std::mutex stats_mu;
    std::map<std::string, std::deque<HistoryPoint>> history; // edge id -> last 300 s
    std::map<std::string, int64_t> history_last_hb;          // edge id -> heartbeat seen

    uint64_t qoe_samples = 0;
    std::map<std::string, uint64_t> qoe_stalls_by_edge;

    // Playback manifests for standard players (api_play.cc): the packaged manifests they start
    // from, and what was asked and refused.
    std::unique_ptr<ManifestCache> manifests;
    std::atomic<uint64_t> play_requests[3] = {}; // dash, hls, steering
    std::atomic<uint64_t> play_errors{0};

    AuthLimiter auth_limiter;
    // Steering requests that ranked nothing, by api.h's Unserved reason.
    std::atomic<uint64_t> steer_unserved[3] = {};
    std::atomic<uint64_t> heartbeats{0}, heartbeat_errors{0}, steer_requests{0}, steer_errors{0},
        api_errors{0}, state_changes{0}, sync_errors{0};

    std::thread sync_thread;
    std::mutex sync_mu;
    std::condition_variable sync_cv;
    bool stopping = false;
    bool sync_now = false;

    // Sync: read the database, judge health, publish a new View. Returns false on a
    // database error (logged; the old View stays).
    // Serialised (the sync thread and API writes call it); safe from any thread.
    // `coalesce` (the sync loop): a structural change waits until kRebuildSpacingMs passed
    // since the last rebuild. API writes publish at once (read-your-writes).
    bool sync_once(bool coalesce = false);
    std::mutex sync_once_mu;
    // Structural rebuilds (placement, topology) from the sync loop: a burst of kRebuildBurst,
    // then one per kRebuildSpacingMs however many heartbeats change inventories meanwhile.
    static constexpr int64_t kRebuildSpacingMs = 1000;
    static constexpr double kRebuildBurst = 4;
    double rebuild_tokens = kRebuildBurst; // under sync_once_mu
    int64_t rebuild_tokens_ms = 0;
    std::atomic<uint64_t> rebuilds_deferred{0};
    // SIGHUP reloads (fleet file, TLS certificate, session keys) that kept the old one.
    std::atomic<uint64_t> reload_failures{0};
    // Heartbeats per edge: a burst of kBeatBurst, then 4 per heartbeat interval; more is 429.
    static constexpr double kBeatBurst = 10;
    struct BeatBucket {
        double tokens = kBeatBurst;
        int64_t at_ms = 0;
    };
    std::mutex beat_mu;
    std::unordered_map<std::string, BeatBucket> beat_buckets;
    std::atomic<uint64_t> heartbeats_too_fast{0};
    // Session keys (null: steering needs no session token); swapped whole on SIGHUP.
    std::atomic<std::shared_ptr<const auth::KeySet>> session_keys;
    // Steering requests refused for their session token, by auth::SigCheck value.
    mutable std::atomic<uint64_t> session_refused[8] = {};
    mutable std::atomic<uint64_t> untrusted_client_params{
        0}; // client= ignored: not from a trusted address
    bool is_trusted(const io::IpAddress& a) const {
        for (const io::IpPrefix& p : trusted)
            if (p.contains(a)) return true;
        return false;
    }
    void sync_loop();
    std::atomic<int64_t> sync_turn_ms{0}; // monotonic; the sync loop's last finished turn
    void wake_sync();
    std::shared_ptr<View> build_view(StoreSnapshot snap, std::map<std::string, EdgeStatus> st);
    void index_site_prefixes(View* v, steer::Topology* t, const View* old);
    void report_site_bgp(const std::string& site, const SiteBgp& sb, const View* old);

    // A new key signs only once the edges can have it: two heartbeat intervals and a sync
    // after it was made (until then the one before it signs; both are valid at the edges).
    int64_t key_propagation_ms() const {
        return 2 * int64_t{cfg.health.heartbeat_interval_ms} + cfg.sync_interval_ms;
    }
    void choose_signing_key(View* v, int64_t now) const;
    // Demand is what edges served (their heartbeats' `served`), never what steering answered:
    // nobody can move placement by asking. Views by (popularity group of the clients' site,
    // file) since the last flush: bytes served over the file's size. An edge's claim is capped
    // by its capacity_gbps over the time since its last heartbeat (×1.25, + 64 MiB), so even a
    // compromised edge moves demand only as much as it could really have served.
    struct ServedDemand {
        std::mutex mu;
        std::map<std::pair<std::string, std::string>, double> views;
        std::unordered_map<std::string, int64_t> last_ms; // edge id -> last report (fleet ids)
    };
    ServedDemand served_demand;
    std::atomic<uint64_t> served_bytes{0}, served_foreign_bytes{0}, served_over_capacity_bytes{0};
    std::atomic<double> served_views{0};
    void count_served(const View& v, const EdgeSpec& edge, const std::vector<wire::Served>& served,
                      int64_t now_ms);
    // Moves the edges' served demand into the store and rolls the period.
    void flush_demand(int64_t now);
};

int64_t wall_ms();
// The edge's last heartbeat says it fills by its manifest (and deletes what it no longer lists).
bool follows_manifest(const EdgeStatus& st);
// An edge drained by an operator that is still alive (fresh heartbeat, healthy by its own
// report): steering's last resort for the files it holds (TopoEdge::last_resort).
bool last_resort(const HealthConfig& cfg, const EdgeStatus& st, int64_t now_ms);

// The files that only `leaving` edges hold: no other edge that is up has them (steering would
// find no edge for them once those are gone). At most `sample_max` paths are listed.
struct SoleCopies {
    size_t files = 0;
    uint64_t bytes = 0;
    std::vector<std::string> sample;
    nlohmann::json to_json() const;
};
SoleCopies sole_copies(const View& v, const std::set<std::string>& leaving, size_t sample_max = 20);

} // namespace vcdn::control
