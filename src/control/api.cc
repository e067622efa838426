// The control plane's HTTP API (/api/v1/...), the dashboard page, /healthz and /metrics.
// Handlers run on the HTTP service's threads; they read the current View and write through
// the Store (one transaction per call), then wake the sync loop so the change shows at once.
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <optional>

#include <vcdn/base/log.h>
#include <vcdn/catalog/catalog.h>
#include <vcdn/http/date.h>

#include "server_impl.h"

namespace vcdn::control {

using io::ApiRequest;
using io::ApiResponse;
using nlohmann::json;

ApiResponse json_error(uint16_t status, std::string_view code, std::string_view message) {
    ApiResponse r;
    r.status = status;
    r.body = json{{"error", {{"status", status}, {"code", code}, {"message", message}}}}.dump(
                 -1, ' ', false, json::error_handler_t::replace) +
             "\n";
    return r;
}

namespace {

ApiResponse json_ok(const json& j, uint16_t status = 200) {
    ApiResponse r;
    r.status = status;
    // Bytes from requests (paths, ids) need not be UTF-8: replace, never throw.
    r.body = j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
    return r;
}

bool token_equals(std::string_view given, std::string_view expected) {
    if (given.size() != expected.size() || expected.empty()) return false;
    return CRYPTO_memcmp(given.data(), expected.data(), expected.size()) == 0;
}

// "Bearer <token>" -> token; empty when absent or another scheme.
std::string_view bearer(std::string_view authorization) {
    constexpr std::string_view kBearer = "Bearer ";
    if (authorization.size() <= kBearer.size()) return {};
    for (size_t i = 0; i < kBearer.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(authorization[i])) !=
            std::tolower(static_cast<unsigned char>(kBearer[i])))
            return {};
    return authorization.substr(kBearer.size());
}

// Splits "/api/v1/edges/a1/heartbeat" after the prefix into segments.
std::vector<std::string_view> segments(std::string_view path) {
    std::vector<std::string_view> out;
    while (!path.empty()) {
        if (path.front() == '/') {
            path.remove_prefix(1);
            continue;
        }
        size_t slash = path.find('/');
        out.push_back(path.substr(0, slash));
        if (slash == std::string_view::npos) break;
        path.remove_prefix(slash);
    }
    return out;
}

Result<json> parse_body(const ApiRequest& req) {
    if (req.body.empty()) return Error{"the request has no JSON body"};
    // Nesting beyond any real document is cut off while parsing, so that no later step
    // (copy, dump) recurses through megabytes of '['.
    bool too_deep = false;
    json j = json::parse(
        req.body,
        [&](int depth, json::parse_event_t, json&) {
            if (depth > 32) too_deep = true;
            return depth <= 32;
        },
        false);
    if (j.is_discarded()) return Error{"the body is not valid JSON"};
    if (too_deep) return Error{"the JSON is nested more than 32 levels"};
    return j;
}

json edge_json(const View& v, const SiteSpec& site, const EdgeSpec& e, int64_t now) {
    json j = {{"id", e.id},
              {"site", site.name},
              {"tier", tier_name(site.tier)},
              {"url", e.url},
              {"https_url", e.https_url},
              {"storage_bytes", e.storage_bytes},
              {"flash_bytes", e.flash_bytes},
              {"capacity_gbps", e.capacity_gbps}};
    auto d = v.drained.find(e.id);
    j["drained"] = d != v.drained.end() && d->second;
    auto it = v.status->find(e.id);
    if (it == v.status->end()) {
        j["state"] = "unknown";
        j["reason"] = "no-heartbeat-yet";
        j["since"] = nullptr;
        j["last_heartbeat_ms_ago"] = nullptr;
        j["files"] = 0;
        return j;
    }
    const EdgeStatus& s = it->second;
    j["state"] = s.state;
    j["reason"] = s.reason;
    j["since"] = s.since_ms / 1000;
    j["last_heartbeat_ms_ago"] =
        s.last_heartbeat_ms ? json(now - s.last_heartbeat_ms) : json(nullptr);
    j["files"] = s.files;
    if (auto mv = v.manifest_versions.find(e.id); mv != v.manifest_versions.end()) {
        const EdgeManifest& m = v.plan->edges.at(e.id);
        j["manifest"] = {
            {"version", mv->second.version}, {"files", m.files.size()}, {"bytes", m.bytes}};
    }
    const json& rep = s.report;
    if (rep.is_object()) {
        if (rep.contains("load") && rep["load"].is_object()) {
            j["gbps_out"] = rep["load"].value("gbps_out", 0.0);
            j["connections"] = rep["load"].value("connections", uint64_t{0});
            j["cpu"] = rep["load"].value("cpu", 0.0);
        }
        if (rep.contains("disks")) j["disks"] = rep["disks"];
        if (rep.contains("fill")) j["fill"] = rep["fill"];
        j["reported_healthy"] = rep.value("healthy", true);
        if (rep.contains("reason")) j["reported_reason"] = rep["reason"];
    }
    return j;
}

const SiteSpec* site_of(const Fleet& f, std::string_view edge_id, const EdgeSpec** edge) {
    for (const SiteSpec& s : f.sites)
        for (const EdgeSpec& e : s.edges)
            if (e.id == edge_id) {
                *edge = &e;
                return &s;
            }
    return nullptr;
}

template <class T> bool take(const json& j, const char* key, T* out, std::string* err) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return true;
    try {
        *out = it->get<T>();
        return true;
    } catch (const json::exception&) {
        *err = fmt::format("'{}' has the wrong type", key);
        return false;
    }
}

// GET /api/v1/bgp and the dashboard: per site, the BGP union, the reporting edges with their
// sessions, and the prefixes the edges disagree on.
json bgp_json(const View& v, int64_t now) {
    json sites = json::array();
    for (const SiteBgp& sb : *v.bgp_sites) {
        json edges = json::array();
        for (const auto& [id, n] : sb.edges) {
            json e = {{"id", id}, {"prefixes", n}};
            if (auto it = v.status->find(id); it != v.status->end()) {
                const json& r = it->second.report;
                if (r.is_object() && r.contains("bgp") && r["bgp"].is_object()) {
                    e["connected"] = r["bgp"].value("connected", false);
                    e["error"] = r["bgp"].value("error", std::string());
                    e["sessions"] = r["bgp"].value("sessions", json::array());
                    e["sending"] = r["bgp"].value("more", false);
                }
                e["last_heartbeat_ms_ago"] = it->second.last_heartbeat_ms
                                                 ? json(now - it->second.last_heartbeat_ms)
                                                 : json(nullptr);
            }
            edges.push_back(std::move(e));
        }
        json diffs = json::array();
        for (const BgpDifference& d : sb.differences)
            diffs.push_back(
                {{"prefix", d.prefix}, {"heard_by", d.heard_by}, {"missing_from", d.missing_from}});
        sites.push_back({{"site", sb.site},
                         {"bgp", sb.bgp},
                         {"prefixes", sb.prefixes},
                         {"consistent", sb.differing == 0},
                         {"differing", sb.differing},
                         {"differences", std::move(diffs)},
                         {"edges", std::move(edges)}});
    }
    return {{"sites", std::move(sites)}};
}

// The dashboard's BGP panel: sites with BGP, their union and the first few disagreements.
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

bool only_keys(const json& j, std::initializer_list<const char*> known, std::string* err) {
    for (auto it = j.begin(); it != j.end(); ++it) {
        bool ok = false;
        for (const char* k : known)
            ok = ok || it.key() == k;
        if (!ok) {
            *err = fmt::format("unknown key '{}'", it.key());
            return false;
        }
    }
    return true;
}

} // namespace

// The answer to an admin fleet edit: the refusal the change gave, a validation (400) or
// database (503) error, or success once the change is visible to this instance.
ApiResponse ControlServer::Impl::fleet_write_answer(const Status& written,
                                                    const std::optional<ApiResponse>& refusal,
                                                    bool created) {
    if (refusal) return *refusal;
    if (!written) {
        const bool invalid =
            written.error().sys_errno == 0 && written.error().message.rfind("SQL", 0) != 0;
        return json_error(invalid ? 400 : 503, invalid ? "invalid" : "database",
                          written.error().message);
    }
    sync_once(); // read-your-writes: the answer reflects the change
    return json_ok({{"ok", true}}, created ? 201 : 200);
}

ApiResponse ControlServer::Impl::handle(const ApiRequest& req) {
    const std::string_view path = req.path;
    const bool get = req.method == http::Method::kGet || req.method == http::Method::kHead;
    const bool post = req.method == http::Method::kPost;
    const bool put = req.method == http::Method::kPut;
    const bool del = req.method == http::Method::kDelete;

    if (path == "/" || path == "/index.html") {
        if (!get) return json_error(405, "method-not-allowed", "GET only");
        ApiResponse r;
        r.content_type = "text/html; charset=utf-8";
        r.body = std::string(dashboard_html());
        return r;
    }
    if (path == "/healthz") {
        ApiResponse r;
        r.content_type = "text/plain; charset=utf-8";
        r.body = "ok\n";
        return r;
    }
    if (path == "/metrics") {
        ApiResponse r;
        r.content_type = "text/plain; version=0.0.4";
        auto v = current();
        std::string m;
        auto out = std::back_inserter(m);
        fmt::format_to(out,
                       "# TYPE vcdn_control_steer_requests_total counter\n"
                       "vcdn_control_steer_requests_total {}\n",
                       steer_requests.load());
        fmt::format_to(out,
                       "# TYPE vcdn_control_steer_errors_total counter\n"
                       "vcdn_control_steer_errors_total {}\n",
                       steer_errors.load());
        fmt::format_to(out,
                       "# TYPE vcdn_control_heartbeats_total counter\n"
                       "vcdn_control_heartbeats_total {}\n",
                       heartbeats.load());
        fmt::format_to(out,
                       "# TYPE vcdn_control_heartbeat_errors_total counter\n"
                       "vcdn_control_heartbeat_errors_total {}\n",
                       heartbeat_errors.load());
        fmt::format_to(out,
                       "# TYPE vcdn_control_state_changes_total counter\n"
                       "vcdn_control_state_changes_total {}\n",
                       state_changes.load());
        if (std::shared_ptr<const View> bv = current()) {
            std::string pre, dif;
            for (const SiteBgp& sb : *bv->bgp_sites) {
                if (!sb.bgp) continue;
                fmt::format_to(std::back_inserter(pre),
                               "vcdn_control_bgp_prefixes{{site=\"{}\"}} {}\n", sb.site,
                               sb.prefixes);
                fmt::format_to(std::back_inserter(dif),
                               "vcdn_control_bgp_differing_prefixes{{site=\"{}\"}} {}\n", sb.site,
                               sb.differing);
            }
            fmt::format_to(
                out,
                "# HELP vcdn_control_bgp_prefixes Client prefixes a site's edges hear "
                "over BGP (the union).\n# TYPE vcdn_control_bgp_prefixes gauge\n{}"
                "# HELP vcdn_control_bgp_differing_prefixes Prefixes some edges of the "
                "site do not hear.\n# TYPE vcdn_control_bgp_differing_prefixes gauge\n{}",
                pre, dif);
        }
        fmt::format_to(out,
                       "# TYPE vcdn_control_db_errors_total counter\n"
                       "vcdn_control_db_errors_total {}\n",
                       sync_errors.load());
        fmt::format_to(out, "# HELP vcdn_control_edge_up 1 when steering uses the edge.\n"
                            "# TYPE vcdn_control_edge_up gauge\n");
        for (const auto& te : v->topo->edges)
            fmt::format_to(out, "vcdn_control_edge_up{{edge=\"{}\"}} {}\n", te.id,
                           te.eligible ? 1 : 0);
        fmt::format_to(out,
                       "# TYPE vcdn_control_catalog_files gauge\nvcdn_control_catalog_files {}\n",
                       v->catalog_files);
        r.body = std::move(m);
        return r;
    }
    if (path.substr(0, 8) != "/api/v1/")
        return json_error(404, "not-found", fmt::format("no such resource: {}", path));

    std::vector<std::string_view> seg = segments(path.substr(8));
    if (seg.empty()) return json_error(404, "not-found", "see docs/api.md for the resources");
    const std::string_view res = seg[0];
    const std::string_view token = bearer(req.authorization);
    const bool admin = token_equals(token, cfg.admin_token);
    auto need_admin = [&]() -> std::optional<ApiResponse> {
        if (admin) return std::nullopt;
        if (token.empty())
            return json_error(401, "unauthorized",
                              "this call needs 'Authorization: Bearer <admin token>'");
        return json_error(403, "forbidden", "wrong admin token");
    };
    const int64_t now = wall_ms();

    // ---- steering (public; the hot call: steer_api.cc) ----
    if (res == "steer" && seg.size() == 1) {
        if (!get) return json_error(405, "method-not-allowed", "GET only");
        return steer(req, view_for(req.thread), now);
    }
    auto v = current();

    // ---- the dashboard's one call (public, read-only, no tokens) ----
    if (res == "dashboard" && seg.size() == 1) {
        if (!get) return json_error(405, "method-not-allowed", "GET only");
        json sites = json::array();
        std::map<std::string, uint64_t> by_site, by_tier;
        uint64_t total = 0;
        for (const auto& st : steer_stats) {
            std::lock_guard lk(st->mu);
            total += st->total;
            for (const auto& [k, n] : st->by_site)
                by_site[k] += n;
            for (const auto& [k, n] : st->by_tier)
                by_tier[k] += n;
        }
        // Fill across the fleet: files and bytes the manifests list, and what the edges that
        // fill by them report still to do (an edge not reporting yet counts as all to go).
        uint64_t fill_files = 0, fill_placed = 0, fill_bytes = 0, fill_pending = 0;
        double fill_rate = 0;
        for (const auto& [id, m] : v->plan->edges) {
            fill_files += m.files.size();
            fill_bytes += m.bytes;
            uint64_t to_go = m.files.size(), bytes_to_go = m.bytes;
            if (auto it = v->status->find(id); it != v->status->end() &&
                                               follows_manifest(it->second) &&
                                               it->second.report["fill"].is_object()) {
                const json& f = it->second.report["fill"];
                to_go = std::min<uint64_t>(f.value("files_to_go", to_go), m.files.size());
                bytes_to_go = std::min<uint64_t>(f.value("bytes_to_go", bytes_to_go), m.bytes);
                fill_rate += f.value("rate_bps", 0.0);
            }
            fill_placed += m.files.size() - to_go;
            fill_pending += bytes_to_go;
        }
        json fill = nullptr;
        if (!v->plan->edges.empty())
            fill = {{"files_total", fill_files},
                    {"files_placed", fill_placed},
                    {"bytes_total", fill_bytes},
                    {"bytes_pending", fill_pending},
                    {"rate_bps", fill_rate}};
        std::lock_guard lk(stats_mu);
        for (const SiteSpec& s : v->fleet->sites) {
            json edges = json::array();
            for (const EdgeSpec& e : s.edges) {
                json ej = edge_json(*v, s, e, now);
                json hist = json::array();
                if (auto h = history.find(e.id); h != history.end())
                    for (const HistoryPoint& p : h->second)
                        hist.push_back(
                            {{"t", p.t}, {"gbps_out", p.gbps_out}, {"connections", p.connections}});
                ej["history"] = std::move(hist);
                edges.push_back(std::move(ej));
            }
            sites.push_back({{"name", s.name},
                             {"tier", tier_name(s.tier)},
                             {"prefixes", s.prefixes},
                             {"edges", std::move(edges)}});
        }
        return json_ok(
            {{"generated_at", now / 1000},
             {"fleet", "vcdn"},
             {"sites", std::move(sites)},
             {"steering", {{"total", total}, {"by_site", by_site}, {"by_tier", by_tier}}},
             {"qoe", {{"samples", qoe_samples}}},
             {"fill", std::move(fill)},
             {"bgp", dashboard_bgp(*v, now)}});
    }

    // ---- edges: heartbeat (edge token), list/get (public), admin changes ----
    if (res == "edges") {
        if (seg.size() == 3 && seg[2] == "manifest") {
            if (!get) return json_error(405, "method-not-allowed", "GET only");
            const EdgeSpec* e = nullptr;
            const SiteSpec* s = site_of(*v->fleet, seg[1], &e);
            if (!s) return json_error(404, "unknown-edge", fmt::format("no edge '{}'", seg[1]));
            if (!admin && !token_equals(token, e->token))
                return json_error(token.empty() ? 401 : 403, "bad-edge-token",
                                  "a manifest needs 'Authorization: Bearer <the edge's token>' "
                                  "(or the admin token)");
            auto mi = v->plan->edges.find(e->id);
            auto mv = v->manifest_versions.find(e->id);
            if (mi == v->plan->edges.end() || mv == v->manifest_versions.end())
                return json_error(404, "no-manifest",
                                  fmt::format("edge {} has no manifest: give it storage_bytes in "
                                              "the fleet and import a catalog",
                                              e->id));
            ApiResponse r;
            r.body = manifest_json(mi->second, mv->second.version, v->generation, *v->files,
                                   v->fleet->fill_token);
            return r;
        }
        if (seg.size() == 3 && seg[2] == "heartbeat") {
            if (!post) return json_error(405, "method-not-allowed", "POST only");
            const EdgeSpec* e = nullptr;
            const SiteSpec* s = site_of(*v->fleet, seg[1], &e);
            if (!s) {
                heartbeat_errors.fetch_add(1, std::memory_order_relaxed);
                return json_error(404, "unknown-edge",
                                  fmt::format("no edge '{}' in the fleet", seg[1]));
            }
            if (!token_equals(token, e->token)) {
                heartbeat_errors.fetch_add(1, std::memory_order_relaxed);
                return json_error(token.empty() ? 401 : 403, "bad-edge-token",
                                  "heartbeats need 'Authorization: Bearer <the edge's token>'");
            }
            auto body = parse_body(req);
            if (!body) return json_error(400, "bad-json", body.error().message);
            const json& j = *body;
            std::string err;
            bool healthy = true;
            std::string reason;
            json load = json::object(), disks = json::array(), prefixes = json::array(),
                 inv = json::object(), fill = nullptr, bgpj = nullptr;
            if (!j.is_object() ||
                !only_keys(j,
                           {"healthy", "reason", "load", "disks", "inventory", "prefixes",
                            "version", "fill", "bgp"},
                           &err) ||
                !take(j, "fill", &fill, &err) || !take(j, "bgp", &bgpj, &err) ||
                !take(j, "healthy", &healthy, &err) || !take(j, "reason", &reason, &err) ||
                !take(j, "load", &load, &err) || !take(j, "disks", &disks, &err) ||
                !take(j, "prefixes", &prefixes, &err) || !take(j, "inventory", &inv, &err)) {
                heartbeat_errors.fetch_add(1, std::memory_order_relaxed);
                return json_error(400, "bad-heartbeat",
                                  err.empty() ? "expected a JSON object" : err);
            }
            InventoryUpdate up;
            double gbps = 0, cpu = 0;
            uint64_t conns = 0;
            if (!load.is_object() || !take(load, "gbps_out", &gbps, &err) ||
                !take(load, "connections", &conns, &err) || !take(load, "cpu", &cpu, &err) ||
                !inv.is_object() || !take(inv, "full", &up.full, &err) ||
                !take(inv, "added", &up.added, &err) || !take(inv, "removed", &up.removed, &err) ||
                !take(inv, "digest", &up.digest, &err) || !disks.is_array() ||
                !prefixes.is_array()) {
                heartbeat_errors.fetch_add(1, std::memory_order_relaxed);
                return json_error(400, "bad-heartbeat",
                                  err.empty() ? "load, inventory: objects; disks, prefixes: arrays"
                                              : err);
            }
            if (gbps < 0 || cpu < 0 || reason.size() > 500) {
                heartbeat_errors.fetch_add(1, std::memory_order_relaxed);
                return json_error(400, "bad-heartbeat",
                                  "negative load, or a reason over 500 bytes");
            }
            for (const auto* list : {&up.added, &up.removed})
                for (const std::string& p : *list)
                    if (p.empty() || p[0] != '/' || p.size() > 4096) {
                        heartbeat_errors.fetch_add(1, std::memory_order_relaxed);
                        return json_error(400, "bad-heartbeat",
                                          fmt::format("inventory path '{}' must start with '/'",
                                                      p.substr(0, 100)));
                    }
            json report = {{"healthy", healthy},
                           {"reason", reason},
                           {"load", {{"gbps_out", gbps}, {"connections", conns}, {"cpu", cpu}}},
                           {"disks", disks},
                           {"prefixes", prefixes}};
            if (fill.is_object()) {
                if (fill.dump().size() > 4096)
                    return json_error(400, "bad-heartbeat", "fill: at most 4 KiB");
                report["fill"] = fill;
            }
            // BGP: the sessions go into the report; route changes into the edge's table.
            std::optional<bool> bgp_matches;
            bool bgp_changed = false;
            if (!bgpj.is_null()) {
                BgpUpdate bu;
                std::vector<std::string> upserts, removals;
                json sessions = json::array();
                bool connected = false, more = false;
                std::string bgp_error;
                uint64_t npfx = 0;
                if (!bgpj.is_object() ||
                    !only_keys(bgpj,
                               {"connected", "error", "sessions", "prefixes", "full", "upserts",
                                "removals", "more", "digest"},
                               &err) ||
                    !take(bgpj, "connected", &connected, &err) ||
                    !take(bgpj, "error", &bgp_error, &err) ||
                    !take(bgpj, "sessions", &sessions, &err) ||
                    !take(bgpj, "prefixes", &npfx, &err) || !take(bgpj, "full", &bu.full, &err) ||
                    !take(bgpj, "upserts", &upserts, &err) ||
                    !take(bgpj, "removals", &removals, &err) || !take(bgpj, "more", &more, &err) ||
                    !take(bgpj, "digest", &bu.digest, &err) || !sessions.is_array()) {
                    heartbeat_errors.fetch_add(1, std::memory_order_relaxed);
                    return json_error(400, "bad-heartbeat",
                                      "bgp: " + (err.empty() ? "expected an object" : err));
                }
                if (upserts.size() + removals.size() > 500000 || sessions.size() > 64 ||
                    sessions.dump().size() > 65536 || bgp_error.size() > 500) {
                    heartbeat_errors.fetch_add(1, std::memory_order_relaxed);
                    return json_error(400, "bad-heartbeat",
                                      "bgp: at most 500000 changes, 64 sessions (64 KiB) and an "
                                      "error of 500 bytes per heartbeat");
                }
                bu.diff.upserts.reserve(upserts.size());
                for (const std::string& line : upserts) {
                    auto r = bgp::parse_route_line(line);
                    if (!r) {
                        heartbeat_errors.fetch_add(1, std::memory_order_relaxed);
                        return json_error(400, "bad-heartbeat",
                                          fmt::format("bgp: route '{}': {}", line.substr(0, 100),
                                                      r.error().message));
                    }
                    bu.diff.upserts.push_back(std::move(*r));
                }
                for (const std::string& p : removals) {
                    auto r = io::IpPrefix::parse(p);
                    if (!r) {
                        heartbeat_errors.fetch_add(1, std::memory_order_relaxed);
                        return json_error(400, "bad-heartbeat",
                                          fmt::format("bgp: removal '{}': {}", p.substr(0, 100),
                                                      r.error().message));
                    }
                    bu.diff.removals.push_back(*r);
                }
                auto m = store->record_bgp(e->id, bu);
                if (!m) {
                    heartbeat_errors.fetch_add(1, std::memory_order_relaxed);
                    return json_error(503, "database", m.error().message);
                }
                bgp_matches = *m;
                report["bgp"] = {{"connected", connected},
                                 {"error", bgp_error},
                                 {"sessions", std::move(sessions)},
                                 {"prefixes", npfx},
                                 {"more", more}};
                bgp_changed = bu.full || bu.diff.size() > 0;
            }
            auto matches = store->record_heartbeat(e->id, now, report, up);
            if (!matches) {
                heartbeat_errors.fetch_add(1, std::memory_order_relaxed);
                return json_error(503, "database", matches.error().message);
            }
            heartbeats.fetch_add(1, std::memory_order_relaxed);
            // After the report is stored: the sync that follows shows it with the change.
            if (up.full || !up.added.empty() || !up.removed.empty() || bgp_changed) wake_sync();
            json keys = json::array();
            for (const KeyRecord& k : v->keys)
                keys.push_back({{"id", k.id}, {"secret_hex", k.secret_hex}});
            std::string state = "unknown", state_reason = "first-heartbeat";
            if (auto it = v->status->find(e->id); it != v->status->end()) {
                state = it->second.state;
                state_reason = it->second.reason;
            }
            json reply = {{"ok", true},
                          {"state", state},
                          {"reason", state_reason},
                          {"inventory", *matches ? "ok" : "resend"},
                          {"heartbeat_interval_ms", cfg.health.heartbeat_interval_ms},
                          {"keys", std::move(keys)}};
            if (bgp_matches) reply["bgp"] = *bgp_matches ? "ok" : "resend";
            // The manifest version steering uses now: the edge fetches it when it is new, and
            // may delete what it dropped once acknowledged (plus a delay for URLs in flight).
            if (auto mv = v->manifest_versions.find(e->id); mv != v->manifest_versions.end()) {
                // Acknowledged only once the published topology follows the manifest.
                const bool steered_by_it = v->steered_by_manifest.count(e->id) > 0;
                reply["manifest"] = {{"version", mv->second.version},
                                     {"ack", steered_by_it ? mv->second.version : 0},
                                     {"delete_delay_ms", cfg.fill_delete_delay_ms}};
            }
            return json_ok(std::move(reply));
        }
        if (seg.size() == 1 && get) {
            json list = json::array();
            for (const SiteSpec& s : v->fleet->sites)
                for (const EdgeSpec& e : s.edges)
                    list.push_back(edge_json(*v, s, e, now));
            return json_ok({{"edges", std::move(list)}});
        }
        if (seg.size() == 2 && get) {
            const EdgeSpec* e = nullptr;
            const SiteSpec* s = site_of(*v->fleet, seg[1], &e);
            if (!s) return json_error(404, "unknown-edge", fmt::format("no edge '{}'", seg[1]));
            return json_ok(edge_json(*v, *s, *e, now));
        }
        if (auto denied = need_admin()) return *denied;
        if (seg.size() == 3 && seg[2] == "drain" && post) {
            std::string err;
            bool drained = true;
            if (!req.body.empty()) {
                auto body = parse_body(req);
                if (!body) return json_error(400, "bad-json", body.error().message);
                if (!body->is_object() || !only_keys(*body, {"drained"}, &err) ||
                    !take(*body, "drained", &drained, &err))
                    return json_error(400, "bad-drain",
                                      err.empty() ? "expected {\"drained\": true|false}" : err);
            }
            Status s = store->set_drained(std::string(seg[1]), drained);
            if (!s) return json_error(404, "unknown-edge", s.error().message);
            sync_once(); // read-your-writes: the answer reflects the change
            return json_ok({{"id", seg[1]}, {"drained", drained}});
        }
        std::string err;
        // The change runs inside the store's transaction (read, change, write: no lost update
        // when two admins edit at once); a refusal aborts it with the answer to give.
        std::optional<ApiResponse> refusal;
        auto refuse = [&](ApiResponse r) -> Status {
            refusal = std::move(r);
            return Error{"refused"};
        };
        Status written = store->update_fleet([&](Fleet* fp) -> Status {
            Fleet& f = *fp;
            if (seg.size() == 1 && post) {
                auto body = parse_body(req);
                if (!body) return refuse(json_error(400, "bad-json", body.error().message));
                const json& j = *body;
                EdgeSpec e;
                std::string site;
                if (!j.is_object() ||
                    !only_keys(j,
                               {"id", "site", "url", "https_url", "token", "storage_bytes",
                                "flash_bytes", "capacity_gbps"},
                               &err) ||
                    !take(j, "id", &e.id, &err) || !take(j, "site", &site, &err) ||
                    !take(j, "url", &e.url, &err) || !take(j, "https_url", &e.https_url, &err) ||
                    !take(j, "token", &e.token, &err) ||
                    !take(j, "storage_bytes", &e.storage_bytes, &err) ||
                    !take(j, "flash_bytes", &e.flash_bytes, &err) ||
                    !take(j, "capacity_gbps", &e.capacity_gbps, &err))
                    return refuse(
                        json_error(400, "bad-edge", err.empty() ? "expected a JSON object" : err));
                const EdgeSpec* existing = nullptr;
                if (site_of(f, e.id, &existing))
                    return refuse(
                        json_error(409, "edge-exists", fmt::format("edge '{}' exists", e.id)));
                SiteSpec* target = nullptr;
                for (SiteSpec& s : f.sites)
                    if (s.name == site) target = &s;
                if (!target)
                    return refuse(
                        json_error(404, "unknown-site", fmt::format("no site '{}'", site)));
                target->edges.push_back(e);
            } else if (seg.size() == 2 && (put || del)) {
                bool found = false;
                for (SiteSpec& s : f.sites)
                    for (size_t i = 0; i < s.edges.size(); ++i)
                        if (s.edges[i].id == seg[1]) {
                            found = true;
                            if (del) {
                                s.edges.erase(s.edges.begin() + static_cast<long>(i));
                                break;
                            }
                            auto body = parse_body(req);
                            if (!body)
                                return refuse(json_error(400, "bad-json", body.error().message));
                            const json& j = *body;
                            EdgeSpec& e = s.edges[i];
                            if (!j.is_object() ||
                                !only_keys(j,
                                           {"url", "https_url", "token", "storage_bytes",
                                            "flash_bytes", "capacity_gbps"},
                                           &err) ||
                                !take(j, "url", &e.url, &err) ||
                                !take(j, "https_url", &e.https_url, &err) ||
                                !take(j, "token", &e.token, &err) ||
                                !take(j, "storage_bytes", &e.storage_bytes, &err) ||
                                !take(j, "flash_bytes", &e.flash_bytes, &err) ||
                                !take(j, "capacity_gbps", &e.capacity_gbps, &err))
                                return refuse(json_error(
                                    400, "bad-edge", err.empty() ? "expected a JSON object" : err));
                            break;
                        }
                if (!found)
                    return refuse(
                        json_error(404, "unknown-edge", fmt::format("no edge '{}'", seg[1])));
            } else {
                return refuse(
                    json_error(405, "method-not-allowed", "see docs/api.md for the edge calls"));
            }
            return Status{};
        });
        return fleet_write_answer(written, refusal, post);
    }

    // ---- sites ----
    if (res == "sites") {
        if (get && seg.size() <= 2) {
            json list = json::array();
            for (const SiteSpec& s : v->fleet->sites) {
                if (seg.size() == 2 && s.name != seg[1]) continue;
                json ids = json::array();
                for (const EdgeSpec& e : s.edges)
                    ids.push_back(e.id);
                list.push_back({{"name", s.name},
                                {"tier", tier_name(s.tier)},
                                {"prefixes", s.prefixes},
                                {"fallback", s.fallback},
                                {"edges", std::move(ids)}});
            }
            if (seg.size() == 2) {
                if (list.empty())
                    return json_error(404, "unknown-site", fmt::format("no site '{}'", seg[1]));
                return json_ok(list[0]);
            }
            return json_ok({{"sites", std::move(list)}});
        }
        if (auto denied = need_admin()) return *denied;
        std::string err;
        // The change runs inside the store's transaction (read, change, write: no lost update
        // when two admins edit at once); a refusal aborts it with the answer to give.
        std::optional<ApiResponse> refusal;
        auto refuse = [&](ApiResponse r) -> Status {
            refusal = std::move(r);
            return Error{"refused"};
        };
        Status written = store->update_fleet([&](Fleet* fp) -> Status {
            Fleet& f = *fp;
            auto read_site = [&](const json& j, SiteSpec* s, bool with_name) -> bool {
                std::string tier = tier_name(s->tier);
                if (!j.is_object()) {
                    err = "expected a JSON object";
                    return false;
                }
                if (!only_keys(j, {"name", "tier", "prefixes", "fallback"}, &err)) return false;
                if (with_name && !take(j, "name", &s->name, &err)) return false;
                if (!take(j, "tier", &tier, &err) || !take(j, "prefixes", &s->prefixes, &err) ||
                    !take(j, "fallback", &s->fallback, &err))
                    return false;
                if (!parse_tier(tier, &s->tier)) {
                    err = "tier: use \"embedded\" or \"ix\"";
                    return false;
                }
                return true;
            };
            if (seg.size() == 1 && post) {
                auto body = parse_body(req);
                if (!body) return refuse(json_error(400, "bad-json", body.error().message));
                SiteSpec s;
                if (!read_site(*body, &s, true)) return refuse(json_error(400, "bad-site", err));
                if (f.find_site(s.name))
                    return refuse(
                        json_error(409, "site-exists", fmt::format("site '{}' exists", s.name)));
                f.sites.push_back(std::move(s));
            } else if (seg.size() == 2 && (put || del)) {
                auto it = std::find_if(f.sites.begin(), f.sites.end(),
                                       [&](const SiteSpec& s) { return s.name == seg[1]; });
                if (it == f.sites.end())
                    return refuse(
                        json_error(404, "unknown-site", fmt::format("no site '{}'", seg[1])));
                if (del) {
                    if (!it->edges.empty())
                        return refuse(json_error(
                            409, "site-has-edges",
                            fmt::format("site '{}' still has {} edges: remove them first", it->name,
                                        it->edges.size())));
                    for (const SiteSpec& o : f.sites)
                        if (std::find(o.fallback.begin(), o.fallback.end(), it->name) !=
                            o.fallback.end())
                            return refuse(json_error(
                                409, "site-in-use",
                                fmt::format("site '{}' is a fallback of '{}'", it->name, o.name)));
                    f.sites.erase(it);
                } else {
                    auto body = parse_body(req);
                    if (!body) return refuse(json_error(400, "bad-json", body.error().message));
                    if (!read_site(*body, &*it, false))
                        return refuse(json_error(400, "bad-site", err));
                }
            } else {
                return refuse(
                    json_error(405, "method-not-allowed", "see docs/api.md for the site calls"));
            }
            return Status{};
        });
        return fleet_write_answer(written, refusal, post);
    }

    // ---- the whole fleet (admin) ----
    if (res == "fleet" && seg.size() == 1) {
        if (auto denied = need_admin()) return *denied;
        if (get) return json_ok(fleet_to_json(*v->fleet, false));
        if (!post) return json_error(405, "method-not-allowed", "GET or POST");
        auto body = parse_body(req);
        if (!body) return json_error(400, "bad-json", body.error().message);
        auto f = parse_fleet_json(*body);
        if (!f) return json_error(400, "bad-fleet", f.error().message);
        if (Status s = store->save_fleet(*f); !s)
            return json_error(503, "database", s.error().message);
        sync_once(); // read-your-writes: the answer reflects the change
        size_t edges = 0;
        for (const SiteSpec& s : f->sites)
            edges += s.edges.size();
        return json_ok({{"ok", true}, {"sites", f->sites.size()}, {"edges", edges}});
    }

    // ---- catalog and popularity (admin) ----
    if (res == "catalog" && seg.size() == 1) {
        if (get) {
            // ?list=1: every file (players pick titles and bitrate ladders from it).
            std::string_view list;
            if (!io::query_param(req.query, "list", &list) || list != "1")
                return json_ok({{"files", v->catalog_files}});
            json files = json::array();
            for (const CatalogEntry& f : *v->files)
                files.push_back({{"path", f.path},
                                 {"size", f.size},
                                 {"title", f.title},
                                 {"bitrate_kbps", f.bitrate_kbps},
                                 {"popularity", f.popularity}});
            return json_ok({{"files", v->catalog_files}, {"list", std::move(files)}});
        }
        if (auto denied = need_admin()) return *denied;
        if (!post) return json_error(405, "method-not-allowed", "GET or POST");
        auto c = catalog::from_json(req.body);
        if (!c) return json_error(400, "bad-catalog", c.error().message);
        for (const catalog::CatalogFile& f : c->files)
            if (f.path.empty() || f.path[0] != '/')
                return json_error(400, "bad-catalog",
                                  fmt::format("path '{}' must start with '/'", f.path));
        if (Status s = store->import_catalog(c->files); !s)
            return json_error(503, "database", s.error().message);
        sync_once(); // read-your-writes: the answer reflects the change
        return json_ok({{"ok", true}, {"files", c->files.size()}});
    }
    if (res == "popularity" && seg.size() == 1) {
        if (auto denied = need_admin()) return *denied;
        if (get) {
            // ?group=G: the demand steering has counted for that group (this period's views
            // and the smoothed history placement uses).
            std::string_view raw;
            std::string group;
            if (!io::query_param(req.query, "group", &raw) || !io::url_decode(raw, &group) ||
                group.empty())
                return json_error(400, "missing-group", "give ?group=<site group>");
            auto rows = store->demand(group);
            if (!rows) return json_error(503, "database", rows.error().message);
            json files = json::array();
            for (const auto& [path, today, ewma] : *rows)
                files.push_back({{"path", path}, {"today", today}, {"ewma", ewma}});
            return json_ok({{"group", group}, {"files", std::move(files)}});
        }
        if (!post) return json_error(405, "method-not-allowed", "GET or POST");
        auto body = parse_body(req);
        if (!body) return json_error(400, "bad-json", body.error().message);
        std::vector<std::pair<std::string, double>> values;
        const json& j = *body;
        if (!j.is_object() || !j.contains("files") || !j["files"].is_array())
            return json_error(400, "bad-popularity",
                              "expected {\"files\": [{\"path\": ..., \"popularity\": ...}]}");
        for (const json& e : j["files"]) {
            if (!e.is_object() || !e.contains("path") || !e["path"].is_string() ||
                !e.contains("popularity") || !e["popularity"].is_number() ||
                e["popularity"].get<double>() < 0)
                return json_error(400, "bad-popularity",
                                  "each entry needs a path and a popularity >= 0");
            values.emplace_back(e["path"].get<std::string>(), e["popularity"].get<double>());
        }
        if (Status s = store->set_popularity(values); !s)
            return json_error(400, "bad-popularity", s.error().message);
        sync_once(); // read-your-writes: the answer reflects the change
        return json_ok({{"ok", true}, {"files", values.size()}});
    }

    // ---- QoE ingest (players; public) ----
    if (res == "qoe" && seg.size() == 1) {
        if (!post) return json_error(405, "method-not-allowed", "POST only");
        auto body = parse_body(req);
        if (!body) return json_error(400, "bad-json", body.error().message);
        const json& j = *body;
        if (!j.is_object() || !j.contains("samples") || !j["samples"].is_array())
            return json_error(
                400, "bad-qoe",
                "expected {\"samples\": [{\"edge\": ..., \"startup_ms\": ..., \"stalls\": ...}]}");
        std::lock_guard lk(stats_mu);
        for (const json& s : j["samples"]) {
            if (!s.is_object() || !s.contains("edge") || !s["edge"].is_string())
                return json_error(400, "bad-qoe", "each sample needs an edge id");
            // Counted only for edges of the fleet: a sender cannot grow the map at will.
            if (!v->edge_index.count(s["edge"].get<std::string>())) continue;
            ++qoe_samples;
            if (s.contains("stalls") && s["stalls"].is_number_unsigned())
                qoe_stalls_by_edge[s["edge"].get<std::string>()] += s["stalls"].get<uint64_t>();
        }
        return json_ok({{"ok", true}, {"samples", j["samples"].size()}});
    }

    // ---- signing keys (admin) ----
    if (res == "keys") {
        if (auto denied = need_admin()) return *denied;
        if (seg.size() == 1 && get) {
            auto keys = store->keys();
            if (!keys) return json_error(503, "database", keys.error().message);
            json list = json::array();
            std::string newest = v->have_signing_key ? v->signing_key.id : "";
            for (const KeyRecord& k : *keys)
                list.push_back({{"id", k.id},
                                {"created", k.created_ms / 1000},
                                {"retired", k.retired},
                                {"signing", k.id == newest}});
            return json_ok({{"keys", std::move(list)}});
        }
        if (seg.size() == 2 && seg[1] == "rotate" && post) {
            // The new key signs from now on; the one it replaces stays valid for URLs already
            // handed out; older ones are retired.
            std::string id, secret_hex;
            if (!req.body.empty()) {
                auto body = parse_body(req);
                if (!body) return json_error(400, "bad-json", body.error().message);
                std::string err;
                if (!body->is_object() || !only_keys(*body, {"id", "secret_hex"}, &err) ||
                    !take(*body, "id", &id, &err) || !take(*body, "secret_hex", &secret_hex, &err))
                    return json_error(400, "bad-key",
                                      err.empty() ? "expected {\"id\":..., \"secret_hex\":...}"
                                                  : err);
            }
            if (id.empty()) id = fmt::format("k{}", now);
            if (!auth::valid_key_id(id))
                return json_error(400, "bad-key", "key id: use 1-32 of [A-Za-z0-9_-]");
            if (secret_hex.empty()) {
                unsigned char secret[32];
                if (RAND_bytes(secret, sizeof secret) != 1)
                    return json_error(500, "random", "RAND_bytes failed");
                secret_hex = auth::encode_hex(
                    std::string_view(reinterpret_cast<const char*>(secret), sizeof secret));
            }
            std::string raw;
            if (!auth::decode_hex(secret_hex, &raw) || raw.size() < auth::kMinSecretBytes)
                return json_error(
                    400, "bad-key",
                    fmt::format("secret_hex: at least {} bytes in hex", auth::kMinSecretBytes));
            auto retired = store->rotate_key(id, secret_hex, now);
            if (!retired) {
                const bool exists = retired.error().message.find("exists") != std::string::npos;
                return json_error(exists ? 409 : 503, exists ? "key-exists" : "database",
                                  retired.error().message);
            }
            sync_once(); // read-your-writes: the answer reflects the change
            const int64_t from = now + key_propagation_ms();
            log::info("control: signing key {} made (signs from {}); {} retired", id,
                      http::iso8601_ms(from), retired->size());
            return json_ok({{"ok", true},
                            {"signing", id},
                            {"signs_from", http::iso8601_ms(from)},
                            {"retired", *retired}},
                           201);
        }
        return json_error(405, "method-not-allowed",
                          "GET /api/v1/keys or POST /api/v1/keys/rotate");
    }

    // ---- BGP: what each site's edges hear, where they disagree (public, read-only) ----
    if (res == "bgp" && seg.size() == 1) {
        if (!get) return json_error(405, "method-not-allowed", "GET only");
        return json_ok(bgp_json(*v, now));
    }
    if (res == "bgp" && seg.size() == 2 && seg[1] == "routes") {
        if (!get) return json_error(405, "method-not-allowed", "GET only");
        std::string_view raw;
        std::string edge;
        if (!io::query_param(req.query, "edge", &raw) || !io::url_decode(raw, &edge) ||
            edge.empty())
            return json_error(400, "missing-edge", "give ?edge=<edge id>[&limit=N]");
        size_t limit = 1000;
        if (io::query_param(req.query, "limit", &raw)) {
            limit = 0;
            for (char c : raw) {
                if (c < '0' || c > '9' || limit > 100000000)
                    return json_error(400, "bad-limit", "limit: a number");
                limit = limit * 10 + static_cast<size_t>(c - '0');
            }
        }
        auto it = v->bgp_edges.find(edge);
        if (it == v->bgp_edges.end())
            return json_error(404, "no-bgp",
                              fmt::format("edge '{}' reports no BGP routes", edge.substr(0, 64)));
        std::vector<std::pair<std::string, const bgp::RouteAttrs*>> rows;
        rows.reserve(it->second.routes->size());
        for (const auto& [p, a] : *it->second.routes)
            rows.emplace_back(p.to_string(), &a);
        std::sort(rows.begin(), rows.end(),
                  [](const auto& x, const auto& y) { return x.first < y.first; });
        json routes = json::array();
        for (size_t i = 0; i < rows.size() && i < limit; ++i)
            routes.push_back({{"prefix", rows[i].first},
                              {"med", rows[i].second->med},
                              {"as_path_length", rows[i].second->path_len},
                              {"communities", rows[i].second->communities}});
        return json_ok({{"edge", edge},
                        {"version", it->second.version},
                        {"total", rows.size()},
                        {"routes", std::move(routes)}});
    }

    // ---- events: every edge state change with its reason (public, read-only) ----
    if (res == "events" && seg.size() == 1) {
        if (!get) return json_error(405, "method-not-allowed", "GET only");
        std::string_view raw;
        size_t limit = 100;
        if (io::query_param(req.query, "limit", &raw)) {
            limit = 0;
            for (char c : raw) {
                if (c < '0' || c > '9' || limit > 100000)
                    return json_error(400, "bad-limit", "limit: a number up to 10000");
                limit = limit * 10 + static_cast<size_t>(c - '0');
            }
            limit = std::clamp<size_t>(limit, 1, 10000);
        }
        std::string edge;
        if (io::query_param(req.query, "edge", &raw)) io::url_decode(raw, &edge);
        auto ev = store->events(limit, edge);
        if (!ev) return json_error(503, "database", ev.error().message);
        json list = json::array();
        for (const EventRecord& e : *ev)
            list.push_back({{"seq", e.seq},
                            {"at", http::iso8601_ms(e.at_ms)},
                            {"edge", e.edge_id},
                            {"state", e.state},
                            {"reason", e.reason}});
        return json_ok({{"events", std::move(list)}});
    }

    return json_error(404, "not-found", fmt::format("no such resource: {}", path));
}

} // namespace vcdn::control
