#pragma once
// The admin API's request bodies read into fleet specs: pure (JSON in, fields out), so that
// the handlers stay short and a fuzz target (tests/fuzz/fuzz_admin.cc) runs the same code
// without a Service or a database. Each reader refuses unknown keys and wrong types with a
// one-line reason; validation of the resulting fleet (validate_fleet) is the caller's.
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include <vcdn/base/result.h>
#include <vcdn/control/fleet.h>
#include <vcdn/wire/json.h>

namespace vcdn::control {

// Refuses keys other than `known` ("unknown key 'x'"). `j` must be an object.
bool only_keys(const nlohmann::json& j, std::initializer_list<const char*> known, std::string* err);
// Reads an optional key of type T exactly (wire::json_exact: integers in range, finite
// numbers); false with "'key' has the wrong type or is out of range".
template <class T> bool take(const nlohmann::json& j, const char* key, T* out, std::string* err) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return true;
    if (wire::json_exact(*it, out)) return true;
    *err = std::string("'") + key + "' has the wrong type or is out of range";
    return false;
}

// POST /api/v1/edges: a new edge and the name of its site.
bool read_new_edge(const nlohmann::json& j, EdgeSpec* e, std::string* site, std::string* err);
// PUT /api/v1/edges/{id}: the editable fields, changed in place. A new `token` (or
// `token_sha256` list) replaces the edge's tokens; both may be given while rotating.
bool read_edge_update(const nlohmann::json& j, EdgeSpec* e, std::string* err);
// POST /api/v1/sites (`with_name`) and PUT /api/v1/sites/{name}.
bool read_site(const nlohmann::json& j, SiteSpec* s, bool with_name, std::string* err);
// POST /api/v1/popularity: {"files": [{"path", "popularity" >= 0}]}.
Result<std::vector<std::pair<std::string, double>>> read_popularity(const nlohmann::json& j);
// POST /api/v1/keys/rotate: {"id", "secret_hex"}, both optional.
bool read_key_rotate(const nlohmann::json& j, std::string* id, std::string* secret_hex,
                     std::string* err);

} // namespace vcdn::control
