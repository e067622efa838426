#pragma once
// `vcdn sim`: a fleet design played forward day by day with the control plane's own code —
// placement (place::place_cluster), steering (steer::rank over a steer::Topology and its
// PrefixTable) and the health rule (control::evaluate_health) — at a scale this machine cannot
// run as processes (thousands of edges, a million files, a hundred million sessions).
//
// A day: nightly placement from the popularity the control plane would know (yesterday's
// demand smoothed, plus the feed for titles not seen yet) -> each edge's new files filled in
// the fill window at its rate cap (what does not fit is missing the next day) -> the day's
// sessions steered minute by minute, each held on its edge for its duration, an edge over its
// capacity passing the session to the next rank and, once over load_high, marked overloaded
// by the health rule until it drops under load_low. See docs/sim.md.
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include <vcdn/base/result.h>

namespace vcdn::sim {

struct SiteGen {
    std::string name;   // one site, or the name prefix of generated ones ("isp" -> isp-0001)
    uint32_t count = 1; // sites made by this entry
    std::string tier = "embedded"; // embedded | ix
    std::string region;
    uint32_t edges_min = 1, edges_max = 1;
    double edge_gbps = 40;
    uint64_t disk_bytes = 8000000000000ull;
    uint64_t flash_bytes = 0;
    double uplink_gbps = 0;   // 0: no cap beyond the edges
    double client_weight = 0; // share of the region's embedded clients (0: by edges x gbps)
};

struct RegionSpec {
    std::string name;
    double weight = 1;          // share of sessions
    double ix_only_share = 0.1; // clients in no embedded site (served by the region's IX)
    double variation = 0.1;     // share of titles whose popularity rank differs here
};

struct EventSpec {
    uint32_t day = 0;
    double hour = 0;
    std::string kind;   // edge-fail | bgp-loss | launch | feed-error
    std::string target; // an edge id, a site name, or for launch: nothing
    double hours = 24;  // how long an edge-fail / bgp-loss lasts
};

struct Scenario {
    std::string name = "custom";
    uint64_t seed = 1;
    uint32_t days = 1;
    // Catalog.
    uint32_t titles = 1000;
    std::vector<uint32_t> ladder_kbps = {235, 750, 1750, 3000, 5800};
    std::vector<double> rung_weights = {0.05, 0.1, 0.2, 0.3, 0.35}; // a session's bitrate
    uint32_t min_minutes = 20, max_minutes = 120;                   // title duration
    double zipf_alpha = 0.9;
    uint32_t new_titles_per_day = 0; // released each day, start hot and decay
    double launch_boost = 3;         // a release's weight over the catalog's top title
    double launch_decay = 0.5;       // per day
    // Demand.
    double sessions_per_day = 100000;
    double watch_minutes = 30;   // mean (exponential, capped at the title's length)
    std::vector<double> diurnal; // 24 hourly weights (default: evening peak)
    // Fill.
    double fill_window_hours = 8;
    double fill_rate_gbps = 10; // per edge
    // Placement and health (the control plane's defaults).
    double copies_factor = 4;
    double popularity_alpha = 0.5; // EWMA of daily demand
    double load_high = 0.90, load_low = 0.75;
    uint32_t hold_down_minutes = 3;
    uint32_t max_urls = 4;
    uint32_t lru_sample_sites = 20; // embedded sites the LRU comparison replays
    std::vector<RegionSpec> regions;
    std::vector<SiteGen> sites;
    std::vector<EventSpec> events;
};

Result<Scenario> parse_scenario_toml(std::string_view text, std::string_view source);
Result<Scenario> load_scenario(const std::string& path);
// What load_scenario checks (also after flags changed a loaded scenario).
Status validate(const Scenario& s);
// "small" (seconds) and "internet" (10,000 edges, 1M files, 100M sessions over 7 days).
Result<Scenario> preset(std::string_view name);

struct Progress {
    uint32_t day = 0, days = 0;
    std::string phase; // placement, fill, sessions
    double fraction = 0;
};

// Runs the scenario; the report is JSON (see docs/sim.md for the fields).
Result<nlohmann::json> run(const Scenario& s, const std::function<void(const Progress&)>& progress);

std::string summary_table(const nlohmann::json& report);
// A self-contained HTML page with charts (uPlot, as the dashboard).
std::string html_report(const nlohmann::json& report);

} // namespace vcdn::sim
