#pragma once
// The control plane's durable state over a Db (SQLite or PostgreSQL, same SQL): the fleet,
// the catalog and popularity, each edge's status and inventory, signing keys and the log of
// edge state changes. Every call is one transaction: it happens entirely or not at all.
// Thread-safe (one mutex around the connection). Several control instances may share one
// PostgreSQL database: structural changes bump a generation number that the others poll.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include <vcdn/base/result.h>
#include <vcdn/catalog/catalog.h>
#include <vcdn/control/db.h>
#include <vcdn/control/fleet.h>
#include <vcdn/wire/heartbeat.h>
#include <vcdn/wire/routes.h>

namespace vcdn::control {

struct EdgeStatus {
    std::string state = "unknown"; // up, down, draining, unknown
    std::string reason = "no-heartbeat-yet";
    int64_t since_ms = 0;
    int64_t last_heartbeat_ms = 0; // wall clock of the last heartbeat; 0 = never
    wire::EdgeReport report;       // the last heartbeat's health, load, disks, fill, BGP
    std::string inventory_digest;
    uint64_t files = 0;
};

struct CatalogEntry {
    std::string path;
    uint64_t size = 0;
    std::string sha256;
    uint32_t title = 0;
    uint32_t bitrate_kbps = 0;
    double popularity = 0;
};

struct KeyRecord {
    std::string id;
    std::string secret_hex;
    int64_t created_ms = 0;
    bool retired = false;
};

struct EventRecord {
    int64_t seq = 0;
    int64_t at_ms = 0;
    std::string edge_id;
    std::string state;
    std::string reason;
};

struct EdgeBgp {
    int64_t version = 0; // bumped on every change
    std::shared_ptr<const wire::RouteMap> routes = std::make_shared<const wire::RouteMap>();
    uint64_t digest = 0; // wire::table_digest(*routes)
};

// Everything steering needs except the per-second status.
struct StoreSnapshot {
    int64_t generation = 0;
    Fleet fleet;
    std::map<std::string, bool> drained; // edge id -> drained by an operator
    std::vector<CatalogEntry> files;
    std::map<std::string, std::vector<std::string>> inventory; // edge id -> paths it holds
    std::vector<KeyRecord> keys;                               // oldest first
    // Smoothed demand (views per period) by popularity group, then path.
    std::map<std::string, std::map<std::string, double>> demand;
    // BGP-learned client prefixes by edge id (only edges that report BGP).
    std::map<std::string, EdgeBgp> bgp;
};

struct ManifestVersion {
    int64_t version = 0;
    std::string digest;
};

class Store {
public:
    static Result<std::unique_ptr<Store>> open(const std::string& db_url);
    explicit Store(std::unique_ptr<Db> db);

    // Brings the schema to the newest version (versioned migrations, each in a transaction);
    // `up_to` > 0 stops at that version (tests of upgrades from an older schema).
    Status migrate(int up_to = 0);
    int schema_version();
    std::string describe() const { return db_->describe(); }

    Result<int64_t> generation();
    Result<StoreSnapshot> snapshot();
    Result<Fleet> fleet();
    // Replaces sites and edges; status and inventory of removed edges go with them.
    Status save_fleet(const Fleet& f);
    // Read, change and write the fleet in one transaction (no lost update when two admins
    // edit at once). The change's error aborts it; the result must validate.
    Status update_fleet(const std::function<Status(Fleet*)>& change);
    Status set_drained(const std::string& edge_id, bool drained);

    // Upserts files (by path). Files not listed stay.
    Status import_catalog(const std::vector<catalog::CatalogFile>& files);
    // Popularity per path; an unknown path fails the whole call.
    Status set_popularity(const std::vector<std::pair<std::string, double>>& values);

    // Stores a heartbeat. Returns whether the stored inventory now matches inv.digest (when
    // it does not, the edge is asked to send its full list).
    Result<bool> record_heartbeat(const std::string& edge_id, int64_t now_ms,
                                  const wire::EdgeReport& report,
                                  const wire::InventoryChanges& inv);
    Result<std::map<std::string, EdgeStatus>> statuses();
    // Compare-and-set of an edge's state (several instances may evaluate health at once):
    // true when this call made the change, which is then logged as an event.
    Result<bool> change_state(const std::string& edge_id, const std::string& from,
                              const std::string& to, const std::string& reason, int64_t now_ms);
    // State changes are kept as events: the newest events_kept (100000) of them.
    void set_events_kept(int64_t n) { events_kept_ = n < 1 ? 1 : n; }
    Result<std::vector<EventRecord>> events(size_t limit, const std::string& edge_id = {});

    // Demand seen by steering: adds views to today's count of (group, path). Leaves the
    // generation alone (placement reads it only when the period rolls over).
    Status add_demand(const std::map<std::pair<std::string, std::string>, double>& views);
    // Starts demand period `period` (a day number) once, whichever instance comes first:
    // ewma = alpha × today + (1 − alpha) × ewma (decayed again for every skipped period),
    // today = 0, and the generation bumps so that placement runs on the new numbers.
    // True when this call rolled.
    Result<bool> roll_demand(int64_t period, double alpha);
    // A group's demand rows: (path, today, ewma), by path.
    Result<std::vector<std::tuple<std::string, double, double>>> demand(const std::string& group);
    // Each edge's manifest digest as computed from `generation`: a digest that differs from
    // the stored one bumps the edge's version (unless a newer generation wrote it). Returns
    // the stored versions of the edges given.
    Result<std::map<std::string, ManifestVersion>>
    record_manifests(int64_t generation, const std::map<std::string, std::string>& digests,
                     int64_t now_ms);

    Status add_key(const std::string& id, const std::string& secret_hex, int64_t now_ms);
    // One transaction: adds the key and retires every valid key but the newest before it.
    // Returns the ids retired.
    Result<std::vector<std::string>> rotate_key(const std::string& id,
                                                const std::string& secret_hex, int64_t now_ms);
    Status retire_key(const std::string& id);
    Result<std::vector<KeyRecord>> keys();

    // Applies an edge's BGP changes; true when the result matches the edge's digest (false:
    // the edge should send its whole table again). Changes that would take the table past
    // `max_routes` are not applied: *too_many is set and the table stays as it was.
    Result<bool> record_bgp(const std::string& edge_id, const wire::BgpChanges& u,
                            size_t max_routes = wire::kMaxRoutesPerEdge, bool* too_many = nullptr);

private:
    int64_t events_kept_ = 100000;
    Status bump_generation();
    // Loads (or reuses) an edge's routes at a version; the cache follows the database.
    Result<EdgeBgp*> bgp_at(const std::string& edge_id, int64_t version);
    Status run_in_transaction(const std::function<Status()>& body);

    std::unique_ptr<Db> db_;
    std::mutex mu_;
    // Parsed route tables by edge (a full table is ~1M routes: parse once per version).
    std::map<std::string, EdgeBgp> bgp_cache_;
};

} // namespace vcdn::control
