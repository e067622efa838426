// Popularity (admin): GET /api/v1/popularity?group=G (the demand edges served to a site
// group: this period's views and the smoothed history placement uses), POST (an imported feed,
// kept as a floor for new titles).
#include "api.h"

namespace vcdn::control {

using nlohmann::json;

ApiResponse get_popularity(const ApiRequest& req, Service& s) {
    if (auto denied = require_admin(req, s)) return *denied;
    std::string_view raw;
    std::string group;
    if (!io::query_param(req.query, "group", &raw) || !io::url_decode(raw, &group) || group.empty())
        return json_error(400, "missing-group", "give ?group=<site group>");
    auto rows = s.store->demand(group);
    if (!rows) return json_error(503, "database", rows.error().message);
    json files = json::array();
    for (const auto& [path, today, ewma] : *rows)
        files.push_back({{"path", path}, {"today", today}, {"ewma", ewma}});
    return json_ok({{"group", group}, {"files", std::move(files)}});
}

ApiResponse post_popularity(const ApiRequest& req, Service& s) {
    if (auto denied = require_admin(req, s)) return *denied;
    auto body = parse_body(req, kAdminBodyBytes);
    if (!body) return json_error(400, "bad-json", body.error().message);
    auto read = read_popularity(*body);
    if (!read) return json_error(400, "bad-popularity", read.error().message);
    const auto& values = *read;
    if (Status st = s.store->set_popularity(values); !st)
        return json_error(400, "bad-popularity", st.error().message);
    s.sync_once(); // read-your-writes: the answer reflects the change
    return json_ok({{"ok", true}, {"files", values.size()}});
}

void add_popularity_routes(Routes& r, Service& s) {
    r.get(kAdmin, "/api/v1/popularity", [&s](const ApiRequest& q) { return get_popularity(q, s); });
    r.add(
        kAdmin, http::Method::kPost, "/api/v1/popularity",
        [&s](const ApiRequest& q) { return post_popularity(q, s); }, kAdminBodyBytes,
        admin_guard(s));
}

} // namespace vcdn::control
