// Edges: GET /api/v1/edges[/{id}] (public); admin: POST /api/v1/edges, PUT/DELETE
// /api/v1/edges/{id}, POST /api/v1/edges/{id}/drain.
#include <fmt/format.h>

#include "api.h"

namespace vcdn::control {

using nlohmann::json;

ApiResponse get_edges(const ApiRequest& req, Service& s) {
    if (auto denied = require_read(req, s)) return *denied;
    auto v = s.current();
    const int64_t now = wall_ms();
    json list = json::array();
    for (const SiteSpec& site : v->fleet->sites)
        for (const EdgeSpec& e : site.edges)
            list.push_back(edge_json(*v, site, e, now));
    return json_ok({{"edges", std::move(list)}});
}

ApiResponse get_edge(const ApiRequest& req, Service& s) {
    if (auto denied = require_read(req, s)) return *denied;
    auto v = s.current();
    const EdgeSpec* e = nullptr;
    const SiteSpec* site = site_of(*v->fleet, req.param(0), &e);
    if (!site)
        return json_error(404, "unknown-edge",
                          fmt::format("no edge '{}'", req.param(0).substr(0, 64)));
    return json_ok(edge_json(*v, *site, *e, wall_ms()));
}

ApiResponse post_edge(const ApiRequest& req, Service& s) {
    if (auto denied = require_admin(req, s)) return *denied;
    auto body = parse_body(req);
    if (!body) return json_error(400, "bad-json", body.error().message);
    return edit_fleet(s, true, [&](Fleet& f) -> std::optional<ApiResponse> {
        EdgeSpec e;
        std::string site, err;
        if (!read_new_edge(*body, &e, &site, &err)) return json_error(400, "bad-edge", err);
        const EdgeSpec* existing = nullptr;
        if (site_of(f, e.id, &existing))
            return json_error(409, "edge-exists", fmt::format("edge '{}' exists", e.id));
        SiteSpec* target = nullptr;
        for (SiteSpec& x : f.sites)
            if (x.name == site) target = &x;
        if (!target) return json_error(404, "unknown-site", fmt::format("no site '{}'", site));
        target->edges.push_back(std::move(e));
        return std::nullopt;
    });
}

ApiResponse put_edge(const ApiRequest& req, Service& s) {
    if (auto denied = require_admin(req, s)) return *denied;
    auto body = parse_body(req);
    if (!body) return json_error(400, "bad-json", body.error().message);
    return edit_fleet(s, false, [&](Fleet& f) -> std::optional<ApiResponse> {
        for (SiteSpec& site : f.sites)
            for (EdgeSpec& e : site.edges) {
                if (e.id != req.param(0)) continue;
                std::string err;
                if (!read_edge_update(*body, &e, &err)) return json_error(400, "bad-edge", err);
                return std::nullopt;
            }
        return json_error(404, "unknown-edge",
                          fmt::format("no edge '{}'", req.param(0).substr(0, 64)));
    });
}

ApiResponse delete_edge(const ApiRequest& req, Service& s) {
    if (auto denied = require_admin(req, s)) return *denied;
    return edit_fleet(s, false, [&](Fleet& f) -> std::optional<ApiResponse> {
        for (SiteSpec& site : f.sites)
            for (size_t i = 0; i < site.edges.size(); ++i)
                if (site.edges[i].id == req.param(0)) {
                    site.edges.erase(site.edges.begin() + static_cast<long>(i));
                    return std::nullopt;
                }
        return json_error(404, "unknown-edge",
                          fmt::format("no edge '{}'", req.param(0).substr(0, 64)));
    });
}

ApiResponse post_edge_drain(const ApiRequest& req, Service& s) {
    if (auto denied = require_admin(req, s)) return *denied;
    bool drained = true;
    if (!req.body.empty()) {
        auto body = parse_body(req);
        if (!body) return json_error(400, "bad-json", body.error().message);
        std::string err;
        if (!body->is_object() || !only_keys(*body, {"drained"}, &err) ||
            !take(*body, "drained", &drained, &err))
            return json_error(400, "bad-drain",
                              err.empty() ? "expected {\"drained\": true|false}" : err);
    }
    Status st = s.store->set_drained(std::string(req.param(0)), drained);
    if (!st) return json_error(404, "unknown-edge", st.error().message);
    s.sync_once(); // read-your-writes: the answer reflects the change
    return json_ok({{"id", req.param(0)}, {"drained", drained}});
}

void add_edge_routes(Routes& r, Service& s) {
    const size_t body = io::Router::kDefaultMaxBody;
    r.get(kAdmin, "/api/v1/edges", [&s](const ApiRequest& q) { return get_edges(q, s); });
    r.get(kAdmin, "/api/v1/edges/{id}", [&s](const ApiRequest& q) { return get_edge(q, s); });
    r.add(
        kAdmin, http::Method::kPost, "/api/v1/edges",
        [&s](const ApiRequest& q) { return post_edge(q, s); }, body, admin_guard(s));
    r.add(
        kAdmin, http::Method::kPut, "/api/v1/edges/{id}",
        [&s](const ApiRequest& q) { return put_edge(q, s); }, body, admin_guard(s));
    r.add(
        kAdmin, http::Method::kDelete, "/api/v1/edges/{id}",
        [&s](const ApiRequest& q) { return delete_edge(q, s); }, body, admin_guard(s));
    r.add(
        kAdmin, http::Method::kPost, "/api/v1/edges/{id}/drain",
        [&s](const ApiRequest& q) { return post_edge_drain(q, s); }, body, admin_guard(s));
}

} // namespace vcdn::control
