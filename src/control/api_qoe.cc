// QoE ingest (players; public): POST /api/v1/qoe, a wire::QoeReport. Counted only for edges of
// the fleet, so a sender cannot grow the counters at will.
#include <vcdn/wire/qoe.h>

#include "api.h"

namespace vcdn::control {

ApiResponse post_qoe(const ApiRequest& req, Service& s) {
    auto rep = wire::decode_qoe(req.body);
    if (!rep) {
        const bool bad_json = rep.error().message.find("not valid JSON") != std::string::npos;
        return json_error(400, bad_json ? "bad-json" : "bad-qoe", rep.error().message);
    }
    auto v = s.current();
    std::lock_guard lk(s.stats_mu);
    for (const wire::QoeSample& q : rep->samples) {
        if (!v->edge_index.count(q.edge)) continue;
        ++s.qoe_samples;
        s.qoe_stalls_by_edge[q.edge] += q.stalls;
    }
    return json_ok({{"ok", true}, {"samples", rep->samples.size()}});
}

void add_qoe_routes(Routes& r, Service& s) {
    r.add(kPublic, http::Method::kPost, "/api/v1/qoe",
          with_cors([&s](const ApiRequest& q) { return post_qoe(q, s); }), wire::kMaxQoeBytes);
    r.add(kPublic, http::Method::kOptions, "/api/v1/qoe", cors_preflight);
}

} // namespace vcdn::control
