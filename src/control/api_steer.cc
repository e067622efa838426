// GET /api/v1/steer: the call every playback makes, so it is written for speed: the API
// thread's cached View (no lock), the answer and the log line formatted by hand (no JSON
// tree), counters per thread. Measured by bench/steer.py.

#include <algorithm>
#include <fmt/format.h>

#include <vcdn/auth/session_token.h>
#include <vcdn/auth/signed_url.h>
#include <vcdn/http/date.h>

#include "api.h"

namespace vcdn::control {

namespace {

// Appends s escaped for the inside of a JSON string.
void json_string_body(std::string* out, std::string_view s) {
    for (char c : s) {
        switch (c) {
        case '"':
            out->append("\\\"");
            break;
        case '\\':
            out->append("\\\\");
            break;
        case '\n':
            out->append("\\n");
            break;
        case '\r':
            out->append("\\r");
            break;
        case '\t':
            out->append("\\t");
            break;
        default:
            if (static_cast<unsigned char>(c) < 0x20)
                fmt::format_to(std::back_inserter(*out), "\\u{:04x}", static_cast<unsigned>(c));
            else
                out->push_back(c);
        }
    }
}

// Appends s as a JSON string (quotes included).
void json_string(std::string* out, std::string_view s) {
    out->push_back('"');
    json_string_body(out, s);
    out->push_back('"');
}

} // namespace

namespace {

// ?file= and ?client= (the requester by default; ::ffff:a.b.c.d is an IPv4 client, as
// from_sockaddr makes it for peers). client= is honoured only from a trusted address (a
// front end asking for its players): anyone else is steered, and counted, by their own
// address. An error answer when they do not parse.
std::optional<ApiResponse> read_query(const ApiRequest& req, const Service& s, std::string* file,
                                      io::IpAddress* client) {
    std::string_view file_raw, client_raw;
    if (!io::query_param(req.query, "file", &file_raw) || file_raw.empty())
        return json_error(400, "missing-file", "give ?file=/path/of/the/file");
    if (!io::url_decode(file_raw, file) || file->empty() || (*file)[0] != '/')
        return json_error(400, "bad-file", "file must be a path starting with '/'");
    *client = req.client;
    const bool given = io::query_param(req.query, "client", &client_raw);
    if (given && !s.is_trusted(req.client)) {
        s.untrusted_client_params.fetch_add(1, std::memory_order_relaxed);
    } else if (given) {
        std::string text;
        if (!io::url_decode(client_raw, &text)) text = "?";
        auto a = io::IpAddress::parse(text);
        if (!a)
            return json_error(400, "bad-client",
                              fmt::format("client '{}' is not an IP address", text));
        *client = a->unmapped();
    }
    return std::nullopt;
}

// What the first choice says, for the counters and the log.
struct First {
    std::string_view site = "none", tier = "none";
    std::string reason = "no-edge";
    std::string url; // empty when nothing was ranked
};

// Counts the answer for the dashboard (by site and tier of the first choice). Not demand:
// placement learns only from what edges served (Service::count_served).
void count(Service& s, const ApiRequest& req, const std::vector<steer::Ranked>& ranked,
           const First& first) {
    Service::SteerStats& st = *s.steer_stats[req.thread % s.steer_stats.size()];
    std::lock_guard lk(st.mu);
    ++st.total;
    if (ranked.empty()) return;
    ++st.by_site[std::string(first.site)];
    ++st.by_tier[std::string(first.tier)];
}

// One ranked place to fetch the file from: the edge's (or origin's) base URL and the path
// signed with that edge's key (the origin's with the origin's, or not at all when the fleet
// gave it none).
struct Location {
    std::string_view base, edge, site, tier;
    std::string signed_path;
};
Location location(const Service& s, const View& v, const steer::Ranked& r, const std::string& file,
                  int64_t expiry, const std::string& bind, size_t title_segments) {
    const steer::Topology& topo = *v.topo;
    Location loc;
    const auth::SigningKey* key = nullptr;
    if (r.edge >= 0) {
        key = &v.edge_keys[static_cast<size_t>(r.edge)];
        const steer::TopoEdge& te = topo.edges[static_cast<size_t>(r.edge)];
        loc.base = s.cfg.https_urls && !te.https_url.empty() ? te.https_url : te.url;
        loc.edge = te.id;
        loc.site = topo.sites[te.site].name;
        loc.tier = topo.sites[te.site].tier == steer::SiteTier::kIx ? "ix" : "embedded";
    } else {
        loc.base = topo.origin_url;
        loc.edge = loc.site = loc.tier = "origin";
        if (v.origin_key) key = &*v.origin_key;
    }
    loc.signed_path = !key ? file
                      : title_segments
                          ? auth::sign_title_url(file, title_segments, expiry, *key, bind)
                          : auth::sign_url(file, expiry, *key, bind);
    return loc;
}

// How many directories of `file` a title URL covers (its whole directory); 0 for a file at
// the root or one nested deeper than a token can say.
size_t title_depth(const std::string& file) {
    const size_t n = static_cast<size_t>(std::count(file.begin(), file.end(), '/')) - 1;
    return n <= auth::kMaxTitleSegments ? n : 0;
}

// The answer's urls[] (and the log line's ranked[] when logging), in one pass.
// Each URL is signed with the key of the edge it names: a URL valid on one edge is valid
// nowhere else. With `title_segments`, each URL is a title URL (/vt=<token>/<file>) whose token
// covers the file's directory, so that the relative URLs in a manifest (its segments, other
// bitrates) play from the same edge without a steering call each.
First write_urls(const Service& s, const View& v, const std::string& file, int64_t expiry,
                 const std::string& bind, size_t title_segments,
                 const std::vector<steer::Ranked>& ranked, std::string* body,
                 std::string* log_ranked) {
    const steer::Topology& topo = *v.topo;
    First first;
    for (size_t i = 0; i < ranked.size(); ++i) {
        const steer::Ranked& r = ranked[i];
        const Location loc = location(s, v, r, file, expiry, bind, title_segments);
        const std::string_view base = loc.base, edge_id = loc.edge, site = loc.site,
                               tier = loc.tier;
        const std::string& signed_path = loc.signed_path;
        std::string reason = steer::describe(topo, r);
        if (i) body->push_back(',');
        body->append("{\"url\":\"");
        body->append(base); // validated base URLs: nothing to escape
        json_string_body(body, signed_path);
        body->append("\",\"edge\":");
        json_string(body, edge_id);
        body->append(",\"site\":");
        json_string(body, site);
        body->append(",\"tier\":\"").append(tier).append("\",\"reason\":");
        json_string(body, reason);
        body->push_back('}');
        if (log_ranked) {
            if (i) log_ranked->push_back(',');
            log_ranked->append("{\"edge\":");
            json_string(log_ranked, edge_id);
            log_ranked->append(",\"site\":");
            json_string(log_ranked, site);
            log_ranked->append(",\"reason\":");
            json_string(log_ranked, reason);
            log_ranked->push_back('}');
        }
        if (i == 0) first = First{site, tier, std::move(reason), std::string(base) + signed_path};
    }
    return first;
}

// The answer for `file` and `client` once the request's own fields are read: the session,
// the catalog, the keys, the ranking, the body, the counters and the log line. `title`
// asks for title URLs (an error when the file has no directory); *first_url gets the first
// URL. Counts the request and any error.
ApiResponse steer_answer(const ApiRequest& req, Service& s, const std::string& file,
                         const io::IpAddress& client, bool title, std::string* first_url) {
    const View& v = s.view_for(req.thread);
    const int64_t now = wall_ms();
    auto fail = [&](ApiResponse r) {
        s.steer_errors.fetch_add(1, std::memory_order_relaxed);
        return r;
    };
    if (auto denied = check_session(req, s, now / 1000)) return fail(std::move(*denied));
    const steer::Topology& topo = *v.topo;
    const steer::TopoFile* tf = steer::find_file(topo, file);
    if (!tf)
        return fail(
            json_error(404, "unknown-file", fmt::format("'{}' is not in the catalog", file)));
    if (!v.have_signing_key || v.edge_keys.size() != topo.edges.size())
        return fail(json_error(503, "no-signing-key", "no valid signing key: rotate one in"));
    const size_t title_segments = title ? title_depth(file) : 0;
    if (title && title_segments == 0)
        return fail(json_error(
            400, "bad-title",
            fmt::format("'{}' is not in a directory of at most {} levels a title URL can cover",
                        file, auth::kMaxTitleSegments)));
    std::vector<steer::Ranked> ranked = steer::rank(topo, file, tf, client, s.cfg.max_urls);
    if (ranked.empty()) return fail(unserved(s, topo, tf, file));
    const int64_t expiry = now / 1000 + s.cfg.url_ttl_s;
    const std::string bind = s.cfg.bind_client_prefix ? bind_prefix(topo, client) : "";
    const std::string client_str = client.to_string();
    ApiResponse resp;
    std::string& body = resp.body;
    body.reserve(256 + ranked.size() * 256);
    body.append("{\"file\":");
    json_string(&body, file);
    body.append(",\"client\":\"").append(client_str).append("\",\"urls\":[");
    const bool logging = s.steering_log->enabled();
    std::string log_ranked;
    First first = write_urls(s, v, file, expiry, bind, title_segments, ranked, &body,
                             logging ? &log_ranked : nullptr);
    fmt::format_to(std::back_inserter(body), "],\"expires\":{}}}\n", expiry);
    count(s, req, ranked, first);
    if (logging) {
        std::string line = "{\"time\":\"" + http::iso8601_ms(now) + "\",\"client\":\"" +
                           client_str + "\",\"file\":";
        json_string(&line, file);
        line.append(",\"ranked\":[").append(log_ranked).append("],\"reason\":");
        json_string(&line, first.reason);
        line.append("}\n");
        s.steering_log->push(req.thread % s.threads, line.data(), line.size());
    }
    if (first_url) *first_url = std::move(first.url);
    return resp;
}

// A URL for a Location header: bytes a header may not carry verbatim (controls, space,
// non-ASCII) percent-encoded, so that no catalog path can split the head.
std::string location_header_value(std::string_view url) {
    std::string out;
    out.reserve(url.size());
    for (unsigned char c : url) {
        if (c <= 0x20 || c >= 0x7f)
            fmt::format_to(std::back_inserter(out), "%{:02X}", c);
        else
            out.push_back(static_cast<char>(c));
    }
    return out;
}

} // namespace

// With session keys, a player needs the token its streaming service's front end minted
// (?session=); a trusted front end asking on its players' behalf needs none.
std::optional<ApiResponse> check_session(const ApiRequest& req, const Service& s, int64_t now) {
    const std::shared_ptr<const auth::KeySet> keys = s.session_keys.load();
    if (!keys || s.is_trusted(req.client)) return std::nullopt;
    std::string_view raw;
    std::string token;
    if (io::query_param(req.query, "session", &raw) && !io::url_decode(raw, &token))
        token = "\x01"; // malformed
    auth::VerifyPolicy policy;
    policy.max_lifetime_s = s.cfg.steering.session_max_lifetime_s;
    policy.clock_skew_s = 60;
    const auth::SigCheck c = auth::verify_session_token(token, *keys, now, req.client, policy);
    if (c == auth::SigCheck::kOk) return std::nullopt;
    s.session_refused[static_cast<size_t>(c) % 8].fetch_add(1, std::memory_order_relaxed);
    if (c == auth::SigCheck::kMissing)
        return json_error(401, "missing-session",
                          "steering needs ?session=<token> from the streaming service");
    static constexpr const char* kWhy[] = {
        "ok",     "missing", "malformed",          "unknown key",
        "forged", "expired", "for another client", "too long-lived"};
    return json_error(403, "bad-session",
                      fmt::format("session token refused: {}", kWhy[static_cast<size_t>(c) % 8]));
}

// The prefix a signed URL is bound to: the client's matched prefix, or its /24 (/48).
std::string bind_prefix(const steer::Topology& topo, const io::IpAddress& client) {
    if (const steer::PrefixTable::Entry* m = topo.prefixes->lookup(client))
        return m->prefix.to_string();
    io::IpPrefix p;
    p.addr = client;
    p.bits = client.family == AF_INET ? 24 : 48;
    for (size_t i = p.bits / 8; i < p.addr.length(); ++i)
        p.addr.bytes[i] = 0;
    return p.to_string();
}

ApiResponse get_steer(const ApiRequest& req, Service& s) {
    s.steer_requests.fetch_add(1, std::memory_order_relaxed);
    std::string file;
    io::IpAddress client;
    std::optional<ApiResponse> bad = read_query(req, s, &file, &client);
    // ?title=1: title URLs scoped to the file's directory.
    std::string_view t;
    const bool title = io::query_param(req.query, "title", &t) && t != "0";
    if (!bad && title && t != "1")
        bad = json_error(400, "bad-title", "title takes 1 (title URLs) or 0");
    if (bad) {
        s.steer_errors.fetch_add(1, std::memory_order_relaxed);
        return std::move(*bad);
    }
    return steer_answer(req, s, file, client, title, nullptr);
}

ApiResponse unserved(Service& s, const steer::Topology& topo, const steer::TopoFile* tf,
                     std::string_view file) {
    // Why nothing was ranked (the origin, when it serves players, is always ranked last).
    size_t up = 0;
    if (tf)
        for (uint32_t h : tf->holders)
            up += topo.edges[h].eligible;
    const Unserved why = !tf || tf->holders.empty() ? Unserved::kNotPlaced
                         : up > 0                   ? Unserved::kNoSiteForClient
                                                    : Unserved::kHoldersUnavailable;
    s.steer_unserved[static_cast<size_t>(why)].fetch_add(1, std::memory_order_relaxed);
    const std::string f(file.substr(0, 300));
    switch (why) {
    case Unserved::kNotPlaced:
        return json_error(503, "not-placed",
                          fmt::format("no edge holds '{}' yet, and the origin does not serve "
                                      "players",
                                      f));
    case Unserved::kNoSiteForClient:
        return json_error(503, "no-site-for-client",
                          fmt::format("the edges that hold '{}' are in sites that do not serve "
                                      "this client's network, and the origin does not serve "
                                      "players",
                                      f));
    default:
        return json_error(503, "holders-unavailable",
                          fmt::format("every edge that holds '{}' is down, drained or "
                                      "overloaded, and the origin does not serve players",
                                      f));
    }
}

const char* unserved_name(Unserved u) {
    switch (u) {
    case Unserved::kNotPlaced:
        return "not-placed";
    case Unserved::kNoSiteForClient:
        return "no-site-for-client";
    case Unserved::kHoldersUnavailable:
        return "holders-unavailable";
    }
    return "?";
}

ApiResponse get_redirect(const ApiRequest& req, Service& s) {
    s.steer_requests.fetch_add(1, std::memory_order_relaxed);
    const std::string file = "/" + std::string(req.param(0));
    std::string url;
    ApiResponse r = steer_answer(req, s, file, req.client, title_depth(file) > 0, &url);
    if (r.status != 200) return r; // the unserved reasons included
    r.status = 302;
    r.extra_headers = "Location: " + location_header_value(url) + "\r\n";
    return r;
}

void add_steer_routes(Routes& r, Service& s) {
    r.get(kPublic, "/api/v1/steer",
          with_cors([&s](const ApiRequest& q) { return get_steer(q, s); }));
    r.add(kPublic, http::Method::kOptions, "/api/v1/steer", cors_preflight);
    r.get(kPublic, "/r/{path...}",
          with_cors([&s](const ApiRequest& q) { return get_redirect(q, s); }));
}

} // namespace vcdn::control
