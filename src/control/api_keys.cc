// Signing keys (admin): GET /api/v1/keys, POST /api/v1/keys/rotate. The new key signs once it
// can have reached the edges; the one it replaces stays valid for URLs already handed out;
// older ones are retired.
#include <openssl/rand.h>

#include <algorithm>

#include <fmt/format.h>

#include <vcdn/base/log.h>
#include <vcdn/http/date.h>

#include "api.h"

namespace vcdn::control {

using nlohmann::json;

namespace {

// The id and secret to rotate to: from the body, or made here.
std::optional<ApiResponse> new_key(const ApiRequest& req, int64_t now, std::string* id,
                                   std::string* secret_hex) {
    if (!req.body.empty()) {
        auto body = parse_body(req);
        if (!body) return json_error(400, "bad-json", body.error().message);
        std::string err;
        if (!read_key_rotate(*body, id, secret_hex, &err)) return json_error(400, "bad-key", err);
    }
    if (id->empty()) *id = fmt::format("k{}", now);
    if (!auth::valid_key_id(*id))
        return json_error(400, "bad-key", "key id: use 1-32 of [A-Za-z0-9_-]");
    if (secret_hex->empty()) {
        unsigned char secret[32];
        if (RAND_bytes(secret, sizeof secret) != 1)
            return json_error(500, "random", "RAND_bytes failed");
        *secret_hex = auth::encode_hex(
            std::string_view(reinterpret_cast<const char*>(secret), sizeof secret));
    }
    std::string raw;
    if (!auth::decode_hex(*secret_hex, &raw) || raw.size() < auth::kMinSecretBytes)
        return json_error(
            400, "bad-key",
            fmt::format("secret_hex: at least {} bytes in hex", auth::kMinSecretBytes));
    return std::nullopt;
}

} // namespace

ApiResponse get_keys(const ApiRequest& req, Service& s) {
    if (auto denied = require_admin(req, s)) return *denied;
    auto keys = s.store->keys();
    if (!keys) return json_error(503, "database", keys.error().message);
    auto v = s.current();
    const std::string newest = v->have_signing_key ? v->signing_key.id : "";
    json list = json::array();
    for (const KeyRecord& k : *keys)
        list.push_back({{"id", k.id},
                        {"created", k.created_ms / 1000},
                        {"retired", k.retired},
                        {"signing", k.id == newest}});
    return json_ok({{"keys", std::move(list)}});
}

ApiResponse post_key_rotate(const ApiRequest& req, Service& s) {
    if (auto denied = require_admin(req, s)) return *denied;
    const int64_t now = wall_ms();
    std::string id, secret_hex;
    if (auto bad = new_key(req, now, &id, &secret_hex)) return *bad;
    std::string_view force_raw;
    const bool force = io::query_param(req.query, "force", &force_raw) && force_raw == "1";
    // A rotation retires every valid key but the newest. A key stops signing once its
    // successor has reached the edges; what it signed stays valid for the longest lifetime
    // the control plane gives (steering URLs, playback tokens, fill URLs in manifests).
    // Retiring it before that makes those URLs fail with 'unknown signing key': refused,
    // unless forced.
    auto keys = s.store->keys();
    if (!keys) return json_error(503, "database", keys.error().message);
    std::vector<KeyRecord> valid;
    for (const KeyRecord& k : *keys) {
        if (k.id == id)
            return json_error(409, "key-exists", fmt::format("key '{}' exists already", id));
        if (!k.retired) valid.push_back(k);
    }
    const int64_t lifetime_ms =
        int64_t{std::max({s.cfg.url_ttl_s, s.cfg.fill_url_ttl_s, s.cfg.play.token_ttl_s})} * 1000;
    for (size_t i = 0; i + 1 < valid.size(); ++i) {
        const int64_t stopped = valid[i + 1].created_ms + s.key_propagation_ms();
        const int64_t until = stopped + lifetime_ms;
        if (now >= until) continue;
        if (!force)
            return json_error(
                409, "key-in-use",
                fmt::format("rotating now would retire key {}, which signed URLs that stay valid "
                            "until {} (the longest of url_ttl_s, fill_url_ttl_s and "
                            "[control.play] token_ttl_s after it stopped signing): rotate after "
                            "that, or add ?force=1 to break those URLs",
                            valid[i].id, http::iso8601_ms(until)));
        log::warn("control: forced key rotation retires {}, whose URLs were valid until {}: "
                  "players and fills that hold them get 403 unknown signing key",
                  valid[i].id, http::iso8601_ms(until));
    }
    auto retired = s.store->rotate_key(id, secret_hex, now);
    if (!retired) {
        const bool exists = retired.error().message.find("exists") != std::string::npos;
        return json_error(exists ? 409 : 503, exists ? "key-exists" : "database",
                          retired.error().message);
    }
    s.sync_once(); // read-your-writes: the answer reflects the change
    const int64_t from = now + s.key_propagation_ms();
    log::info("control: signing key {} made (signs from {}); {} retired", id,
              http::iso8601_ms(from), retired->size());
    return json_ok({{"ok", true},
                    {"signing", id},
                    {"signs_from", http::iso8601_ms(from)},
                    {"retired", *retired}},
                   201);
}

void add_key_routes(Routes& r, Service& s) {
    r.get(kAdmin, "/api/v1/keys", [&s](const ApiRequest& q) { return get_keys(q, s); });
    r.add(
        kAdmin, http::Method::kPost, "/api/v1/keys/rotate",
        [&s](const ApiRequest& q) { return post_key_rotate(q, s); }, io::Router::kDefaultMaxBody,
        admin_guard(s));
}

} // namespace vcdn::control
