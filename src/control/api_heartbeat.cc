// The edge's two calls: POST /api/v1/edges/{id}/heartbeat (report in, state and keys out) and
// GET /api/v1/edges/{id}/manifest. Both take the edge's own token; the documents are the wire
// module's (wire/heartbeat.h, wire/manifest.h), decoded strictly.
#include <fmt/format.h>

#include <vcdn/base/time.h>
#include <vcdn/wire/manifest.h>

#include "api.h"

namespace vcdn::control {

namespace {

// The edge a call names, when its token is that edge's (or, `admin_ok`, the admin's).
struct EdgeCall {
    const SiteSpec* site = nullptr;
    const EdgeSpec* edge = nullptr;
};

std::optional<ApiResponse> authenticate(const ApiRequest& req, Service& s, const View& v,
                                        bool admin_ok, EdgeCall* out) {
    if (auto blocked = auth_blocked(req, s)) return blocked;
    const std::string_view token = bearer(req.authorization);
    out->site = site_of(*v.fleet, req.param(0), &out->edge);
    if (!out->site)
        return json_error(404, "unknown-edge",
                          fmt::format("no edge '{}' in the fleet", req.param(0).substr(0, 64)));
    if (admin_ok && token_equals(token, s.cfg.admin_token)) return std::nullopt;
    if (!edge_token_ok(*out->edge, token)) {
        if (!token.empty()) s.auth_limiter.failed(req.client, wall_ms());
        return json_error(token.empty() ? 401 : 403, "bad-edge-token",
                          admin_ok ? "this call needs 'Authorization: Bearer <the edge's token>' "
                                     "(or the admin token)"
                                   : "heartbeats need 'Authorization: Bearer <the edge's token>'");
    }
    return std::nullopt;
}

// The reply: the edge's state, the valid signing keys, what to resend, the manifest version
// steering uses now (the edge fetches it when it is new, and may delete what it dropped once
// acknowledged, plus a delay for URLs in flight). Written in the edge's schema.
wire::HeartbeatReply reply_for(const Service& s, const View& v, const std::string& edge_id,
                               int64_t schema, bool inventory_ok, std::optional<bool> bgp_ok) {
    wire::HeartbeatReply r;
    r.schema = std::min(schema, wire::kHeartbeatSchema);
    r.state = "unknown";
    r.reason = "first-heartbeat";
    if (auto it = v.status->find(edge_id); it != v.status->end()) {
        r.state = it->second.state;
        r.reason = it->second.reason;
    }
    r.inventory_ok = inventory_ok;
    r.heartbeat_interval_ms = s.cfg.health.heartbeat_interval_ms;
    // The edge's own keys only (derived from each valid key): nothing it could sign with is
    // valid on another edge or the origin.
    for (const KeyRecord& k : v.keys) {
        auth::SigningKey master;
        master.id = k.id;
        if (!auth::decode_hex(k.secret_hex, &master.secret)) continue;
        r.keys.push_back(
            wire::KeyGrant{k.id, auth::encode_hex(auth::derive_key(master, edge_id).secret)});
    }
    r.bgp_ok = bgp_ok;
    if (auto mv = v.manifest_versions.find(edge_id); mv != v.manifest_versions.end()) {
        // Acknowledged only once the published topology follows the manifest.
        const bool steered_by_it = v.steered_by_manifest.count(edge_id) > 0;
        r.manifest = wire::ManifestInfo{mv->second.version, steered_by_it ? mv->second.version : 0,
                                        s.cfg.fill_delete_delay_ms};
    }
    return r;
}

// One edge's token must not be able to keep the control plane busy: its heartbeats come at
// the interval the control plane gave it. A token bucket per edge allows a burst (restarts,
// retries) and then 4 per interval; more is refused before the body is read.
std::optional<ApiResponse> too_soon(Service& s, const std::string& id) {
    const int64_t now = monotonic_ms();
    const double per_ms = 4.0 / std::max<uint32_t>(1, s.cfg.health.heartbeat_interval_ms);
    std::lock_guard lk(s.beat_mu);
    Service::BeatBucket& b = s.beat_buckets[id]; // ids are the fleet's: bounded
    if (b.at_ms)
        b.tokens =
            std::min(Service::kBeatBurst, b.tokens + static_cast<double>(now - b.at_ms) * per_ms);
    b.at_ms = now;
    if (b.tokens < 1) {
        s.heartbeats_too_fast.fetch_add(1, std::memory_order_relaxed);
        ApiResponse r =
            json_error(429, "too-fast",
                       fmt::format("edge {}: more heartbeats than 4 per interval of {} ms", id,
                                   s.cfg.health.heartbeat_interval_ms));
        r.extra_headers = "Retry-After: 1\r\n";
        return r;
    }
    b.tokens -= 1;
    return std::nullopt;
}

// Inventories are bounded: an edge reports the catalog's files it holds and at most
// kMaxForeignPaths others (what an operator put in its roots).
constexpr uint64_t kMaxForeignPaths = 100000;

std::optional<ApiResponse> inventory_too_big(const View& v, const std::string& id,
                                             const wire::InventoryChanges& inv) {
    uint64_t stored = 0;
    if (!inv.full)
        if (auto it = v.status->find(id); it != v.status->end()) stored = it->second.files;
    const uint64_t removed = std::min<uint64_t>(stored, inv.removed.size());
    const uint64_t after = stored - removed + inv.added.size();
    const uint64_t cap = v.catalog_files + kMaxForeignPaths;
    if (after <= cap) return std::nullopt;
    return json_error(400, "bad-heartbeat",
                      fmt::format("heartbeat: inventory: {} paths, more than the catalog's {} "
                                  "files and {} others",
                                  after, v.catalog_files, kMaxForeignPaths));
}

} // namespace

ApiResponse post_heartbeat(const ApiRequest& req, Service& s) {
    auto v = s.current();
    auto refuse = [&](ApiResponse r) {
        s.heartbeat_errors.fetch_add(1, std::memory_order_relaxed);
        return r;
    };
    EdgeCall call;
    if (auto denied = authenticate(req, s, *v, false, &call)) return refuse(std::move(*denied));
    auto hb = wire::decode_heartbeat(req.body);
    if (!hb) {
        const bool bad_json = hb.error().message.find("not valid JSON") != std::string::npos ||
                              hb.error().message.find("nested") != std::string::npos;
        return refuse(json_error(400, bad_json ? "bad-json" : "bad-heartbeat", hb.error().message));
    }
    const std::string& id = call.edge->id;
    if (auto big = inventory_too_big(*v, id, hb->inventory)) return refuse(std::move(*big));
    // BGP: the sessions are in the report; route changes go into the edge's table.
    std::optional<bool> bgp_ok;
    bool bgp_changed = false;
    if (hb->bgp) {
        bool too_many = false;
        auto m = s.store->record_bgp(id, *hb->bgp, wire::kMaxRoutesPerEdge, &too_many);
        if (!m) return refuse(json_error(503, "database", m.error().message));
        if (too_many)
            return refuse(json_error(
                400, "bad-heartbeat",
                fmt::format("heartbeat: bgp: more than {} routes from one edge (the table is "
                            "kept as it was)",
                            wire::kMaxRoutesPerEdge)));
        bgp_ok = *m;
        bgp_changed = hb->bgp->full || hb->bgp->diff.size() > 0;
    }
    auto matches = s.store->record_heartbeat(id, wall_ms(), hb->report, hb->inventory);
    if (!matches) return refuse(json_error(503, "database", matches.error().message));
    s.heartbeats.fetch_add(1, std::memory_order_relaxed);
    s.count_served(*v, *call.edge, hb->served, monotonic_ms());
    // After the report is stored: the sync that follows shows it with the change.
    if (hb->inventory.full || !hb->inventory.added.empty() || !hb->inventory.removed.empty() ||
        bgp_changed)
        s.wake_sync();
    ApiResponse r;
    r.body = wire::encode(reply_for(s, *v, id, hb->schema, *matches, bgp_ok)) + "\n";
    return r;
}

ApiResponse get_manifest(const ApiRequest& req, Service& s) {
    auto v = s.current();
    EdgeCall call;
    if (auto denied = authenticate(req, s, *v, true, &call)) return *denied;
    const std::string& id = call.edge->id;
    auto mi = v->plan->edges.find(id);
    auto mv = v->manifest_versions.find(id);
    if (mi == v->plan->edges.end() || mv == v->manifest_versions.end())
        return json_error(404, "no-manifest",
                          fmt::format("edge {} has no manifest: give it storage_bytes in the "
                                      "fleet and import a catalog",
                                      id));
    // Each source's signature is made with that source's own key, for that file only.
    const int64_t expiry = wall_ms() / 1000 + s.cfg.fill_url_ttl_s;
    auto sign = [&](const FillSource& src, const std::string& path) -> std::string {
        const auth::SigningKey* key = nullptr;
        if (src.kind == SourceKind::kOrigin) {
            if (v->origin_key) key = &*v->origin_key;
        } else if (auto it = v->edge_index.find(src.edge);
                   it != v->edge_index.end() && it->second < v->edge_keys.size()) {
            key = &v->edge_keys[it->second];
        }
        if (!key) return {};
        const std::string u = auth::sign_url(path, expiry, *key);
        return u.substr(u.find('?') + 1);
    };
    ApiResponse r;
    r.body = wire::encode(
        to_wire_manifest(mi->second, mv->second.version, v->generation, *v->files, expiry, sign));
    return r;
}

void add_heartbeat_routes(Routes& r, Service& s) {
    // The edge's token is checked on the head: a heartbeat's 64 MiB are read only for it.
    r.add(
        kEdge, http::Method::kPost, "/api/v1/edges/{id}/heartbeat",
        [&s](const ApiRequest& q) { return post_heartbeat(q, s); }, wire::kMaxHeartbeatBytes,
        [&s](const ApiRequest& q) -> std::optional<ApiResponse> {
            auto v = s.current();
            EdgeCall call;
            auto denied = authenticate(q, s, *v, false, &call);
            if (!denied) denied = too_soon(s, call.edge->id);
            if (denied) s.heartbeat_errors.fetch_add(1, std::memory_order_relaxed);
            return denied;
        });
    r.get(kEdge | kAdmin, "/api/v1/edges/{id}/manifest",
          [&s](const ApiRequest& q) { return get_manifest(q, s); });
}

} // namespace vcdn::control
