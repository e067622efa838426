// libFuzzer target: the admin API's request bodies, per endpoint, read as the handlers read
// them (src/control/admin_bodies.h, fleet.h, catalog.h): an admin token is a credential an
// attacker may have stolen or an operator's script may misuse, and a body must never crash,
// hang or let a fleet through that validation refuses. The first byte picks the endpoint:
//   0 POST /api/v1/fleet (JSON)      1 a fleet file (TOML)        2 POST /api/v1/catalog
//   3 POST /api/v1/sites             4 PUT /api/v1/sites/{name}   5 POST /api/v1/edges
//   6 PUT /api/v1/edges/{id}         7 POST /api/v1/popularity    8 POST /api/v1/keys/rotate
// Invariants: an accepted fleet is valid and its JSON form reads back to the same fleet; an
// accepted catalog writes and reads back to itself; an edit applied to a valid fleet either
// leaves it valid or is refused by validate_fleet.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <vcdn/catalog/catalog.h>
#include <vcdn/control/fleet.h>
#include <vcdn/wire/json.h>

#include "control/admin_bodies.h"

namespace {

using namespace vcdn;
using namespace vcdn::control;

const char* kBase = R"([origin]
url = "http://127.0.0.1:8000"
[[site]]
name = "isp-a"
prefixes = ["10.1.0.0/16"]
[[site.edge]]
id = "a1"
url = "http://127.0.0.1:8081"
token = "edge-secret-0123-a1"
[[site]]
name = "ix-1"
tier = "ix"
)";

const Fleet& base() {
    static const Fleet f = [] {
        auto r = parse_fleet_toml(kBase);
        if (!r) abort();
        return *r;
    }();
    return f;
}

void check_fleet(const Fleet& f) {
    if (!validate_fleet(f)) abort();
    const nlohmann::json j = fleet_to_json(f, true);
    auto again = parse_fleet_json(j);
    if (!again) abort();
    if (fleet_to_json(*again, true) != j) abort();
}

// What the handlers do after reading an edit: the whole fleet is validated before it is kept.
void edited(const Fleet& f) {
    if (validate_fleet(f)) check_fleet(f);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const uint8_t which = data[0] % 9;
    const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
    if (which == 1) {
        if (auto f = parse_fleet_toml(text)) check_fleet(*f);
        return 0;
    }
    if (which == 2) {
        auto c = catalog::from_json(text);
        if (!c) return 0;
        auto again = catalog::from_json(catalog::to_json(*c));
        if (!again || again->files.size() != c->files.size()) abort();
        for (size_t i = 0; i < c->files.size(); ++i)
            if (again->files[i].path != c->files[i].path ||
                again->files[i].size != c->files[i].size ||
                again->files[i].sha256 != c->files[i].sha256)
                abort();
        return 0;
    }
    // The rest arrive through parse_body: bounded before parsing (64 MiB for fleet and
    // catalog imports, 1 MiB otherwise; depth 32).
    auto j = wire::parse_json(text, wire::JsonLimits{which == 0 ? 64u << 20 : 1u << 20, 32});
    if (!j) return 0;
    std::string err;
    Fleet f = base();
    switch (which) {
    case 0:
        if (auto r = parse_fleet_json(*j)) check_fleet(*r);
        break;
    case 3: {
        SiteSpec s;
        if (!read_site(*j, &s, true, &err)) {
            if (err.empty()) abort(); // a refusal always says why
        } else if (!f.find_site(s.name)) {
            f.sites.push_back(std::move(s));
            edited(f);
        }
        break;
    }
    case 4:
        if (read_site(*j, &f.sites[0], false, &err))
            edited(f);
        else if (err.empty())
            abort();
        break;
    case 5: {
        EdgeSpec e;
        std::string site;
        if (read_new_edge(*j, &e, &site, &err)) {
            for (SiteSpec& s : f.sites)
                if (s.name == site) {
                    s.edges.push_back(e);
                    edited(f);
                    break;
                }
        } else if (err.empty()) {
            abort();
        }
        break;
    }
    case 6:
        if (read_edge_update(*j, &f.sites[0].edges[0], &err))
            edited(f);
        else if (err.empty())
            abort();
        break;
    case 7:
        if (auto p = read_popularity(*j))
            for (const auto& [path, v] : *p)
                if (!(v >= 0)) abort();
        break;
    case 8: {
        std::string id, secret;
        if (!read_key_rotate(*j, &id, &secret, &err) && err.empty()) abort();
        break;
    }
    default:
        break;
    }
    return 0;
}
