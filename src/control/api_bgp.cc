// BGP (read-only): GET /api/v1/bgp (per site: the prefixes that steer, where its edges
// disagree, what was refused, each edge's sessions) and GET /api/v1/bgp/routes?edge=ID[&limit=N].
#include <algorithm>
#include <fmt/format.h>

#include "api.h"

namespace vcdn::control {

using nlohmann::json;

namespace {

json sessions_json(const std::vector<wire::BgpSession>& sessions) {
    json out = json::array();
    for (const wire::BgpSession& x : sessions)
        out.push_back(wire::to_json(x));
    return out;
}

} // namespace

json bgp_json(const View& v, int64_t now) {
    json sites = json::array();
    for (const SiteBgp& sb : *v.bgp_sites) {
        json edges = json::array();
        for (const auto& [id, n] : sb.edges) {
            json e = {{"id", id}, {"prefixes", n}};
            if (auto it = v.status->find(id); it != v.status->end()) {
                if (const auto& b = it->second.report.bgp) {
                    e["connected"] = b->connected;
                    e["error"] = b->error;
                    e["sessions"] = sessions_json(b->sessions);
                    e["sending"] = b->more;
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
        json refusals = json::array();
        for (const BgpRefusal& x : sb.refusals)
            refusals.push_back({{"prefix", x.prefix}, {"edge", x.edge}, {"reason", x.reason}});
        sites.push_back({{"site", sb.site},
                         {"bgp", sb.bgp},
                         {"prefixes", sb.prefixes},
                         {"heard", sb.heard},
                         {"consistent", sb.differing == 0},
                         {"differing", sb.differing},
                         {"minority", sb.minority},
                         {"differences", std::move(diffs)},
                         {"refused", sb.refused},
                         {"refusals", std::move(refusals)},
                         {"edges", std::move(edges)}});
    }
    return {{"sites", std::move(sites)}};
}

ApiResponse get_bgp(const ApiRequest& req, Service& s) {
    if (auto denied = require_read(req, s)) return *denied;
    return json_ok(bgp_json(*s.current(), wall_ms()));
}

ApiResponse get_bgp_routes(const ApiRequest& req, Service& s) {
    if (auto denied = require_read(req, s)) return *denied;
    std::string_view raw;
    std::string edge;
    if (!io::query_param(req.query, "edge", &raw) || !io::url_decode(raw, &edge) || edge.empty())
        return json_error(400, "missing-edge", "give ?edge=<edge id>[&limit=N]");
    size_t limit = 1000;
    ApiResponse bad;
    if (!query_number(req, "limit", 0, 100000000, &limit, &bad)) return bad;
    auto v = s.current();
    auto it = v->bgp_edges.find(edge);
    if (it == v->bgp_edges.end())
        return json_error(404, "no-bgp",
                          fmt::format("edge '{}' reports no BGP routes", edge.substr(0, 64)));
    std::vector<std::pair<std::string, const wire::RouteAttrs*>> rows;
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
                          {"origin_as", rows[i].second->origin_as},
                          {"communities", rows[i].second->communities}});
    return json_ok({{"edge", edge},
                    {"version", it->second.version},
                    {"total", rows.size()},
                    {"routes", std::move(routes)}});
}

void add_bgp_routes(Routes& r, Service& s) {
    r.get(kAdmin, "/api/v1/bgp", [&s](const ApiRequest& q) { return get_bgp(q, s); });
    r.get(kAdmin, "/api/v1/bgp/routes", [&s](const ApiRequest& q) { return get_bgp_routes(q, s); });
}

} // namespace vcdn::control
