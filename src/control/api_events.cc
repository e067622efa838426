// Events (public, read-only): GET /api/v1/events?edge=<id>&limit=N, every edge state change
// with its reason, newest first.
#include <vcdn/http/date.h>

#include "api.h"

namespace vcdn::control {

using nlohmann::json;

ApiResponse get_events(const ApiRequest& req, Service& s) {
    if (auto denied = require_read(req, s)) return *denied;
    size_t limit = 100;
    ApiResponse bad;
    if (!query_number(req, "limit", 1, 10000, &limit, &bad)) return bad;
    std::string_view raw;
    std::string edge;
    if (io::query_param(req.query, "edge", &raw)) io::url_decode(raw, &edge);
    auto ev = s.store->events(limit, edge);
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

void add_event_routes(Routes& r, Service& s) {
    r.get(kAdmin, "/api/v1/events", [&s](const ApiRequest& q) { return get_events(q, s); });
}

} // namespace vcdn::control
