// Sites: GET /api/v1/sites[/{name}] (public); admin: POST /api/v1/sites, PUT/DELETE
// /api/v1/sites/{name}.
#include <algorithm>
#include <fmt/format.h>

#include "api.h"

namespace vcdn::control {

using nlohmann::json;

namespace {

json site_json(const SiteSpec& s) {
    json ids = json::array();
    for (const EdgeSpec& e : s.edges)
        ids.push_back(e.id);
    return {{"name", s.name},         {"tier", tier_name(s.tier)},  {"prefixes", s.prefixes},
            {"fallback", s.fallback}, {"min_copies", s.min_copies}, {"edges", std::move(ids)}};
}

ApiResponse unknown_site(std::string_view name) {
    return json_error(404, "unknown-site", fmt::format("no site '{}'", name.substr(0, 64)));
}

} // namespace

ApiResponse get_sites(const ApiRequest& req, Service& s) {
    if (auto denied = require_read(req, s)) return *denied;
    auto v = s.current();
    json list = json::array();
    for (const SiteSpec& site : v->fleet->sites)
        list.push_back(site_json(site));
    return json_ok({{"sites", std::move(list)}});
}

ApiResponse get_site(const ApiRequest& req, Service& s) {
    if (auto denied = require_read(req, s)) return *denied;
    auto v = s.current();
    for (const SiteSpec& site : v->fleet->sites)
        if (site.name == req.param(0)) return json_ok(site_json(site));
    return unknown_site(req.param(0));
}

ApiResponse post_site(const ApiRequest& req, Service& s) {
    if (auto denied = require_admin(req, s)) return *denied;
    auto body = parse_body(req);
    if (!body) return json_error(400, "bad-json", body.error().message);
    return edit_fleet(s, true, [&](Fleet& f) -> std::optional<ApiResponse> {
        SiteSpec site;
        std::string err;
        if (!read_site(*body, &site, true, &err)) return json_error(400, "bad-site", err);
        if (f.find_site(site.name))
            return json_error(409, "site-exists", fmt::format("site '{}' exists", site.name));
        f.sites.push_back(std::move(site));
        return std::nullopt;
    });
}

ApiResponse put_site(const ApiRequest& req, Service& s) {
    if (auto denied = require_admin(req, s)) return *denied;
    auto body = parse_body(req);
    if (!body) return json_error(400, "bad-json", body.error().message);
    return edit_fleet(s, false, [&](Fleet& f) -> std::optional<ApiResponse> {
        for (SiteSpec& site : f.sites) {
            if (site.name != req.param(0)) continue;
            std::string err;
            if (!read_site(*body, &site, false, &err)) return json_error(400, "bad-site", err);
            return std::nullopt;
        }
        return unknown_site(req.param(0));
    });
}

ApiResponse delete_site(const ApiRequest& req, Service& s) {
    if (auto denied = require_admin(req, s)) return *denied;
    return edit_fleet(s, false, [&](Fleet& f) -> std::optional<ApiResponse> {
        auto it = std::find_if(f.sites.begin(), f.sites.end(),
                               [&](const SiteSpec& x) { return x.name == req.param(0); });
        if (it == f.sites.end()) return unknown_site(req.param(0));
        if (!it->edges.empty())
            return json_error(409, "site-has-edges",
                              fmt::format("site '{}' still has {} edges: remove them first",
                                          it->name, it->edges.size()));
        for (const SiteSpec& o : f.sites)
            if (std::find(o.fallback.begin(), o.fallback.end(), it->name) != o.fallback.end())
                return json_error(409, "site-in-use",
                                  fmt::format("site '{}' is a fallback of '{}'", it->name, o.name));
        f.sites.erase(it);
        return std::nullopt;
    });
}

void add_site_routes(Routes& r, Service& s) {
    const size_t body = io::Router::kDefaultMaxBody;
    r.get(kAdmin, "/api/v1/sites", [&s](const ApiRequest& q) { return get_sites(q, s); });
    r.get(kAdmin, "/api/v1/sites/{name}", [&s](const ApiRequest& q) { return get_site(q, s); });
    r.add(
        kAdmin, http::Method::kPost, "/api/v1/sites",
        [&s](const ApiRequest& q) { return post_site(q, s); }, body, admin_guard(s));
    r.add(
        kAdmin, http::Method::kPut, "/api/v1/sites/{name}",
        [&s](const ApiRequest& q) { return put_site(q, s); }, body, admin_guard(s));
    r.add(
        kAdmin, http::Method::kDelete, "/api/v1/sites/{name}",
        [&s](const ApiRequest& q) { return delete_site(q, s); }, body, admin_guard(s));
}

} // namespace vcdn::control
