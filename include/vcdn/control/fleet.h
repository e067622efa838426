#pragma once
// The fleet: sites (an ISP's embedded site or an exchange site), their client prefixes and
// their edges, plus the origin. Declared in a TOML file kept in git (`--fleet`), applied at
// start and on POST /api/v1/fleet (the same content as JSON). Pure: parse, validate, print.
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <vcdn/auth/signed_url.h>

#include <nlohmann/json_fwd.hpp>

#include <vcdn/base/result.h>
#include <vcdn/io/ip_prefix.h>

namespace vcdn::control {

// Preference order for steering: embedded sites first, then exchange sites, the origin last.
enum class Tier : uint8_t { kEmbedded = 0, kIx = 1, kOrigin = 2 };
const char* tier_name(Tier t);
bool parse_tier(std::string_view text, Tier* out);

struct EdgeSpec {
    std::string id;        // [A-Za-z0-9_.-], at most 64 characters
    std::string url;       // base URL players use: "http://host:port"
    std::string https_url; // optional HTTPS base URL
    // SHA-256 (hex) of each bearer token this edge may present: one, or two while the token
    // is rotated. The fleet file gives `token` (hashed at once; never kept) or `token_sha256`.
    std::vector<std::string> token_sha256;
    uint64_t storage_bytes = 0; // disk tier capacity, for placement
    uint64_t flash_bytes = 0;   // flash tier capacity (the hottest files), for placement
    double capacity_gbps = 10;  // load above load_high × capacity takes it out of steering
};

struct SiteSpec {
    std::string name;
    Tier tier = Tier::kEmbedded;
    std::vector<std::string> prefixes; // client networks (CIDR), IPv4 and IPv6
    // Sites to try next, in order, for clients of this site (after its own edges).
    std::vector<std::string> fallback;
    std::vector<EdgeSpec> edges;
    // Placement and fill. Sites of one group share a popularity feed (empty = the site's
    // own name). `fill_from`: the sites this site's edges fill from after their peers (the
    // fill hierarchy); empty = the exchange sites, for an embedded site. Escalation: a file
    // that no peer holds yet is waited for this long before the parent sites are asked, and
    // those this long (counted from the start) before the origin is.
    std::string group;
    std::vector<std::string> fill_from;
    uint32_t fill_peer_wait_s = 300;
    uint32_t fill_tier_wait_s = 900;
    // BGP is a claim to check: routes the site's edges report are used only inside these
    // prefixes (the ISP's address space; empty = the site's `prefixes`), or when the route's
    // origin AS (the AS_PATH's last) is one of `bgp_allowed_asns` (the ISP's and its
    // customers' ASNs, for space too scattered to list). The minimum length applies to both.
    std::vector<std::string> bgp_allowed;
    std::vector<uint32_t> bgp_allowed_asns;
    // Placement gives every file at least this many copies in the site, whatever its
    // popularity (0: 2 when the site has two or more edges with storage, else 1), so that an
    // edge down or drained leaves each file on another.
    uint32_t min_copies = 0;

    const std::string& group_name() const { return group.empty() ? name : group; }
};

struct Fleet {
    std::string origin_url; // where files come from when no edge has them; may be empty
    // More copies of the origin, tried by fill after origin_url (never steered to).
    std::vector<std::string> origin_mirrors;
    // The origin's own signing keys (`signing_keys`, a key file as `vcdn origin
    // --signing-keys` reads it): steering and the manifests sign the origin's URLs with the
    // newest, so that the origin can require signed URLs and no edge holds a key it takes.
    std::vector<auth::SigningKey> origin_keys;
    // Whether steering offers the origin to players as the last resort (default true).
    std::optional<bool> origin_players;
    std::vector<SiteSpec> sites;

    bool origin_serves_players() const {
        return !origin_url.empty() && origin_players.value_or(true);
    }

    const SiteSpec* find_site(std::string_view name) const;
};

// From TOML text ([origin], [[site]], [[site.edge]]). One-line error naming the key.
Result<Fleet> parse_fleet_toml(std::string_view text, std::string_view source = "fleet");
Result<Fleet> load_fleet_file(const std::string& path);
// From the JSON form: {"origin": {"url": ...}, "site": [{..., "edge": [...]}]}.
Result<Fleet> parse_fleet_json(const nlohmann::json& j);
// with_tokens: the token hashes and the origin's keys too (for the store; never for the API).
nlohmann::json fleet_to_json(const Fleet& f, bool with_tokens);
nlohmann::json keys_to_json(const std::vector<auth::SigningKey>& keys);
// Throws std::runtime_error naming `where`.
std::vector<auth::SigningKey> keys_from_json(const nlohmann::json& j, const std::string& where);

// Ids of the edges in `before` that `after` does not have.
std::set<std::string> removed_edges(const Fleet& before, const Fleet& after);

// Names, ids and URLs well-formed, ids and names unique, prefixes parse, fallbacks exist.
Status validate_fleet(const Fleet& f);
Status validate_edge(const EdgeSpec& e);
// The hash an edge token is kept as; and whether `presented` is one of the edge's (constant
// time per hash).
std::string token_hash(std::string_view token);
bool edge_token_ok(const EdgeSpec& e, std::string_view presented);
// Adds `token` (plaintext, 16-256 printable bytes) to e's hashes; an error says what is wrong.
Status add_plain_token(EdgeSpec* e, const std::string& token);

} // namespace vcdn::control
