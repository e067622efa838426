#include "admin_bodies.h"

#include <cmath>

#include <fmt/format.h>

namespace vcdn::control {

using nlohmann::json;

bool only_keys(const json& j, std::initializer_list<const char*> known, std::string* err) {
    for (auto it = j.begin(); it != j.end(); ++it) {
        bool ok = false;
        for (const char* k : known)
            ok = ok || it.key() == k;
        if (!ok) {
            *err = fmt::format("unknown key '{}'", it.key().substr(0, 64));
            return false;
        }
    }
    return true;
}

namespace {

bool read_edge_fields(const json& j, EdgeSpec* e, std::string* err) {
    std::string plain;
    std::vector<std::string> hashes;
    if (!take(j, "url", &e->url, err) || !take(j, "https_url", &e->https_url, err) ||
        !take(j, "token", &plain, err) || !take(j, "token_sha256", &hashes, err) ||
        !take(j, "storage_bytes", &e->storage_bytes, err) ||
        !take(j, "flash_bytes", &e->flash_bytes, err) ||
        !take(j, "capacity_gbps", &e->capacity_gbps, err))
        return false;
    if (!plain.empty() || !hashes.empty()) {
        e->token_sha256 = std::move(hashes);
        if (!plain.empty())
            if (Status s = add_plain_token(e, plain); !s) {
                *err = s.error().message;
                return false;
            }
    }
    return true;
}

} // namespace

bool read_new_edge(const json& j, EdgeSpec* e, std::string* site, std::string* err) {
    if (!j.is_object()) {
        *err = "expected a JSON object";
        return false;
    }
    return only_keys(j,
                     {"id", "site", "url", "https_url", "token", "token_sha256", "storage_bytes",
                      "flash_bytes", "capacity_gbps"},
                     err) &&
           take(j, "id", &e->id, err) && take(j, "site", site, err) && read_edge_fields(j, e, err);
}

bool read_edge_update(const json& j, EdgeSpec* e, std::string* err) {
    if (!j.is_object()) {
        *err = "expected a JSON object";
        return false;
    }
    return only_keys(j,
                     {"url", "https_url", "token", "token_sha256", "storage_bytes", "flash_bytes",
                      "capacity_gbps"},
                     err) &&
           read_edge_fields(j, e, err);
}

bool read_site(const json& j, SiteSpec* s, bool with_name, std::string* err) {
    std::string tier = tier_name(s->tier);
    if (!j.is_object()) {
        *err = "expected a JSON object";
        return false;
    }
    if (!only_keys(j, {"name", "tier", "prefixes", "fallback", "min_copies"}, err)) return false;
    if (with_name && !take(j, "name", &s->name, err)) return false;
    if (!take(j, "tier", &tier, err) || !take(j, "prefixes", &s->prefixes, err) ||
        !take(j, "fallback", &s->fallback, err) || !take(j, "min_copies", &s->min_copies, err))
        return false;
    if (!parse_tier(tier, &s->tier)) {
        *err = "tier: use \"embedded\" or \"ix\"";
        return false;
    }
    return true;
}

Result<std::vector<std::pair<std::string, double>>> read_popularity(const json& j) {
    if (!j.is_object() || !j.contains("files") || !j["files"].is_array())
        return Error{"expected {\"files\": [{\"path\": ..., \"popularity\": ...}]}"};
    std::vector<std::pair<std::string, double>> values;
    values.reserve(j["files"].size());
    for (const json& e : j["files"]) {
        if (!e.is_object() || !e.contains("path") || !e["path"].is_string() ||
            !e.contains("popularity") || !e["popularity"].is_number() ||
            !(e["popularity"].get<double>() >= 0) || !std::isfinite(e["popularity"].get<double>()))
            return Error{"each entry needs a path and a popularity >= 0"};
        values.emplace_back(e["path"].get<std::string>(), e["popularity"].get<double>());
    }
    return values;
}

bool read_key_rotate(const json& j, std::string* id, std::string* secret_hex, std::string* err) {
    if (!j.is_object()) {
        *err = "expected {\"id\":..., \"secret_hex\":...}";
        return false;
    }
    return only_keys(j, {"id", "secret_hex"}, err) && take(j, "id", id, err) &&
           take(j, "secret_hex", secret_hex, err);
}

} // namespace vcdn::control
