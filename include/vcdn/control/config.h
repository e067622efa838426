#pragma once
// `vcdn control` configuration: a plain struct from the [control] section of a TOML file,
// then flags; validate() gives one-line errors.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <vcdn/io/ip_prefix.h>

#include <vcdn/base/result.h>
#include <vcdn/control/health.h>

namespace vcdn::control {

// Where each part of the API is served. The public listener is the players' (steering, QoE,
// /healthz); edges and operators get listeners of their own when these are set, and share the
// public one otherwise (every call still needs its credential).
struct ControlTls {
    std::string cert; // PEM chain: HTTPS when set (reloaded on SIGHUP)
    std::string key;
    // The listeners that speak HTTPS: "public", "edge", "admin" (a listener that is not
    // configured is the public one). Default: all.
    std::vector<std::string> listeners = {"public", "edge", "admin"};
};

// What anyone on the public listener may do.
struct ControlLimits {
    // Addresses whose `client=` steering honours (a streaming service's front ends asking on
    // behalf of players) and which the per-address limits spare. Everyone else is steered by
    // their own address.
    std::vector<std::string> trusted = {"127.0.0.0/8", "::1/128"};
    // Load balancers in front of the control plane: from these peers the client is the
    // address X-Forwarded-For names (io::real_client), for steering, sessions, trust and the
    // per-address limits alike. From anyone else X-Forwarded-For is ignored.
    std::vector<std::string> proxies;
    // The public listener's connections from `proxies` start with a PROXY protocol header (v1
    // or v2: an L4 balancer such as HAProxy or an AWS NLB), which names the client; X-Forwarded-
    // For is then not read from them. Connections from anyone else are plain, as ever.
    bool proxy_protocol = false;
    double public_requests_per_s = 200; // per address (IPv6: per /64), per API thread
    uint32_t public_connections = 100;  // open at once per address
};

// What a route an edge reports must be to steer players (besides lying inside its site's
// bgp_allowed, or prefixes): at least this long. A /0 or a /4 from a leaking router would
// take every client.
struct ControlBgp {
    uint32_t min_length_v4 = 8;
    uint32_t min_length_v6 = 16;
};

// Player-session tokens (auth/session_token.h): with a key file, steering answers only
// requests that carry a valid ?session= token (or come from a trusted front end).
struct ControlSteering {
    std::string session_keys;                // KeySet file shared with the front end; "" = off
    uint32_t session_max_lifetime_s = 86400; // a token valid for longer is refused
};

// Playback for standard players (hls.js, dash.js, Shaka, ExoPlayer, AVPlayer): generated
// manifests (GET /api/v1/play/<title>.mpd|.m3u8) whose locations are the client's ranked edges,
// each with a title token of its own, and the Content Steering server they name.
struct ControlPlay {
    // The URL players reach this control plane's public listener at ("https://steer.example"):
    // manifests name the steering server by it. Empty: the request's own Host (and scheme).
    std::string public_url;
    uint32_t token_ttl_s = 21600; // a manifest's title tokens: a viewing session, not a URL
    uint32_t steering_ttl_s = 30; // how often a player asks the steering server again
    std::string fetch_ca;         // CA (PEM) for fetching packaged manifests over https
    uint32_t fetch_timeout_ms = 5000;
    uint32_t cache_mb = 64; // packaged manifests kept in memory (verified bytes)
};

struct ControlConfig {
    std::string listen = "127.0.0.1:8070";
    std::string edge_listen;  // heartbeats and manifests; empty = on `listen`
    std::string admin_listen; // the rest of the API, the dashboard, /metrics; empty = on `listen`
    ControlTls tls;
    ControlLimits limits;
    ControlBgp bgp;
    ControlSteering steering;
    ControlPlay play;
    std::string read_token; // bearer token of read-only calls (dashboard, GET, /metrics)
    std::string db = "sqlite:vcdn-control.db";
    std::string fleet;       // fleet TOML applied at start; empty = keep what the db has
    std::string admin_token; // bearer token of admin calls; required (also reads)
    uint32_t threads = 0;    // API threads; 0 = one per core
    HealthConfig health;
    uint32_t sync_interval_ms = 250;  // health evaluation and database polling
    uint32_t url_ttl_s = 3600;        // signed URLs are valid this long
    uint32_t fill_url_ttl_s = 172800; // a manifest's fill signatures are valid this long
    // Bind signed URLs to the client's matched prefix. Off by default: a dual-stack player may
    // ask steering over IPv6 and fetch over IPv4 (or move between networks mid-play), and a
    // bound URL then fails; turn it on where players' addresses are stable.
    bool bind_client_prefix = false;
    uint32_t max_urls = 4; // edges per steering answer (the origin comes on top)
    // Steer to an edge's https_url where the fleet gives it one (the edge has a certificate);
    // false: always its plain url.
    bool https_urls = true;
    std::string steering_log = "-"; // one JSON line per decision: a file, "-" stderr, "off"
    std::string log_level = "info";
    // Popularity: views that edges served (heartbeat `served`), per site group of the
    // clients, smoothed once a period
    // (ewma = alpha × the period's views + (1 − alpha) × ewma). Placement reruns on each roll.
    uint32_t popularity_period_s = 86400;
    double popularity_alpha = 0.3;
    // An edge deletes a file its manifest dropped this long after the control plane
    // acknowledged the new manifest (players given a URL just before may still come).
    uint32_t fill_delete_delay_ms = 60000;
};

Status parse_control_toml(std::string_view text, std::string_view source, ControlConfig* cfg);
// A secret kept in a file (tokens): its first line without surrounding spaces; one printable
// word. Secrets come from files or the environment, never from the command line.
Result<std::string> read_secret_file(const std::string& path);
Status load_control_config_file(const std::string& path, ControlConfig* cfg);
Status validate(const ControlConfig& cfg);
// limits.trusted as prefixes (validate() reports a bad one).
Result<std::vector<io::IpPrefix>> trusted_prefixes(const ControlConfig& cfg);
// limits.proxies as prefixes (validate() reports a bad one).
Result<std::vector<io::IpPrefix>> proxy_prefixes(const ControlConfig& cfg);

} // namespace vcdn::control
