#include <vcdn/control/fleet.h>

#include <fmt/format.h>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <stdexcept>

#include <openssl/crypto.h>

#include <vcdn/base/sha256.h>
#include <vcdn/base/toml_util.h>
#include <vcdn/http/url.h>
#include <vcdn/wire/json.h>
#include <vcdn/wire/names.h>

namespace vcdn::control {

const char* tier_name(Tier t) {
    switch (t) {
    case Tier::kEmbedded:
        return "embedded";
    case Tier::kIx:
        return "ix";
    case Tier::kOrigin:
        return "origin";
    }
    return "?";
}

bool parse_tier(std::string_view text, Tier* out) {
    if (text == "embedded")
        *out = Tier::kEmbedded;
    else if (text == "ix")
        *out = Tier::kIx;
    else
        return false;
    return true;
}

const SiteSpec* Fleet::find_site(std::string_view name) const {
    for (const SiteSpec& s : sites)
        if (s.name == name) return &s;
    return nullptr;
}

namespace {

// A base URL players are sent to: scheme, host, optional port, no path, query or spaces.
bool valid_base_url(std::string_view u, bool https) {
    auto p = http::parse_url(u);
    return p && p->https() == https && p->path.empty() && p->query.empty() && u.size() <= 200;
}

std::string trim_slash(std::string u) {
    while (!u.empty() && u.back() == '/')
        u.pop_back();
    return u;
}

} // namespace

std::string token_hash(std::string_view token) {
    return Sha256::hex_of(token);
}

bool edge_token_ok(const EdgeSpec& e, std::string_view presented) {
    if (presented.empty()) return false;
    const std::string h = token_hash(presented);
    bool ok = false;
    for (const std::string& want : e.token_sha256)
        ok |= want.size() == h.size() && CRYPTO_memcmp(want.data(), h.data(), h.size()) == 0;
    return ok;
}

Status add_plain_token(EdgeSpec* e, const std::string& token) {
    if (token.size() < 16 || token.size() > 256)
        return Error{fmt::format("edge {}: token must be 16-256 characters (e.g. openssl rand "
                                 "-hex 16)",
                                 e->id)};
    for (char c : token)
        if (c <= ' ' || c >= 0x7f)
            return Error{fmt::format("edge {}: token has a space or control character", e->id)};
    const std::string h = token_hash(token);
    if (std::find(e->token_sha256.begin(), e->token_sha256.end(), h) == e->token_sha256.end())
        e->token_sha256.push_back(h);
    return {};
}

Status validate_edge(const EdgeSpec& e) {
    if (!wire::valid_name(e.id))
        return Error{
            fmt::format("edge id '{}': use 1-64 of [A-Za-z0-9_.-], not starting with '.'", e.id)};
    if (!valid_base_url(e.url, false) && !valid_base_url(e.url, true))
        return Error{
            fmt::format("edge {}: url '{}' is not a base URL like http://host:port", e.id, e.url)};
    if (!e.https_url.empty() && !valid_base_url(e.https_url, true))
        return Error{fmt::format("edge {}: https_url '{}' is not a base URL like https://host:port",
                                 e.id, e.https_url)};
    if (e.token_sha256.empty() || e.token_sha256.size() > 4)
        return Error{fmt::format("edge {}: give a token (or token_sha256): 1 to 4 of them", e.id)};
    for (const std::string& h : e.token_sha256) {
        bool hex = h.size() == 64;
        for (char c : h)
            hex = hex && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
        if (!hex)
            return Error{fmt::format("edge {}: token_sha256 '{}' is not 64 lowercase hex digits",
                                     e.id, h.substr(0, 80))};
    }
    if (!(e.capacity_gbps > 0) || e.capacity_gbps > 1e6)
        return Error{fmt::format("edge {}: capacity_gbps must be > 0", e.id)};
    return {};
}

std::set<std::string> removed_edges(const Fleet& before, const Fleet& after) {
    std::set<std::string> kept, out;
    for (const SiteSpec& s : after.sites)
        for (const EdgeSpec& e : s.edges)
            kept.insert(e.id);
    for (const SiteSpec& s : before.sites)
        for (const EdgeSpec& e : s.edges)
            if (!kept.count(e.id)) out.insert(e.id);
    return out;
}

Status validate_fleet(const Fleet& f) {
    if (!f.origin_url.empty() && !valid_base_url(f.origin_url, false) &&
        !valid_base_url(f.origin_url, true))
        return Error{
            fmt::format("origin.url '{}' is not a base URL like http://host:port", f.origin_url)};
    for (const std::string& m : f.origin_mirrors)
        if (!valid_base_url(m, false) && !valid_base_url(m, true))
            return Error{
                fmt::format("origin.mirrors: '{}' is not a base URL like http://host:port", m)};
    if (!f.origin_mirrors.empty() && f.origin_url.empty())
        return Error{"origin.mirrors without origin.url"};
    std::set<std::string, std::less<>> names, ids;
    for (const SiteSpec& s : f.sites) {
        if (!wire::valid_name(s.name))
            return Error{fmt::format("site name '{}': use 1-64 of [A-Za-z0-9_.-]", s.name)};
        if (s.name == "origin") return Error{"site name 'origin' is reserved"};
        if (!names.insert(s.name).second)
            return Error{fmt::format("site '{}' is declared twice", s.name)};
        for (const std::string& p : s.prefixes)
            if (auto r = io::IpPrefix::parse(p); !r)
                return Error{fmt::format("site {}: prefix: {}", s.name, r.error().message)};
        if (s.bgp_allowed.size() > 10000)
            return Error{fmt::format("site {}: bgp_allowed: at most 10000 prefixes", s.name)};
        for (const std::string& p : s.bgp_allowed)
            if (auto r = io::IpPrefix::parse(p); !r)
                return Error{fmt::format("site {}: bgp_allowed: {}", s.name, r.error().message)};
        if (s.bgp_allowed_asns.size() > 10000)
            return Error{fmt::format("site {}: bgp_allowed_asns: at most 10000 ASNs", s.name)};
        for (uint32_t as : s.bgp_allowed_asns)
            if (as == 0) // RFC 7607: AS 0 originates nothing; it also means "no origin" here
                return Error{fmt::format("site {}: bgp_allowed_asns: AS 0 is reserved", s.name)};
        for (const EdgeSpec& e : s.edges) {
            if (Status st = validate_edge(e); !st) return st;
            if (!ids.insert(e.id).second)
                return Error{fmt::format("edge id '{}' is used twice", e.id)};
        }
    }
    for (const SiteSpec& s : f.sites) {
        for (const std::string& fb : s.fallback)
            if (!names.count(fb) || fb == s.name)
                return Error{fmt::format("site {}: fallback '{}' is not another site", s.name, fb)};
        for (const std::string& p : s.fill_from)
            if (!names.count(p) || p == s.name)
                return Error{fmt::format("site {}: fill_from '{}' is not another site", s.name, p)};
        if (!s.group.empty() && !wire::valid_name(s.group))
            return Error{
                fmt::format("site {}: group '{}': use 1-64 of [A-Za-z0-9_.-]", s.name, s.group)};
        if (s.fill_peer_wait_s > 86400 || s.fill_tier_wait_s > 86400)
            return Error{fmt::format("site {}: fill waits are at most 86400 s", s.name)};
        if (s.min_copies > 64) return Error{fmt::format("site {}: min_copies: 0 to 64", s.name)};
    }
    return {};
}

nlohmann::json keys_to_json(const std::vector<auth::SigningKey>& keys) {
    nlohmann::json out = nlohmann::json::array();
    for (const auth::SigningKey& k : keys)
        out.push_back({{"id", k.id}, {"secret_hex", auth::encode_hex(k.secret)}});
    return out;
}

std::vector<auth::SigningKey> keys_from_json(const nlohmann::json& j, const std::string& where) {
    if (!j.is_array()) throw std::runtime_error(where + ": expected an array");
    std::vector<auth::SigningKey> keys;
    for (const auto& k : j) {
        auth::SigningKey sk;
        if (!k.is_object() || !k.contains("id") || !k["id"].is_string() ||
            !k.contains("secret_hex") || !k["secret_hex"].is_string() ||
            !auth::decode_hex(k["secret_hex"].get<std::string>(), &sk.secret))
            throw std::runtime_error(where + ": each key needs an id and a secret_hex");
        sk.id = k["id"].get<std::string>();
        keys.push_back(std::move(sk));
    }
    auto ks = auth::KeySet::from_keys(keys);
    if (!ks && !keys.empty()) throw std::runtime_error(where + ": " + ks.error().message);
    return keys;
}

Result<Fleet> parse_fleet_toml(std::string_view text, std::string_view source) {
    Fleet f;
    toml_util::Diagnostics diag{std::string(source), {}};
    try {
        toml::table doc = toml::parse(text, source);
        toml_util::check_top_level(doc, {"origin", "site"}, &diag);
        toml_util::TableReader top(doc, std::string(source), &diag);
        if (const toml::table* o = top.subtable("origin")) {
            toml_util::TableReader r(*o, "origin", &diag);
            r.get("url", &f.origin_url);
            r.get("mirrors", &f.origin_mirrors);
            std::string unused;
            if (r.get("fill_token", &unused))
                throw std::runtime_error(
                    "origin.fill_token: removed, as every edge would hold it; give the origin its "
                    "own key instead (origin.signing_keys = FILE, and vcdn origin --signing-keys "
                    "FILE --require-signed-urls)");
            std::string keys_file;
            if (r.get("signing_keys", &keys_file)) {
                auto ks = auth::KeySet::load(keys_file);
                if (!ks) throw std::runtime_error("origin.signing_keys: " + ks.error().message);
                f.origin_keys = ks->keys();
            }
            if (bool players; r.get("players", &players)) f.origin_players = players;
            r.finish();
        }
        if (const toml::node* n = doc.get("site")) {
            top.mark_used("site");
            const toml::array* arr = n->as_array();
            if (!arr) throw std::runtime_error("site: expected an array of tables ([[site]])");
            size_t i = 0;
            for (const toml::node& sn : *arr) {
                std::string where = fmt::format("site[{}]", i++);
                const toml::table* t = sn.as_table();
                if (!t) throw std::runtime_error(where + ": expected a table");
                toml_util::TableReader r(*t, where, &diag);
                SiteSpec s;
                if (!r.get("name", &s.name)) r.error(t, where + ": name is required");
                std::string tier = "embedded";
                r.get("tier", &tier);
                if (!parse_tier(tier, &s.tier))
                    r.error(t->get("tier"), where + ".tier: use \"embedded\" or \"ix\"");
                r.get("prefixes", &s.prefixes);
                r.get("fallback", &s.fallback);
                r.get("group", &s.group);
                r.get("fill_from", &s.fill_from);
                r.get("fill_peer_wait_s", &s.fill_peer_wait_s);
                r.get("fill_tier_wait_s", &s.fill_tier_wait_s);
                r.get("bgp_allowed", &s.bgp_allowed);
                r.get("bgp_allowed_asns", &s.bgp_allowed_asns);
                r.get("min_copies", &s.min_copies, 0, 64);
                if (const toml::node* en = t->get("edge")) {
                    r.mark_used("edge");
                    const toml::array* ea = en->as_array();
                    if (!ea)
                        throw std::runtime_error(
                            where + ".edge: expected an array of tables ([[site.edge]])");
                    size_t j = 0;
                    for (const toml::node& e : *ea) {
                        std::string ew = fmt::format("{}.edge[{}]", where, j++);
                        const toml::table* et = e.as_table();
                        if (!et) throw std::runtime_error(ew + ": expected a table");
                        toml_util::TableReader er(*et, ew, &diag);
                        EdgeSpec es;
                        if (!er.get("id", &es.id)) er.error(et, ew + ": id is required");
                        if (!er.get("url", &es.url)) er.error(et, ew + ": url is required");
                        er.get("https_url", &es.https_url);
                        std::string plain;
                        if (er.get("token", &plain))
                            if (Status st = add_plain_token(&es, plain); !st)
                                er.error(et->get("token"), ew + ": " + st.error().message);
                        std::vector<std::string> hashes;
                        er.get_one_or_many("token_sha256", &hashes);
                        for (std::string& h : hashes)
                            es.token_sha256.push_back(std::move(h));
                        er.get("storage_bytes", &es.storage_bytes);
                        er.get("flash_bytes", &es.flash_bytes);
                        er.get("capacity_gbps", &es.capacity_gbps);
                        er.finish();
                        es.url = trim_slash(es.url);
                        es.https_url = trim_slash(es.https_url);
                        s.edges.push_back(std::move(es));
                    }
                }
                r.finish();
                f.sites.push_back(std::move(s));
            }
        }
    } catch (const toml::parse_error& e) {
        return toml_util::parse_error(source, e);
    } catch (const std::exception& e) {
        diag.add(nullptr, e.what());
    }
    if (Status s = diag.status(); !s) return s.error();
    f.origin_url = trim_slash(f.origin_url);
    for (std::string& m : f.origin_mirrors)
        m = trim_slash(m);
    if (Status s = validate_fleet(f); !s)
        return Error{fmt::format("{}: {}", source, s.error().message)};
    return f;
}

Result<Fleet> load_fleet_file(const std::string& path) {
    auto text = toml_util::read_text_file(path, "fleet file");
    if (!text) return text.error();
    return parse_fleet_toml(*text, path);
}

namespace {

template <class T>
void get_field(const nlohmann::json& j, const char* key, T* out, const std::string& where) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return;
    if (!wire::json_exact(*it, out)) // integers in range, finite numbers
        throw std::runtime_error(fmt::format("{}.{}: wrong type or out of range", where, key));
}

void check_keys(const nlohmann::json& j, std::initializer_list<const char*> known,
                const std::string& where) {
    for (auto it = j.begin(); it != j.end(); ++it) {
        bool ok = false;
        for (const char* k : known)
            ok = ok || it.key() == k;
        if (!ok) throw std::runtime_error(fmt::format("{}: unknown key '{}'", where, it.key()));
    }
}

} // namespace

Result<Fleet> parse_fleet_json(const nlohmann::json& j) {
    Fleet f;
    try {
        if (!j.is_object()) throw std::runtime_error("fleet: expected a JSON object");
        check_keys(j, {"origin", "site"}, "fleet");
        if (auto o = j.find("origin"); o != j.end()) {
            if (!o->is_object()) throw std::runtime_error("origin: expected an object");
            check_keys(*o, {"url", "mirrors", "signing_keys", "players"}, "origin");
            get_field(*o, "url", &f.origin_url, "origin");
            get_field(*o, "mirrors", &f.origin_mirrors, "origin");
            if (auto k = o->find("signing_keys"); k != o->end() && !k->is_null())
                f.origin_keys = keys_from_json(*k, "origin.signing_keys");
            if (auto p = o->find("players"); p != o->end() && !p->is_null()) {
                if (!p->is_boolean()) throw std::runtime_error("origin.players: wrong type");
                f.origin_players = p->get<bool>();
            }
        }
        if (auto sites = j.find("site"); sites != j.end()) {
            if (!sites->is_array()) throw std::runtime_error("site: expected an array");
            size_t i = 0;
            for (const auto& sj : *sites) {
                std::string where = fmt::format("site[{}]", i++);
                if (!sj.is_object()) throw std::runtime_error(where + ": expected an object");
                check_keys(sj,
                           {"name", "tier", "prefixes", "fallback", "edge", "group", "fill_from",
                            "fill_peer_wait_s", "fill_tier_wait_s", "bgp_allowed",
                            "bgp_allowed_asns", "min_copies"},
                           where);
                SiteSpec s;
                get_field(sj, "name", &s.name, where);
                if (s.name.empty()) throw std::runtime_error(where + ": name is required");
                std::string tier = "embedded";
                get_field(sj, "tier", &tier, where);
                if (!parse_tier(tier, &s.tier))
                    throw std::runtime_error(where + ".tier: use \"embedded\" or \"ix\"");
                get_field(sj, "prefixes", &s.prefixes, where);
                get_field(sj, "fallback", &s.fallback, where);
                get_field(sj, "group", &s.group, where);
                get_field(sj, "fill_from", &s.fill_from, where);
                get_field(sj, "fill_peer_wait_s", &s.fill_peer_wait_s, where);
                get_field(sj, "fill_tier_wait_s", &s.fill_tier_wait_s, where);
                get_field(sj, "bgp_allowed", &s.bgp_allowed, where);
                get_field(sj, "bgp_allowed_asns", &s.bgp_allowed_asns, where);
                get_field(sj, "min_copies", &s.min_copies, where);
                if (auto edges = sj.find("edge"); edges != sj.end()) {
                    if (!edges->is_array())
                        throw std::runtime_error(where + ".edge: expected an array");
                    size_t k = 0;
                    for (const auto& ej : *edges) {
                        std::string ew = fmt::format("{}.edge[{}]", where, k++);
                        if (!ej.is_object()) throw std::runtime_error(ew + ": expected an object");
                        check_keys(ej,
                                   {"id", "url", "https_url", "token", "token_sha256",
                                    "storage_bytes", "flash_bytes", "capacity_gbps"},
                                   ew);
                        EdgeSpec e;
                        get_field(ej, "id", &e.id, ew);
                        get_field(ej, "url", &e.url, ew);
                        get_field(ej, "https_url", &e.https_url, ew);
                        std::string plain;
                        get_field(ej, "token", &plain, ew);
                        if (!plain.empty())
                            if (Status st = add_plain_token(&e, plain); !st)
                                throw std::runtime_error(ew + ": " + st.error().message);
                        if (auto th = ej.find("token_sha256"); th != ej.end()) {
                            if (th->is_string())
                                e.token_sha256.push_back(th->get<std::string>());
                            else
                                get_field(ej, "token_sha256", &e.token_sha256, ew);
                        }
                        get_field(ej, "storage_bytes", &e.storage_bytes, ew);
                        get_field(ej, "flash_bytes", &e.flash_bytes, ew);
                        get_field(ej, "capacity_gbps", &e.capacity_gbps, ew);
                        if (e.id.empty()) throw std::runtime_error(ew + ": id is required");
                        e.url = trim_slash(e.url);
                        e.https_url = trim_slash(e.https_url);
                        s.edges.push_back(std::move(e));
                    }
                }
                f.sites.push_back(std::move(s));
            }
        }
    } catch (const std::exception& e) {
        return Error{e.what()};
    }
    f.origin_url = trim_slash(f.origin_url);
    for (std::string& m : f.origin_mirrors)
        m = trim_slash(m);
    if (Status s = validate_fleet(f); !s) return s.error();
    return f;
}

nlohmann::json fleet_to_json(const Fleet& f, bool with_tokens) {
    nlohmann::json sites = nlohmann::json::array();
    for (const SiteSpec& s : f.sites) {
        nlohmann::json edges = nlohmann::json::array();
        for (const EdgeSpec& e : s.edges) {
            nlohmann::json ej = {{"id", e.id},
                                 {"url", e.url},
                                 {"storage_bytes", e.storage_bytes},
                                 {"flash_bytes", e.flash_bytes},
                                 {"capacity_gbps", e.capacity_gbps}};
            if (!e.https_url.empty()) ej["https_url"] = e.https_url;
            if (with_tokens) ej["token_sha256"] = e.token_sha256;
            edges.push_back(std::move(ej));
        }
        sites.push_back({{"name", s.name},
                         {"tier", tier_name(s.tier)},
                         {"prefixes", s.prefixes},
                         {"fallback", s.fallback},
                         {"group", s.group},
                         {"fill_from", s.fill_from},
                         {"fill_peer_wait_s", s.fill_peer_wait_s},
                         {"fill_tier_wait_s", s.fill_tier_wait_s},
                         {"bgp_allowed", s.bgp_allowed},
                         {"bgp_allowed_asns", s.bgp_allowed_asns},
                         {"min_copies", s.min_copies},
                         {"edge", std::move(edges)}});
    }
    nlohmann::json j = {{"site", std::move(sites)}};
    if (!f.origin_url.empty()) {
        j["origin"] = {{"url", f.origin_url}, {"mirrors", f.origin_mirrors}};
        if (with_tokens && !f.origin_keys.empty())
            j["origin"]["signing_keys"] = keys_to_json(f.origin_keys);
        if (f.origin_players) j["origin"]["players"] = *f.origin_players;
    }
    return j;
}

} // namespace vcdn::control
