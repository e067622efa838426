// Edges: GET /api/v1/edges[/{id}] (public); admin: POST /api/v1/edges, PUT/DELETE
// /api/v1/edges/{id}, POST /api/v1/edges/{id}/drain.
#include <fmt/format.h>

#include <vcdn/base/log.h>

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
    json j = edge_json(*v, *site, *e, wall_ms());
    // What removing it now would leave on no edge that is up (0 once a drain has moved its
    // files): the decommission procedure waits for 0.
    j["sole_copies"] = sole_copies(*v, {e->id}).to_json();
    return json_ok(j);
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
    // Make-before-break: an edge that alone has files is drained first (its files move), then
    // removed once no file is only there.
    const std::string id(req.param(0));
    if (!query_flag(req, "force")) {
        const SoleCopies sc = sole_copies(*s.current(), {id});
        if (sc.files > 0)
            return sole_copies_refusal(fmt::format("removing edge {}", id.substr(0, 64)), sc);
    }
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
    const std::string id(req.param(0));
    auto v = s.current();
    const EdgeSpec* spec = nullptr;
    if (!site_of(*v->fleet, id, &spec))
        return json_error(404, "unknown-edge", fmt::format("no edge '{}'", id.substr(0, 64)));
    // What the drain would leave without a copy on an edge that is up: the edge keeps those
    // files and serves them as steering's last resort until they are elsewhere, but one
    // failure then loses them, so it takes ?force=1. ?dry_run=1 only reports.
    SoleCopies sc;
    if (drained) sc = sole_copies(*v, {id});
    if (query_flag(req, "dry_run"))
        return json_ok(
            {{"id", id}, {"drained", drained}, {"dry_run", true}, {"sole_copies", sc.to_json()}});
    if (sc.files > 0 && !query_flag(req, "force"))
        return sole_copies_refusal(fmt::format("draining edge {}", id), sc);
    Status st = s.store->set_drained(id, drained);
    if (!st) return json_error(404, "unknown-edge", st.error().message);
    if (sc.files > 0)
        log::warn("control: edge {} drained by force: {} file(s) are on no other edge that is up; "
                  "it keeps serving them until they are",
                  id, sc.files);
    s.sync_once(); // read-your-writes: the answer reflects the change
    return json_ok({{"id", id}, {"drained", drained}, {"sole_copies", sc.to_json()}});
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
