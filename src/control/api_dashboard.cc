// The dashboard page and its data, /healthz, and the control plane's /metrics.
#include <algorithm>
#include <fmt/format.h>

#include <vcdn/base/prometheus.h>

#include "api.h"

namespace vcdn::control {

using nlohmann::json;

namespace {

// GET /api/v1/bgp and the dashboard share the per-site BGP picture.
json dashboard_bgp(const View& v, int64_t now) {
    json out = json::array();
    json all = bgp_json(v, now); // kept alive: the loop walks into it
    for (json& s : all["sites"]) {
        if (!s["bgp"].get<bool>()) continue;
        json& d = s["differences"];
        if (d.size() > 5) d.erase(d.begin() + 5, d.end());
        for (json& e : s["edges"])
            e.erase("sessions");
        out.push_back(std::move(s));
    }
    return out;
}

// Fill across the fleet: files and bytes the manifests list, and what the edges that fill by
// them report still to do (an edge not reporting yet counts as all to go).
json fleet_fill(const View& v) {
    if (v.plan->edges.empty()) return nullptr;
    uint64_t files = 0, placed = 0, bytes = 0, pending = 0;
    double rate = 0;
    for (const auto& [id, m] : v.plan->edges) {
        files += m.files.size();
        bytes += m.bytes;
        uint64_t to_go = m.files.size(), bytes_to_go = m.bytes;
        if (auto it = v.status->find(id); it != v.status->end() && follows_manifest(it->second)) {
            const wire::FillProgress& f = *it->second.report.fill;
            to_go = std::min<uint64_t>(f.files_to_go, m.files.size());
            bytes_to_go = std::min<uint64_t>(f.bytes_to_go, m.bytes);
            rate += f.rate_bps;
        }
        placed += m.files.size() - to_go;
        pending += bytes_to_go;
    }
    return {{"files_total", files},
            {"files_placed", placed},
            {"bytes_total", bytes},
            {"bytes_pending", pending},
            {"rate_bps", rate}};
}

// The packaged titles (those with a DASH or HLS manifest), the first kMaxTitles by number, and
// where the watch page is: [control.play] public_url, or relative when the dashboard is on the
// public listener itself; null when the page cannot know (an admin listener of its own).
json dashboard_titles(const Service& s, const View& v) {
    constexpr size_t kMaxTitles = 200;
    std::vector<uint32_t> numbers;
    for (const auto& [n, t] : *v.titles)
        if (!t.mpds.empty() || !t.m3u8s.empty()) numbers.push_back(n);
    std::sort(numbers.begin(), numbers.end());
    json list = json::array();
    for (size_t i = 0; i < numbers.size() && i < kMaxTitles; ++i) {
        const TitleFiles& t = v.titles->at(numbers[i]);
        uint64_t bytes = 0;
        for (uint32_t f : t.files)
            bytes += (*v.files)[f].size;
        list.push_back({{"title", numbers[i]},
                        {"files", t.files.size()},
                        {"bytes", bytes},
                        {"dash", !t.mpds.empty()},
                        {"hls", !t.m3u8s.empty()}});
    }
    json watch = nullptr;
    if (!s.cfg.play.public_url.empty())
        watch = s.cfg.play.public_url + (s.cfg.play.public_url.back() == '/' ? "watch" : "/watch");
    else if (s.cfg.admin_listen.empty())
        watch = "watch";
    return {{"total", numbers.size()}, {"list", std::move(list)}, {"watch", std::move(watch)}};
}

// Steering requests that found no edge, by reason.
json unserved_counts(const Service& s) {
    json out = json::object();
    for (size_t i = 0; i < kUnservedReasons; ++i)
        out[unserved_name(static_cast<Unserved>(i))] = s.steer_unserved[i].load();
    return out;
}

} // namespace

ApiResponse get_dashboard_page(const ApiRequest&, Service&) {
    ApiResponse r;
    r.content_type = "text/html; charset=utf-8";
    r.body = std::string(dashboard_html());
    return r;
}

ApiResponse get_healthz(const ApiRequest&, Service&) {
    ApiResponse r;
    r.content_type = "text/plain; charset=utf-8";
    r.body = "ok\n";
    return r;
}

ApiResponse get_metrics(const ApiRequest& req, Service& s) {
    if (auto denied = require_read(req, s)) return *denied;
    auto v = s.current();
    PromText out;
    out.family("vcdn_control_steer_requests_total", "counter", "Steering requests answered.")
        .sample("vcdn_control_steer_requests_total", s.steer_requests.load());
    out.family("vcdn_control_steer_errors_total", "counter", "Steering requests refused.")
        .sample("vcdn_control_steer_errors_total", s.steer_errors.load());
    out.family(
        "vcdn_control_steer_unserved_total", "counter",
        "Steering requests (and playback manifests) that found no edge, answered 503 with "
        "the reason: not-placed (no edge holds the file yet), no-site-for-client (only edges "
        "of sites that do not serve the client), holders-unavailable (every holder down, "
        "drained or overloaded); the origin did not serve players.");
    for (size_t i = 0; i < kUnservedReasons; ++i)
        out.sample("vcdn_control_steer_unserved_total",
                   {{"reason", unserved_name(static_cast<Unserved>(i))}},
                   s.steer_unserved[i].load());
    {
        out.family("vcdn_control_play_requests_total", "counter",
                   "Playback manifests (dash, hls) and Content Steering answers asked for.");
        const char* kinds[] = {"dash", "hls", "steering"};
        for (size_t k = 0; k < 3; ++k)
            out.sample("vcdn_control_play_requests_total", {{"kind", kinds[k]}},
                       s.play_requests[k].load());
        out.family("vcdn_control_play_errors_total", "counter",
                   "Playback manifest and steering requests refused (each with a status and "
                   "reason).")
            .sample("vcdn_control_play_errors_total", s.play_errors.load());
        const ManifestCache::Stats ms = s.manifests->stats();
        out.family("vcdn_control_play_manifest_fetches_total", "counter",
                   "Packaged manifests fetched from the origin or an edge: ok, failed (no "
                   "answer, not 200) or mismatch (not the catalog's size and SHA-256).");
        out.sample("vcdn_control_play_manifest_fetches_total", {{"result", "ok"}},
                   ms.fetches - ms.fetch_failures - ms.mismatches);
        out.sample("vcdn_control_play_manifest_fetches_total", {{"result", "failed"}},
                   ms.fetch_failures);
        out.sample("vcdn_control_play_manifest_fetches_total", {{"result", "mismatch"}},
                   ms.mismatches);
        out.family("vcdn_control_play_manifest_cache_bytes", "gauge",
                   "Packaged manifests kept in memory (verified bytes and parsed forms).")
            .sample("vcdn_control_play_manifest_cache_bytes", ms.bytes);
        out.family("vcdn_control_play_manifest_cache_hits_total", "counter",
                   "Playback manifests made from what was in memory.")
            .sample("vcdn_control_play_manifest_cache_hits_total", ms.hits);
        out.family("vcdn_control_play_manifest_parse_failures_total", "counter",
                   "Packaged manifests that could not be steered (a reason each, in the answer).")
            .sample("vcdn_control_play_manifest_parse_failures_total", ms.parse_failures);
    }
    out.family("vcdn_control_steer_client_ignored_total", "counter",
               "Steering requests whose client= was ignored: not from a trusted address.")
        .sample("vcdn_control_steer_client_ignored_total", s.untrusted_client_params.load());
    out.family("vcdn_control_rebuilds_deferred_total", "counter",
               "Topology rebuilds put off to keep them at most one a second in a flood.")
        .sample("vcdn_control_rebuilds_deferred_total", s.rebuilds_deferred.load());
    out.family("vcdn_control_reload_failures_total", "counter",
               "SIGHUP reloads that failed and kept what was in use (fleet, certificate, "
               "session keys): the log says why.")
        .sample("vcdn_control_reload_failures_total", s.reload_failures.load());
    if (s.listener_metrics) s.listener_metrics(out);
    out.family("vcdn_control_heartbeats_total", "counter", "Heartbeats accepted.")
        .sample("vcdn_control_heartbeats_total", s.heartbeats.load());
    out.family("vcdn_control_heartbeat_errors_total", "counter", "Heartbeats refused.")
        .sample("vcdn_control_heartbeat_errors_total", s.heartbeat_errors.load());
    out.family("vcdn_control_heartbeats_too_fast_total", "counter",
               "Heartbeats refused (429) for coming sooner than a quarter interval.")
        .sample("vcdn_control_heartbeats_too_fast_total", s.heartbeats_too_fast.load());
    out.family("vcdn_control_served_bytes_total", "counter",
               "Bytes edges report they served (heartbeat `served`): counted as demand "
               "(catalog), not catalog files (foreign), over the edge's capacity (over_capacity).")
        .sample("vcdn_control_served_bytes_total", {{"kind", "catalog"}}, s.served_bytes.load())
        .sample("vcdn_control_served_bytes_total", {{"kind", "foreign"}},
                s.served_foreign_bytes.load())
        .sample("vcdn_control_served_bytes_total", {{"kind", "over_capacity"}},
                s.served_over_capacity_bytes.load());
    out.family("vcdn_control_served_views_total", "counter",
               "Demand from what edges served, in views (bytes over the file's size).")
        .sample("vcdn_control_served_views_total", s.served_views.load());
    out.family("vcdn_control_auth_failures_total", "counter",
               "Calls with a wrong admin, read or edge token.")
        .sample("vcdn_control_auth_failures_total", s.auth_limiter.failures());
    out.family("vcdn_control_auth_refusals_total", "counter",
               "Calls refused (429) because their address sent too many wrong tokens.")
        .sample("vcdn_control_auth_refusals_total", s.auth_limiter.refusals());
    out.family("vcdn_control_auth_table_resets_total", "counter",
               "Times the failed-token table was full of live windows and was emptied.")
        .sample("vcdn_control_auth_table_resets_total", s.auth_limiter.resets());
    out.family("vcdn_control_state_changes_total", "counter", "Edge state changes made.")
        .sample("vcdn_control_state_changes_total", s.state_changes.load());
    out.family("vcdn_control_bgp_prefixes", "gauge",
               "Client prefixes that steer to a site by BGP (accepted, heard by most of its "
               "edges).");
    for (const SiteBgp& sb : *v->bgp_sites)
        if (sb.bgp) out.sample("vcdn_control_bgp_prefixes", {{"site", sb.site}}, sb.prefixes);
    out.family("vcdn_control_bgp_differing_prefixes", "gauge",
               "Prefixes some edges of the site do not hear.");
    for (const SiteBgp& sb : *v->bgp_sites)
        if (sb.bgp)
            out.sample("vcdn_control_bgp_differing_prefixes", {{"site", sb.site}}, sb.differing);
    out.family("vcdn_control_steer_session_refused_total", "counter",
               "Steering requests refused for their session token ([control.steering]).");
    {
        static constexpr const char* kReason[] = {"ok",           "missing", "malformed",
                                                  "unknown_key",  "forged",  "expired",
                                                  "wrong_client", "too_long"};
        for (size_t i = 1; i < 8; ++i)
            out.sample("vcdn_control_steer_session_refused_total", {{"reason", kReason[i]}},
                       s.session_refused[i].load());
    }
    out.family("vcdn_control_bgp_refused_routes", "gauge",
               "Routes a site's edges report outside its bgp_allowed or shorter than the "
               "minimum length (not used).");
    for (const SiteBgp& sb : *v->bgp_sites)
        if (sb.bgp) out.sample("vcdn_control_bgp_refused_routes", {{"site", sb.site}}, sb.refused);
    out.family("vcdn_control_bgp_minority_prefixes", "gauge",
               "Prefixes heard by half of a site's edges or fewer (not used).");
    for (const SiteBgp& sb : *v->bgp_sites)
        if (sb.bgp)
            out.sample("vcdn_control_bgp_minority_prefixes", {{"site", sb.site}}, sb.minority);
    out.family("vcdn_control_db_errors_total", "counter", "Database calls that failed.")
        .sample("vcdn_control_db_errors_total", s.sync_errors.load());
    out.family("vcdn_control_edge_up", "gauge", "1 when steering uses the edge.");
    for (const auto& te : v->topo->edges)
        out.sample("vcdn_control_edge_up", {{"edge", te.id}}, te.eligible ? 1 : 0);
    out.family("vcdn_control_catalog_files", "gauge", "Files in the catalog.")
        .sample("vcdn_control_catalog_files", v->catalog_files);
    ApiResponse r;
    r.content_type = "text/plain; version=0.0.4";
    r.body = out.take();
    return r;
}

ApiResponse get_dashboard(const ApiRequest& req, Service& s) {
    if (auto denied = require_read(req, s)) return *denied;
    auto v = s.current();
    const int64_t now = wall_ms();
    std::map<std::string, uint64_t> by_site, by_tier;
    uint64_t total = 0;
    for (const auto& st : s.steer_stats) {
        std::lock_guard lk(st->mu);
        total += st->total;
        for (const auto& [k, n] : st->by_site)
            by_site[k] += n;
        for (const auto& [k, n] : st->by_tier)
            by_tier[k] += n;
    }
    json sites = json::array();
    std::lock_guard lk(s.stats_mu);
    for (const SiteSpec& site : v->fleet->sites) {
        json edges = json::array();
        for (const EdgeSpec& e : site.edges) {
            json ej = edge_json(*v, site, e, now);
            json hist = json::array();
            if (auto h = s.history.find(e.id); h != s.history.end())
                for (const HistoryPoint& p : h->second)
                    hist.push_back(
                        {{"t", p.t}, {"gbps_out", p.gbps_out}, {"connections", p.connections}});
            ej["history"] = std::move(hist);
            edges.push_back(std::move(ej));
        }
        sites.push_back({{"name", site.name},
                         {"tier", tier_name(site.tier)},
                         {"prefixes", site.prefixes},
                         {"edges", std::move(edges)}});
    }
    return json_ok({{"generated_at", now / 1000},
                    {"fleet", "vcdn"},
                    {"sites", std::move(sites)},
                    {"steering",
                     {{"total", total},
                      {"by_site", by_site},
                      {"by_tier", by_tier},
                      {"unserved", unserved_counts(s)}}},
                    {"qoe", {{"samples", s.qoe_samples}}},
                    {"fill", fleet_fill(*v)},
                    {"bgp", dashboard_bgp(*v, now)},
                    {"titles", dashboard_titles(s, *v)}});
}

void add_dashboard_routes(Routes& r, Service& s) {
    // The page holds no data (it asks /api/v1/dashboard with the token given in its URL).
    r.get(kAdmin, "/", [&s](const ApiRequest& q) { return get_dashboard_page(q, s); });
    r.get(kAdmin, "/index.html", [&s](const ApiRequest& q) { return get_dashboard_page(q, s); });
    r.get(kAllSurfaces, "/healthz", [&s](const ApiRequest& q) { return get_healthz(q, s); });
    r.get(kAdmin, "/metrics", [&s](const ApiRequest& q) { return get_metrics(q, s); });
    r.get(kAdmin, "/api/v1/dashboard", [&s](const ApiRequest& q) { return get_dashboard(q, s); });
}

} // namespace vcdn::control
