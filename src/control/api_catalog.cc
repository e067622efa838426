// The catalog: GET /api/v1/catalog (public: the count; ?list=1 every file, which players pick
// titles and bitrate ladders from), POST /api/v1/catalog (admin: upsert a catalog.json).
#include <vcdn/catalog/catalog.h>

#include "api.h"

namespace vcdn::control {

using nlohmann::json;

ApiResponse get_catalog(const ApiRequest& req, Service& s) {
    if (auto denied = require_read(req, s)) return *denied;
    auto v = s.current();
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

ApiResponse post_catalog(const ApiRequest& req, Service& s) {
    if (auto denied = require_admin(req, s)) return *denied;
    auto c = catalog::from_json(req.body);
    if (!c) return json_error(400, "bad-catalog", c.error().message);
    if (Status st = s.store->import_catalog(c->files); !st)
        return json_error(503, "database", st.error().message);
    s.sync_once(); // read-your-writes: the answer reflects the change
    return json_ok({{"ok", true}, {"files", c->files.size()}});
}

void add_catalog_routes(Routes& r, Service& s) {
    r.get(kAdmin, "/api/v1/catalog", [&s](const ApiRequest& q) { return get_catalog(q, s); });
    r.add(
        kAdmin, http::Method::kPost, "/api/v1/catalog",
        [&s](const ApiRequest& q) { return post_catalog(q, s); }, kAdminBodyBytes, admin_guard(s));
}

} // namespace vcdn::control
