#pragma once
// The edge's configuration: a plain struct, filled from a TOML file (section [edge]) and
// then from command-line flags, checked by validate(). Immutable once made: a SIGHUP makes a
// new one (live_update) and the server posts it to its workers as one snapshot.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <vcdn/base/result.h>
#include <vcdn/fill/fill.h>
#include <vcdn/io/storage.h>

namespace vcdn::edge {

struct Limits {
    uint32_t max_head_bytes = 8192;   // request line + headers
    uint32_t max_target_bytes = 4096; // request target (URI)
    uint32_t max_headers = 64;
    uint32_t header_timeout_ms = 10000; // whole head must arrive within this, from its first byte
    uint32_t idle_timeout_ms = 60000;   // keep-alive wait for the next request
    uint32_t send_timeout_ms = 60000;   // no progress sending a response for this long
    uint32_t linger_ms = 2000;          // reading leftovers after an error, before close
    uint32_t max_requests_per_connection = 10000;
    uint32_t max_connections = 0; // whole process; 0 = derived from the open-file limit
    // Connections one client may hold: per IPv4 address or IPv6 /64 (0 = no cap). Enforced per
    // worker as its share and half again (the kernel spreads one client's connections over
    // the workers, not exactly evenly), so with N > 1 workers a client may get up to 1.5×.
    // Generous by default: many viewers can share one address behind carrier-grade NAT.
    uint32_t max_connections_per_client = 1024;
    // A response that, min_send_rate_after_ms after it began, has averaged fewer body bytes
    // per second than this is cut (a slow reader holding a connection; 0 = off). Checked
    // whenever the client's socket is full, so a player that pauses reading after a burst
    // keeps its average far above it.
    uint32_t min_send_rate_bps = 4096;
    uint32_t min_send_rate_after_ms = 30000;
    bool operator==(const Limits&) const = default;
};

struct FileCacheConfig {
    uint32_t max_entries = 1024;   // per worker; each holds one open file descriptor
    uint32_t revalidate_ms = 1000; // re-check a cached file against the path this often
    bool operator==(const FileCacheConfig&) const = default;
};

// How file bodies are kept from blocking a worker (disk_io.h).
struct DiskConfig {
    std::string mode = "async"; // "async", or "blocking" (plain sendfile: for comparisons)
    std::string reader =
        "auto"; // "auto" (io_uring, else threads), "io_uring", "threads", "sendfile", "populate"
    uint32_t readahead_kib = 2048;      // read this far ahead of a cold stream; 0 = no read-ahead
    uint32_t max_reads_per_root = 64;   // reads in flight per root, whole process
    uint32_t health_interval_ms = 1000; // each root is checked this often
    uint32_t stall_ms = 10000;          // a root whose check hangs this long fails
    uint32_t inventory_interval_ms = 60000; // rescan of each root's files; 0 = only at start
    // How long a worker trusts its memory of file blocks found in the page cache, unless the
    // kernel's counters show pages taken out (residency_memory.h); 0 = mincore every range.
    uint32_t residency_memory_ms = 10000;
    std::string reclaim_counters = "/proc/vmstat"; // where those counters are read
    // After a fall of nr_file_pages alone, each remembered slot is looked at again (cachestat,
    // Linux 6.5+) before it is trusted; without cachestat, or false: everything is forgotten.
    bool residency_recheck = true;
    bool operator==(const DiskConfig&) const = default;
};

// One listening address. The plain `listen` and `tls_listen` lists are shorthands for these.
struct ListenerConfig {
    std::string address;
    bool tls = false;
    int require_signed_urls = -1; // -1: the edge-wide setting; 0 or 1: this listener's own
    bool operator==(const ListenerConfig&) const = default;
};

struct TlsCertConfig {
    std::string cert; // PEM chain
    std::string key;  // PEM private key
    bool operator==(const TlsCertConfig&) const = default;
};

struct TlsConfig {
    // The first is the default; the others are chosen by SNI (their certificates' names).
    std::vector<TlsCertConfig> certs;
    std::string min_version = "TLSv1.2"; // or TLSv1.3
    bool ktls = true;                    // use kernel TLS when the kernel offers it
    uint32_t ticket_key_rotation_s = 3600;
    uint32_t handshakes_per_turn = 4; // new handshakes a worker runs before serving others
    // Without kTLS: encrypt bodies straight from the file's mapping (true) or pread them into
    // a buffer first (false: one more pass over every byte, but no mapped pages touched).
    bool map_bodies = true;
    bool operator==(const TlsConfig&) const = default;
};

// The link to `vcdn control`: heartbeats out, signing keys back.
struct ControlLinkConfig {
    // "https://host:port" of the control plane's edge listener; empty = standalone edge. The
    // control plane must present a certificate that chains to `ca` and names that host.
    std::string url;
    std::string ca;              // PEM CA bundle that signs the control plane's certificate
    bool allow_insecure = false; // permit http:// (token and keys in clear): labs only
    std::string id;              // this edge's id in the fleet
    std::string token;           // this edge's token in the fleet (from token_file or the env)
    std::string token_file;      // where the token is read from (again on SIGHUP)
    uint32_t heartbeat_interval_ms = 1000; // until the control plane says otherwise
    uint32_t grace_ms = 30000;             // unreachable this long -> refuse new players; 0 = never
    uint32_t timeout_ms = 2000;            // one heartbeat call
    // What was served goes to the control plane this often (with the heartbeat then due), or
    // sooner when a worker's tally is half full; 0 = with every heartbeat. Between reports
    // the tally sums, so a busy edge sends each (file, client network) once per interval.
    uint32_t served_interval_ms = 10000;
    bool operator==(const ControlLinkConfig&) const = default;
};

// [edge.cors]: what lets a web player on another origin (the streaming service's page) read
// the edge's answers. Default: any origin, no credentials, which is what a public CDN needs:
// every response carries `Access-Control-Allow-Origin: *` (also without an Origin header, so
// that a cache between edge and browser cannot hand a CORS-less copy to a page). With a list
// of origins, a matching Origin is echoed with `Vary: Origin` (on every response, since the
// answer depends on it), and a page from any other origin gets no CORS headers.
struct CorsConfig {
    bool enabled = true;
    std::vector<std::string> allow_origins = {"*"}; // "*", or "https://host[:port]" each
    bool allow_credentials = false;                 // needs a list (the Fetch standard)
    uint32_t max_age_s = 86400; // how long a browser may keep a preflight's answer
    // Request headers a preflight allows (players send Range; Authorization for an edge that
    // needs its access token).
    std::vector<std::string> allow_headers = {"Range", "If-Range", "If-None-Match",
                                              "If-Modified-Since", "Authorization"};
    bool operator==(const CorsConfig&) const = default;
};

// [edge.upgrade]: SIGUSR2 starts `binary` with this process's arguments and hands it the
// listening sockets. The old process stops accepting once the new one is ready and serves
// what it has; when the new one stays healthy for grace_ms the old one drains and exits, and
// when it fails to come up within start_timeout_ms, exits or stops answering within the
// grace, the old one takes new connections again (docs/operations.md, "Upgrade").
struct UpgradeConfig {
    std::string binary;                // empty: the path this process was started from
    uint32_t start_timeout_ms = 60000; // listeners bound, roots scanned, workers running
    uint32_t grace_ms = 10000;         // healthy this long before the old process lets go
    bool only_in_fill_window = false;  // a SIGUSR2 outside [edge.fill] window waits for it
    bool operator==(const UpgradeConfig&) const = default;
};

struct EdgeConfig {
    std::vector<io::RootConfig> roots;     // content roots, one per disk, looked up in this order
    std::vector<std::string> listen;       // "ADDR:PORT", "[v6]:PORT"; port 0 = any free port
    std::vector<std::string> tls_listen;   // the same, for HTTPS
    std::vector<ListenerConfig> listeners; // explicit [[edge.listener]] tables
    TlsConfig tls;
    std::string signing_keys;         // key file for signed URLs ("<key-id> <hex secret>" lines)
    bool require_signed_urls = false; // every listener without its own setting
    // Signed URLs are refused when valid further ahead than this (0 = no limit): a key that
    // leaked cannot mint URLs that last; expiry is judged with url_clock_skew_s of slack.
    uint32_t max_url_lifetime_s = 259200;
    uint32_t url_clock_skew_s = 60;
    std::string admin;    // admin listener "ADDR:PORT"; empty = none
    uint32_t workers = 0; // 0 = one per available core
    // "per-worker": each worker thread has its own descriptor table (unshare(CLONE_FILES)),
    // so the open-file limit applies to each worker, not to the process; "shared": one table.
    std::string fd_tables = "per-worker";
    std::string congestion_control = "auto"; // "auto" = bbr when available; "" = system default
    uint32_t notsent_lowat = 131072; // TCP_NOTSENT_LOWAT bytes; 0 = leave the kernel default
    double pacing_rate_mbps = 0;     // per-connection send rate cap (SO_MAX_PACING_RATE)
    std::string access_log = "-";    // path, "-" for stderr, "off"
    // The access log's TCP fields (rtt_us ... cwnd) cost a getsockopt(TCP_INFO) each: read on a
    // connection's first response, its last, one that failed (status >= 400) or took 100 ms or
    // more, and otherwise at most once per this many ms per connection (the line then has no
    // TCP fields). 0 = on every response.
    uint32_t access_log_tcp_info_ms = 1000;
    std::vector<std::string> server_names; // when set, Host must be one of these
    std::string cache_control;             // Cache-Control value on file responses; empty = none
    // Cache-Control on manifests (.mpd, .m3u8, .m3u), which a live packager rewrites and
    // players reload: short by default, whatever cache_control says for media.
    std::string manifest_cache_control = "max-age=2";
    // When set, every request needs "Authorization: Bearer <access_token>" (an origin that
    // only edges may fill from); 401 otherwise.
    std::string access_token;
    uint32_t drain_timeout_ms = 10000; // SIGTERM: longest wait for in-flight responses
    uint32_t backlog = 4096;
    bool defer_accept = true; // TCP_DEFER_ACCEPT: wake the worker only when a request arrived
    bool header_more = false; // send the head with MSG_MORE before sendfile (see connection.cc)
    std::string log_level = "info";
    ControlLinkConfig control;
    fill::FillConfig fill; // [edge.fill]: needs `control` (the manifest comes from there)
    // [edge.bgp]: the local BIRD whose BGP sessions tell which client prefixes this edge
    // serves (reported to the control plane in heartbeats). Empty socket: no BGP.
    struct Bgp {
        std::string bird_socket;
        uint32_t poll_ms = 1000;
        uint32_t stale_ms = 30000;
        bool operator==(const Bgp&) const = default;
    } bgp;
    CorsConfig cors;
    UpgradeConfig upgrade;
    Limits limits;
    FileCacheConfig file_cache;
    DiskConfig disk;
};

// The control token: from token_file when set (its first line), else from the environment
// (VCDN_EDGE_TOKEN) when no token is set yet. One-line error for a file that cannot be read.
Status resolve_token(ControlLinkConfig* c);

// Parses the [edge] section (and its subsections) of a TOML document over `cfg`. Unknown
// keys are errors, so that a typo does not silently fall back to a default.
Status parse_edge_toml(std::string_view toml_text, std::string_view source_name, EdgeConfig* cfg);
Status load_edge_config_file(const std::string& path, EdgeConfig* cfg);

// Every listener: `listen`, then `tls_listen`, then the explicit tables.
std::vector<ListenerConfig> effective_listeners(const EdgeConfig& cfg);
bool requires_signed(const EdgeConfig& cfg, const ListenerConfig& l);

// Checks values and the environment they refer to (root exists and is a directory, listen
// addresses parse, congestion control known, ...). The message is one line for the user.
// check_roots = false: not whether the roots exist and can be read (a SIGHUP, which cannot
// change the roots, must not fail because a disk did; the disk's health is the monitor's).
Status validate(const EdgeConfig& cfg, bool check_roots = true);
Status validate_cors(const CorsConfig& c);

// SIGHUP: the config to run from now on — `next`, with every setting that cannot change in a
// running process (listeners, roots, workers, descriptors' and buffers' sizes, the control
// link, the disk reader, ...) put back to its value in `running`. The dotted names of those
// that differed are appended to *needs_restart (they take effect at the next start).
// `running_workers` is what `workers` was configured as (0 = one per core), not what it
// resolved to.
EdgeConfig live_update(const EdgeConfig& running, uint32_t running_workers, const EdgeConfig& next,
                       std::vector<std::string>* needs_restart);

} // namespace vcdn::edge
