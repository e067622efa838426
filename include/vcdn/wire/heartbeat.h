#pragma once
// The heartbeat: what an edge tells the control plane every interval (health, load, disks,
// fill progress, BGP sessions and route changes, inventory changes), and the control plane's
// reply (the edge's state, the signing keys, what to resend, the manifest version).
//
// One struct, one encoder and one decoder per message; nothing outside this module reads or
// writes these documents by key. Decoders are strict: a missing required field, an unknown
// field, a wrong type or a value out of its bounds is an error that names the field
// ("heartbeat: load.gbps_out: expected a number").
//
// Versions: every message carries `schema` (absent = 1, the heartbeat as edges sent it before
// the field existed). A decoder that knows schema K accepts 1..K and K+1: an older message
// simply lacks the fields added since (defaults apply); a newer one may carry fields this
// decoder does not know, which are skipped (its known fields are still checked). The control
// plane answers in the heartbeat's schema (or its own, if older), so an edge one version
// behind never sees a field it does not know. Schema history:
//   1: the fields below without `build`;
//   2: `build`, the edge's build identity (version + commit), for the dashboard and upgrades;
//   3: `served`, what the edge served since its last acknowledged heartbeat, by file and
//      client network: the demand placement learns from (steering answers count for nothing).
//
// Pure; any thread.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include <vcdn/base/result.h>
#include <vcdn/io/ip_prefix.h>
#include <vcdn/wire/routes.h>

namespace vcdn::wire {

inline constexpr int64_t kHeartbeatSchema = 3;

// Bounds a heartbeat must stay within (the decoder refuses more, by field).
inline constexpr size_t kMaxHeartbeatBytes = 64u << 20;
inline constexpr size_t kMaxInventoryChanges = 2000000; // paths added or removed per heartbeat
inline constexpr size_t kMaxPathBytes = 4096;
inline constexpr size_t kMaxDisks = 64;
inline constexpr size_t kMaxReasonBytes = 500;
inline constexpr size_t kMaxBgpSessions = 64;
inline constexpr size_t kMaxBgpChanges = 500000; // upserts + removals per heartbeat
inline constexpr size_t kMaxKeys = 64;
inline constexpr size_t kMaxFillActive = 256; // transfers listed in a fill progress
inline constexpr size_t kMaxServed = 100000;  // (file, client network) entries per heartbeat
inline constexpr uint64_t kMaxServedBytes = uint64_t{1} << 50; // per entry

struct Load {
    double gbps_out = 0;
    uint64_t connections = 0;
    double cpu = 0; // cores busy
    bool operator==(const Load&) const = default;
};

struct DiskReport {
    uint32_t root = 0;
    std::string path;
    std::string tier;  // "flash" | "disk"
    std::string state; // "up" | "failed"
    std::string reason;
    bool operator==(const DiskReport&) const = default;
};

struct FillProgress {
    bool enabled = false;
    int64_t manifest_version = 0;
    std::string state; // "idle", "filling", "complete", "waiting" ... (the filler's words)
    std::string window;
    bool in_window = false;
    uint64_t files_total = 0, files_to_go = 0, bytes_total = 0, bytes_to_go = 0;
    double rate_bps = 0;
    uint64_t bytes_from_peer = 0, bytes_from_tier = 0, bytes_from_origin = 0;
    std::vector<std::string> active; // transfers under way: "peer a1 /t/1/v.mp4"
    uint64_t verify_failures = 0, errors = 0, scrub_mismatches = 0;
    bool operator==(const FillProgress&) const = default;
};

struct BgpSession {
    std::string name, state, bgp_state, since, neighbor, info;
    uint32_t neighbor_as = 0;
    uint64_t routes = 0, prefixes = 0;
    int64_t changed_ms = 0;
    bool operator==(const BgpSession&) const = default;
};

// The edge's BGP speaker as it stands (kept with the report).
struct BgpStatus {
    bool connected = false;
    std::string error;
    std::vector<BgpSession> sessions;
    uint64_t prefixes = 0; // routes in the edge's table
    bool more = false;     // more route changes follow in the next heartbeat
    bool operator==(const BgpStatus&) const = default;
};

// Route changes against the table the control plane acknowledged.
struct BgpChanges {
    bool full = false;  // start from an empty table
    Diff diff;          // upserts, removals, and `more` (the rest follows next time)
    std::string digest; // digest_hex() of the edge's table after the change
    bool operator==(const BgpChanges&) const = default;
};

// What the edge says about itself; the control plane keeps the last one per edge.
struct EdgeReport {
    bool healthy = true;
    std::string reason;
    Load load;
    std::vector<DiskReport> disks;
    std::string version; // the edge's software version ("0.1.0")
    std::string build;   // schema 2: its build identity ("0.1.0+gac30a8b")
    std::optional<FillProgress> fill;
    std::optional<BgpStatus> bgp;
    bool operator==(const EdgeReport&) const = default;
};

struct InventoryChanges {
    std::string digest; // inventory_digest() of everything the edge holds after the change
    bool full = false;  // `added` is the whole list
    std::vector<std::string> added, removed; // URL paths ("/t/1/v.mp4")
    bool operator==(const InventoryChanges&) const = default;
};

// Schema 3: body bytes the edge sent for one file to one client network since the heartbeat
// it last had acknowledged (the edge keeps counting until one is).
struct Served {
    std::string path;                   // URL path ("/t/1/v.mp4")
    std::optional<io::IpPrefix> client; // the clients' /24 (IPv4) or /48 (IPv6); none: unknown
    uint64_t bytes = 0;
    bool operator==(const Served&) const = default;
};

struct Heartbeat {
    int64_t schema = kHeartbeatSchema;
    EdgeReport report;
    InventoryChanges inventory;
    std::optional<BgpChanges> bgp; // with report.bgp
    std::vector<Served> served;    // schema 3
    bool operator==(const Heartbeat&) const = default;
};

struct KeyGrant {
    std::string id;
    std::string secret_hex;
    bool operator==(const KeyGrant&) const = default;
};

struct ManifestInfo {
    int64_t version = 0;
    int64_t ack = 0; // the version steering follows; what it dropped may be deleted
    uint32_t delete_delay_ms = 60000;
    bool operator==(const ManifestInfo&) const = default;
};

struct HeartbeatReply {
    int64_t schema = kHeartbeatSchema;
    std::string state;        // the edge's state at the control plane: up, down, draining, unknown
    std::string reason;       // why
    bool inventory_ok = true; // false: the stored inventory differs, send the whole list
    uint32_t heartbeat_interval_ms = 1000;
    std::vector<KeyGrant> keys;
    std::optional<bool> bgp_ok; // only when the heartbeat carried BGP; false: resend all
    std::optional<ManifestInfo> manifest;
    bool operator==(const HeartbeatReply&) const = default;
};

// `schema` picks the version written (the fields it has); the edge writes its own.
std::string encode(const Heartbeat& h);
// `known` is the decoder's own schema (tests pass others to act as an older or newer peer).
Result<Heartbeat> decode_heartbeat(std::string_view text, int64_t known = kHeartbeatSchema);

// The last report as the control plane stores it (a heartbeat's report, with its schema).
std::string encode_report(const EdgeReport& r);
// Lenient about the past: a stored report that does not decode (an older release's) is empty.
EdgeReport decode_report(std::string_view text);

std::string encode(const HeartbeatReply& r);
Result<HeartbeatReply> decode_heartbeat_reply(std::string_view text,
                                              int64_t known = kHeartbeatSchema);

// Parts of the report as the heartbeat writes them; the control plane's API shows the same.
nlohmann::json to_json(const FillProgress& f);
nlohmann::json to_json(const BgpSession& s);
nlohmann::json to_json(const DiskReport& d);

// sha256 hex of the sorted paths, each followed by '\n': what edge and control compare.
std::string inventory_digest(std::vector<std::string> paths);

} // namespace vcdn::wire
