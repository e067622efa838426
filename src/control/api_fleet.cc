// The whole fleet (admin): GET /api/v1/fleet (tokens left out), POST /api/v1/fleet (replaces it).
#include <fmt/format.h>

#include "api.h"

namespace vcdn::control {

ApiResponse get_fleet(const ApiRequest& req, Service& s) {
    if (auto denied = require_admin(req, s)) return *denied;
    return json_ok(fleet_to_json(*s.current()->fleet, false));
}

ApiResponse post_fleet(const ApiRequest& req, Service& s) {
    if (auto denied = require_admin(req, s)) return *denied;
    auto body = parse_body(req, kAdminBodyBytes);
    if (!body) return json_error(400, "bad-json", body.error().message);
    auto f = parse_fleet_json(*body);
    if (!f) return json_error(400, "bad-fleet", f.error().message);
    if (!query_flag(req, "force")) {
        const auto v = s.current();
        const std::set<std::string> gone = removed_edges(*v->fleet, *f);
        const SoleCopies sc = sole_copies(*v, gone);
        if (sc.files > 0)
            return sole_copies_refusal(
                fmt::format("removing {} edge(s) ({})", gone.size(), *gone.begin()), sc);
    }
    if (Status st = s.store->save_fleet(*f); !st)
        return json_error(503, "database", st.error().message);
    s.sync_once(); // read-your-writes: the answer reflects the change
    size_t edges = 0;
    for (const SiteSpec& site : f->sites)
        edges += site.edges.size();
    return json_ok({{"ok", true}, {"sites", f->sites.size()}, {"edges", edges}});
}

void add_fleet_routes(Routes& r, Service& s) {
    r.get(kAdmin, "/api/v1/fleet", [&s](const ApiRequest& q) { return get_fleet(q, s); });
    r.add(
        kAdmin, http::Method::kPost, "/api/v1/fleet",
        [&s](const ApiRequest& q) { return post_fleet(q, s); }, kAdminBodyBytes, admin_guard(s));
}

} // namespace vcdn::control
