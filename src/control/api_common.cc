// What the API handlers share: error and JSON answers, bearer tokens, bounded JSON bodies, the
// edge view, and the route table that puts every resource's routes together.
#include <openssl/crypto.h>

#include <fmt/format.h>

#include <vcdn/wire/json.h>

#include "api.h"

namespace vcdn::control {

using nlohmann::json;

ApiResponse json_error(uint16_t status, std::string_view code, std::string_view message) {
    ApiResponse r;
    r.status = status;
    r.body = json{{"error", {{"status", status}, {"code", code}, {"message", message}}}}.dump(
                 -1, ' ', false, json::error_handler_t::replace) +
             "\n";
    return r;
}

ApiResponse json_ok(const json& j, uint16_t status) {
    ApiResponse r;
    r.status = status;
    // Bytes from requests (paths, ids) need not be UTF-8: replace, never throw.
    r.body = wire::dump(j) + "\n";
    return r;
}

bool token_equals(std::string_view given, std::string_view expected) {
    if (given.size() != expected.size() || expected.empty()) return false;
    return CRYPTO_memcmp(given.data(), expected.data(), expected.size()) == 0;
}

std::string_view bearer(std::string_view authorization) {
    constexpr std::string_view kBearer = "Bearer ";
    if (authorization.size() <= kBearer.size()) return {};
    for (size_t i = 0; i < kBearer.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(authorization[i])) !=
            std::tolower(static_cast<unsigned char>(kBearer[i])))
            return {};
    return authorization.substr(kBearer.size());
}

std::optional<ApiResponse> auth_blocked(const ApiRequest& req, Service& s) {
    if (const int64_t ms = s.auth_limiter.blocked_for(req.client, wall_ms())) {
        ApiResponse r = json_error(
            429, "too-many-failures",
            fmt::format("too many wrong credentials from this address: try again in {} s",
                        (ms + 999) / 1000));
        r.extra_headers = fmt::format("Retry-After: {}\r\n", (ms + 999) / 1000);
        return r;
    }
    return std::nullopt;
}

namespace {

std::optional<ApiResponse> check_token(const ApiRequest& req, Service& s, bool read_ok) {
    if (auto blocked = auth_blocked(req, s)) return blocked;
    const std::string_view token = bearer(req.authorization);
    if (token_equals(token, s.cfg.admin_token)) return std::nullopt;
    if (token_equals(token, s.cfg.read_token)) {
        if (read_ok) return std::nullopt;
        // A valid credential without the privilege: no failure counted against the address.
        return json_error(403, "forbidden",
                          "the read token cannot change anything: use the admin token");
    }
    if (token.empty())
        return json_error(401, "unauthorized",
                          read_ok ? "this call needs 'Authorization: Bearer <read or admin token>'"
                                  : "this call needs 'Authorization: Bearer <admin token>'");
    s.auth_limiter.failed(req.client, wall_ms());
    return json_error(403, "forbidden", read_ok ? "wrong token" : "wrong admin token");
}

} // namespace

std::optional<ApiResponse> require_admin(const ApiRequest& req, Service& s) {
    return check_token(req, s, false);
}

std::optional<ApiResponse> require_read(const ApiRequest& req, Service& s) {
    return check_token(req, s, true);
}

io::Router::Guard admin_guard(Service& s) {
    return [&s](const ApiRequest& req) { return require_admin(req, s); };
}

io::Router::Handler with_cors(io::Router::Handler h) {
    return [h = std::move(h)](const ApiRequest& q) {
        ApiResponse r = h(q);
        r.extra_headers += "Access-Control-Allow-Origin: *\r\n";
        return r;
    };
}

ApiResponse cors_preflight(const ApiRequest&) {
    ApiResponse r;
    r.status = 204;
    r.extra_headers = "Access-Control-Allow-Origin: *\r\n"
                      "Access-Control-Allow-Methods: GET, POST, OPTIONS\r\n"
                      "Access-Control-Allow-Headers: Content-Type, Authorization\r\n"
                      "Access-Control-Max-Age: 86400\r\n";
    return r;
}

Result<json> parse_body(const ApiRequest& req, size_t max_bytes) {
    if (req.body.empty()) return Error{"the request has no JSON body"};
    // Nesting beyond any real document is refused before parsing, so that no later step
    // (copy, dump) recurses through megabytes of '['.
    auto j = wire::parse_json(req.body, wire::JsonLimits{max_bytes, 32});
    if (!j) return Error{j.error().message};
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
        j["manifest"] = {{"version", mv->second.version},
                         {"files", m.files.size()},
                         {"bytes", m.bytes},
                         {"retained", m.retained}};
    }
    if (s.last_heartbeat_ms == 0) return j;
    const wire::EdgeReport& rep = s.report;
    j["gbps_out"] = rep.load.gbps_out;
    j["connections"] = rep.load.connections;
    j["cpu"] = rep.load.cpu;
    json disks = json::array();
    for (const wire::DiskReport& dr : rep.disks)
        disks.push_back(wire::to_json(dr));
    j["disks"] = std::move(disks);
    if (rep.fill) j["fill"] = wire::to_json(*rep.fill);
    j["version"] = rep.version;
    j["build"] = rep.build;
    j["reported_healthy"] = rep.healthy;
    j["reported_reason"] = rep.reason;
    return j;
}

ApiResponse fleet_write_answer(Service& s, const Status& written,
                               const std::optional<ApiResponse>& refusal, bool created) {
    if (refusal) return *refusal;
    if (!written) {
        const bool invalid =
            written.error().sys_errno == 0 && written.error().message.rfind("SQL", 0) != 0;
        return json_error(invalid ? 400 : 503, invalid ? "invalid" : "database",
                          written.error().message);
    }
    s.sync_once(); // read-your-writes: the answer reflects the change
    return json_ok({{"ok", true}}, created ? 201 : 200);
}

ApiResponse edit_fleet(Service& s, bool created,
                       const std::function<std::optional<ApiResponse>(Fleet&)>& change) {
    std::optional<ApiResponse> refusal;
    Status written = s.store->update_fleet([&](Fleet* f) -> Status {
        refusal = change(*f);
        return refusal ? Status{Error{"refused"}} : Status{};
    });
    return fleet_write_answer(s, written, refusal, created);
}

bool query_flag(const ApiRequest& req, const char* name) {
    std::string_view raw;
    return io::query_param(req.query, name, &raw) && raw == "1";
}

ApiResponse sole_copies_refusal(std::string_view what, const SoleCopies& sc) {
    ApiResponse r = json_error(
        409, "sole-copies",
        fmt::format("{} would leave {} file(s) ({} bytes) on no edge that is up, e.g. {}; wait "
                    "until other edges have them (a drained edge keeps its files until then), "
                    "or add ?force=1",
                    what, sc.files, sc.bytes, sc.sample.empty() ? "" : sc.sample.front()));
    json j = json::parse(r.body);
    j["sole_copies"] = sc.to_json();
    r.body = j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
    return r;
}

bool query_number(const ApiRequest& req, const char* name, size_t lo, size_t hi, size_t* out,
                  ApiResponse* bad) {
    std::string_view raw;
    if (!io::query_param(req.query, name, &raw)) return true;
    size_t v = 0;
    bool ok = !raw.empty();
    for (char c : raw) {
        if (c < '0' || c > '9' || v > hi) {
            ok = false;
            break;
        }
        v = v * 10 + static_cast<size_t>(c - '0');
    }
    if (!ok) {
        *bad = json_error(400, fmt::format("bad-{}", name),
                          fmt::format("{}: a number from {} to {}", name, lo, hi));
        return false;
    }
    *out = std::clamp(v, lo, hi);
    return true;
}

std::shared_ptr<io::Router> make_router(Service& s, unsigned surfaces) {
    // On a listener players reach, every answer a web page may read carries CORS, the
    // listener's own refusals (404, 405, 413, 429, 503 ...) included: without it a page sees
    // "network error" instead of the reason. (`*` opens nothing: no answer here depends on a
    // cookie, and a credential is a header the page itself sets.)
    const bool cors = surfaces & kPublic;
    auto r = std::make_shared<io::Router>(
        cors ? io::Router::ErrorWriter(
                   [](uint16_t status, std::string_view code, std::string_view message) {
                       ApiResponse a = io::json_error_answer(status, code, message);
                       a.extra_headers += "Access-Control-Allow-Origin: *\r\n";
                       return a;
                   })
             : io::Router::ErrorWriter(io::json_error_answer));
    Routes routes(*r, surfaces);
    add_dashboard_routes(routes, s);
    add_steer_routes(routes, s);
    add_heartbeat_routes(routes, s);
    add_edge_routes(routes, s);
    add_site_routes(routes, s);
    add_fleet_routes(routes, s);
    add_catalog_routes(routes, s);
    add_popularity_routes(routes, s);
    add_qoe_routes(routes, s);
    add_key_routes(routes, s);
    add_event_routes(routes, s);
    add_bgp_routes(routes, s);
    add_play_routes(routes, s);
    r->set_fallback([cors](const ApiRequest& req) {
        ApiResponse a =
            req.path == "/api/v1" || req.path == "/api/v1/"
                ? json_error(404, "not-found", "see docs/api.md for the resources")
                : json_error(404, "not-found",
                             fmt::format("no such resource: {}", req.path.substr(0, 200)));
        if (cors) a.extra_headers += "Access-Control-Allow-Origin: *\r\n";
        return a;
    });
    return r;
}

} // namespace vcdn::control
