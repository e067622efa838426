// Playback for standard players (hls.js, dash.js, Shaka, ExoPlayer, AVPlayer, ffmpeg):
//   GET /api/v1/play/<title>.mpd    the title's packaged MPD, each Representation with one
//                                   BaseURL per ranked location (serviceLocation = edge id)
//   GET /api/v1/play/<title>.m3u8   its multivariant playlist, one Pathway per ranked location
//   GET /api/v1/play/<title>/steering?kind=..&key=..   the Content Steering server both name:
//                                   the current ranking, re-read from health, load and BGP
//   GET /watch, /watch/<asset>      a player page (watch.html) and the players it loads
// Every location carries a title token of its own (auth/signed_url.h), valid on that edge only,
// so the relative URLs inside the packaged playlists keep working there. A Representation or
// variant whose files the location's edge does not hold is sent to the best location that
// does (placement is per file), so no player is pointed at a 404.
#include <algorithm>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <vcdn/auth/signed_url.h>
#include <vcdn/base/strings.h>
#include <vcdn/http/date.h>
#include <vcdn/media/dash.h>
#include <vcdn/media/hls.h>
#include <vcdn/media/uri.h>

#include "api.h"

namespace vcdn::control {

// The player page and the players it loads, built from web/dashboard at build time.
std::string_view watch_html();
std::string_view watch_hls_js();
std::string_view watch_dash_js();
std::string_view watch_shaka_js();

namespace {

enum Kind : size_t { kDashKind = 0, kHlsKind = 1, kSteeringKind = 2 };

// At most this many files of one rendition are checked against an edge's holdings: a
// rendition is normally one file (or a few), and a SegmentList of thousands must not make a
// request cost thousands of lookups per location.
constexpr size_t kCheckedFilesPerRendition = 16;

ApiResponse fail(Service& s, uint16_t status, std::string_view code, std::string_view message) {
    s.play_errors.fetch_add(1, std::memory_order_relaxed);
    return json_error(status, code, message);
}

// A query value, percent-encoded (unreserved bytes only).
std::string query_encode(std::string_view v) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : v) {
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            out.push_back(static_cast<char>(c));
        } else {
            out.push_back('%');
            out.push_back(kHex[c >> 4]);
            out.push_back(kHex[c & 15]);
        }
    }
    return out;
}

// Where players reach this listener: [control.play] public_url, or the request's Host. Empty
// when neither is usable (a Host that is not a host[:port]).
std::string public_base(const ApiRequest& req, const Service& s) {
    if (!s.cfg.play.public_url.empty()) {
        std::string b = s.cfg.play.public_url;
        while (!b.empty() && b.back() == '/')
            b.pop_back();
        return b;
    }
    const std::string_view host = req.host;
    if (host.empty() || host.size() > 255) return {};
    for (char c : host)
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == ':' || c == '[' || c == ']'))
            return {};
    return fmt::format("{}://{}", req.tls ? "https" : "http", host);
}

// ?session= as the player gave it (to carry into the steering server's URL).
std::string session_of(const ApiRequest& req) {
    std::string_view raw;
    std::string token;
    if (io::query_param(req.query, "session", &raw) && io::url_decode(raw, &token) &&
        token.size() <= 1024)
        return token;
    return {};
}

bool parse_title(std::string_view text, uint32_t* out) {
    uint64_t n = 0;
    if (!parse_u64(text, &n) || n == 0 || n > UINT32_MAX) return false;
    *out = static_cast<uint32_t>(n);
    return true;
}

// The catalog entry of `path` among a title's files (sorted by path); null when not there.
const CatalogEntry* title_file(const View& v, const TitleFiles& t, std::string_view path) {
    const std::vector<CatalogEntry>& files = *v.files;
    auto it = std::lower_bound(t.files.begin(), t.files.end(), path,
                               [&](uint32_t i, std::string_view p) { return files[i].path < p; });
    if (it == t.files.end() || files[*it].path != path) return nullptr;
    return &files[*it];
}

// One place a player may fetch the title from: an edge (its base URL and its own title token)
// or the origin (with the origin's key, or none).
struct Place {
    std::string id;
    int32_t edge = -1; // index into the topology; -1 the origin
    std::string base;  // "http://host:port"
    std::string token; // "/vt=..." or empty
    std::string site, reason;
};

// A ranked entry as a place, with a title token for `scope` (none for an empty scope).
Place make_place(const Service& s, const View& v, const steer::Ranked& r, std::string_view scope,
                 int64_t expiry, const std::string& bind) {
    const steer::Topology& topo = *v.topo;
    Place p;
    p.reason = steer::describe(topo, r);
    if (r.edge >= 0) {
        const steer::TopoEdge& te = topo.edges[static_cast<size_t>(r.edge)];
        p.id = te.id;
        p.edge = r.edge;
        p.base = s.cfg.https_urls && !te.https_url.empty() ? te.https_url : te.url;
        p.site = topo.sites[te.site].name;
        if (!scope.empty())
            p.token = "/" + auth::title_token(v.edge_keys[static_cast<size_t>(r.edge)], scope,
                                              expiry, bind);
    } else {
        p.id = "origin";
        p.base = topo.origin_url;
        p.site = "origin";
        if (v.origin_key && !scope.empty())
            p.token = "/" + auth::title_token(*v.origin_key, scope, expiry, bind);
    }
    return p;
}

// The ranked places for a title's key file.
std::vector<Place> places(const Service& s, const View& v, const std::string& key,
                          const io::IpAddress& client, std::string_view scope, int64_t expiry) {
    const steer::Topology& topo = *v.topo;
    const std::string bind = s.cfg.bind_client_prefix ? bind_prefix(topo, client) : "";
    std::vector<Place> out;
    for (const steer::Ranked& r :
         steer::rank(topo, key, steer::find_file(topo, key), client, s.cfg.max_urls)) {
        Place p = make_place(s, v, r, scope, expiry, bind);
        if (media::valid_location_id(p.id)) out.push_back(std::move(p)); // else: no manifest
    }
    return out;
}

bool holds(const View& v, int32_t edge, const std::string& path) {
    const steer::TopoFile* tf = steer::find_file(*v.topo, path);
    return tf &&
           std::binary_search(tf->holders.begin(), tf->holders.end(), static_cast<uint32_t>(edge));
}

// Whether an edge (or the origin, -1) can serve a rendition that needs these files.
bool serves(const View& v, int32_t edge, const std::vector<std::string>& need) {
    if (edge < 0) return true;
    if (!v.topo->edges[static_cast<size_t>(edge)].eligible) return false;
    for (const std::string& f : need)
        if (!holds(v, edge, f)) return false;
    return true;
}

// The place that serves a rendition needing `need` for location k: k itself when it can, else
// the first ranked place that can (the origin holds everything), else k.
size_t serving(const View& v, const std::vector<Place>& ps, size_t k,
               const std::vector<std::string>& need) {
    if (serves(v, ps[k].edge, need)) return k;
    for (size_t j = 0; j < ps.size(); ++j)
        if (serves(v, ps[j].edge, need)) return j;
    return k;
}

// A rendition that no ranked edge holds (placement is per file) brings its own best edge in,
// as a place of its own before the origin (at most max_urls more places).
void add_holders(const Service& s, const View& v, const io::IpAddress& client,
                 std::string_view scope, int64_t expiry,
                 const std::vector<std::vector<std::string>>& needs, std::vector<Place>* ps) {
    const std::string bind = s.cfg.bind_client_prefix ? bind_prefix(*v.topo, client) : "";
    size_t added = 0;
    for (const std::vector<std::string>& need : needs) {
        if (need.empty() || added == s.cfg.max_urls) continue;
        bool served = false;
        for (const Place& p : *ps)
            served = served || (p.edge >= 0 && serves(v, p.edge, need));
        if (served) continue;
        const steer::TopoFile* tf = steer::find_file(*v.topo, need.front());
        for (const steer::Ranked& r :
             steer::rank(*v.topo, need.front(), tf, client, s.cfg.max_urls)) {
            if (r.edge < 0) break;
            if (!serves(v, r.edge, need)) continue;
            Place p = make_place(s, v, r, scope, expiry, bind);
            if (media::valid_location_id(p.id)) {
                auto at = !ps->empty() && ps->back().edge < 0 ? ps->end() - 1 : ps->end();
                ps->insert(at, std::move(p));
                ++added;
            }
            break;
        }
    }
}

// Up to kCheckedFilesPerRendition of `all`, spread from the first to the last.
std::vector<std::string> sample(const std::vector<std::string>& all) {
    if (all.size() <= kCheckedFilesPerRendition) return all;
    std::vector<std::string> out;
    for (size_t i = 0; i < kCheckedFilesPerRendition; ++i)
        out.push_back(all[i * (all.size() - 1) / (kCheckedFilesPerRendition - 1)]);
    return out;
}

// The deepest directory that holds every path ("/t/1/"), as a title scope ("t/1/"); empty when
// the paths share only the root.
std::string common_scope(const std::vector<std::vector<std::string>>& needs) {
    std::string_view dir;
    bool first = true;
    for (const auto& need : needs)
        for (const std::string& p : need) {
            std::string_view d = media::dir_of(p);
            if (first) {
                dir = d;
                first = false;
                continue;
            }
            size_t n = 0;
            while (n < dir.size() && n < d.size() && dir[n] == d[n])
                ++n;
            dir = dir.substr(0, dir.rfind('/', n ? n - 1 : 0) + 1);
        }
    if (dir.size() <= 1 ||
        static_cast<size_t>(std::count(dir.begin(), dir.end(), '/')) - 1 > auth::kMaxTitleSegments)
        return {};
    return std::string(dir.substr(1));
}

// The steering server's URL for a title and its key file.
std::string steering_url(const std::string& base, uint32_t title, Kind kind, const std::string& key,
                         const std::string& session) {
    std::string u = fmt::format("{}/api/v1/play/{}/steering?kind={}&key={}", base, title,
                                kind == kDashKind ? "dash" : "hls", query_encode(key));
    if (!session.empty()) u += "&session=" + query_encode(session);
    return u;
}

void log_ranking(Service& s, const ApiRequest& req, uint32_t title, std::string_view kind,
                 const std::vector<Place>& ps, std::string_view pathway) {
    if (!s.steering_log->enabled()) return;
    nlohmann::json j = {{"time", http::iso8601_ms(wall_ms())},
                        {"client", req.client.to_string()},
                        {"title", title},
                        {"kind", kind}};
    if (!pathway.empty()) j["pathway"] = pathway;
    nlohmann::json ranked = nlohmann::json::array();
    for (const Place& p : ps)
        ranked.push_back({{"edge", p.id}, {"site", p.site}, {"reason", p.reason}});
    j["ranked"] = std::move(ranked);
    const std::string line =
        j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    s.steering_log->push(req.thread % s.threads, line.data(), line.size());
}

// What both manifest kinds share once the packaged manifest is read: the renditions' needs,
// the key file, the places and the URLs.
struct Plan {
    std::vector<std::vector<std::string>> needs; // per rendition (slot / variant ...)
    std::string key;                             // the file the ranking is made for
};

// Nothing ranked for the title's key file: why, as steering says it (counted the same way).
ApiResponse no_places(Service& s, const View& v, const std::string& key) {
    s.play_errors.fetch_add(1, std::memory_order_relaxed);
    return unserved(s, *v.topo, steer::find_file(*v.topo, key), key);
}

ApiResponse play_dash(const ApiRequest& req, Service& s, const View& v, uint32_t title,
                      const TitleFiles& tf, const std::string& base) {
    if (tf.mpds.empty())
        return fail(s, 404, "no-dash", fmt::format("title {} has no DASH manifest (.mpd)", title));
    const CatalogEntry& mpd = (*v.files)[tf.mpds.front()];
    if (auto t = s.manifests->text(v, mpd); !t)
        return fail(s, 503, "manifest-unavailable",
                    fmt::format("{}: {}", mpd.path, t.error().message));
    auto tmpl = s.manifests->dash(v, mpd);
    if (!tmpl)
        return fail(s, 502, "bad-manifest", fmt::format("{}: {}", mpd.path, tmpl.error().message));
    const media::DashTemplate& t = **tmpl;
    std::vector<std::vector<std::string>> needs;
    const std::vector<CatalogEntry>& files = *v.files;
    for (const media::DashSlot& slot : t.slots) {
        std::vector<std::string> need = sample(slot.files);
        for (const auto& [prefix, suffix] : slot.templates) {
            // The title's files the template matches (sorted: a range by prefix).
            auto it =
                std::lower_bound(tf.files.begin(), tf.files.end(), std::string_view(prefix),
                                 [&](uint32_t i, std::string_view p) { return files[i].path < p; });
            size_t taken = 0;
            for (; it != tf.files.end() && files[*it].path.starts_with(prefix) &&
                   taken < kCheckedFilesPerRendition;
                 ++it)
                if (files[*it].path.ends_with(suffix)) {
                    need.push_back(files[*it].path);
                    ++taken;
                }
        }
        needs.push_back(std::move(need));
    }
    std::string key;
    for (const auto& need : needs)
        if (!need.empty()) {
            key = need.front();
            break;
        }
    if (key.empty())
        return fail(s, 502, "bad-manifest",
                    fmt::format("{}: no Representation names a file of the catalog", mpd.path));
    std::vector<std::vector<std::string>> scoped = needs;
    for (const media::DashSlot& slot : t.slots)
        scoped.push_back({slot.base}); // a directory base is its own directory
    const std::string scope = common_scope(scoped);
    if (scope.empty())
        return fail(
            s, 502, "bad-manifest",
            fmt::format("{}: its files share no directory a title token can cover", mpd.path));
    const int64_t expiry = wall_ms() / 1000 + s.cfg.play.token_ttl_s;
    std::vector<Place> ps = places(s, v, key, req.client, scope, expiry);
    add_holders(s, v, req.client, scope, expiry, needs, &ps);
    if (ps.empty()) return no_places(s, v, key);
    std::vector<std::string> ids;
    for (const Place& p : ps)
        ids.push_back(p.id);
    ApiResponse r;
    r.content_type = "application/dash+xml";
    r.body =
        media::render_dash(t, ids, steering_url(base, title, kDashKind, key, session_of(req)),
                           [&](size_t k, size_t slot) {
                               const Place& p = ps[serving(v, ps, k, needs[slot])];
                               return p.base + p.token + media::encode_path(t.slots[slot].base);
                           });
    log_ranking(s, req, title, "dash", ps, {});
    return r;
}

ApiResponse play_hls(const ApiRequest& req, Service& s, const View& v, uint32_t title,
                     const TitleFiles& tf, const std::string& base) {
    // The multivariant playlist: the first candidate that is one (media playlists sit beside
    // it). At most 8 are read.
    std::shared_ptr<const media::HlsMaster> master;
    const CatalogEntry* chosen = nullptr;
    for (size_t i = 0; i < tf.m3u8s.size() && i < 8 && !master; ++i) {
        const CatalogEntry& f = (*v.files)[tf.m3u8s[i]];
        auto text = s.manifests->text(v, f);
        if (!text)
            return fail(s, 503, "manifest-unavailable",
                        fmt::format("{}: {}", f.path, text.error().message));
        if (!media::hls_is_multivariant(**text)) continue;
        auto m = s.manifests->hls_master(v, f);
        if (!m)
            return fail(s, 502, "bad-manifest", fmt::format("{}: {}", f.path, m.error().message));
        master = *m;
        chosen = &f;
    }
    if (!master)
        return fail(s, 404, "no-hls",
                    fmt::format("title {} has no HLS multivariant playlist", title));
    // Each variant's and rendition's needs: its media playlist and the files that names.
    std::map<std::string, std::vector<std::string>> need_of; // by media playlist path
    auto need_for = [&](const std::string& uri) -> Result<const std::vector<std::string>*> {
        if (auto it = need_of.find(uri); it != need_of.end()) return &it->second;
        const CatalogEntry* f = title_file(v, tf, uri);
        if (!f)
            return Error{fmt::format("{} names {}, which is not a file of title {}", chosen->path,
                                     uri, title)};
        auto named = s.manifests->hls_files(v, *f);
        if (!named) return Error{fmt::format("{}: {}", uri, named.error().message)};
        std::vector<std::string> need = sample(**named);
        need.insert(need.begin(), uri);
        return &need_of.emplace(uri, std::move(need)).first->second;
    };
    std::vector<std::vector<std::string>> scoped;
    std::string key;
    for (const media::HlsVariant& var : master->variants) {
        auto n = need_for(var.uri);
        if (!n) return fail(s, 502, "bad-manifest", n.error().message);
        if (key.empty()) key = (*n)->size() > 1 ? (**n)[1] : (**n)[0];
        scoped.push_back(**n);
    }
    for (const media::HlsRendition& ren : master->renditions) {
        if (ren.uri.empty()) continue;
        auto n = need_for(ren.uri);
        if (!n) return fail(s, 502, "bad-manifest", n.error().message);
        scoped.push_back(**n);
    }
    const std::string scope = common_scope(scoped);
    if (scope.empty())
        return fail(
            s, 502, "bad-manifest",
            fmt::format("{}: its files share no directory a title token can cover", chosen->path));
    const int64_t expiry = wall_ms() / 1000 + s.cfg.play.token_ttl_s;
    std::vector<Place> ps = places(s, v, key, req.client, scope, expiry);
    add_holders(s, v, req.client, scope, expiry, scoped, &ps);
    if (ps.empty()) return no_places(s, v, key);
    std::vector<std::string> ids;
    for (const Place& p : ps)
        ids.push_back(p.id);
    ApiResponse r;
    r.content_type = "application/vnd.apple.mpegurl";
    r.body = media::render_hls_master(*master, ids,
                                      steering_url(base, title, kHlsKind, key, session_of(req)),
                                      [&](size_t k, const std::string& uri) {
                                          const Place& p = ps[serving(v, ps, k, need_of.at(uri))];
                                          return p.base + p.token + media::encode_path(uri);
                                      });
    log_ranking(s, req, title, "hls", ps, {});
    return r;
}

} // namespace

ApiResponse get_play(const ApiRequest& req, Service& s) {
    const std::string_view name = req.param(0);
    const bool dash = name.ends_with(".mpd"), hls = name.ends_with(".m3u8");
    s.play_requests[hls ? kHlsKind : kDashKind].fetch_add(1, std::memory_order_relaxed);
    uint32_t title = 0;
    if ((!dash && !hls) || !parse_title(name.substr(0, name.rfind('.')), &title))
        return fail(s, 404, "unknown-title",
                    "ask for /api/v1/play/<title number>.mpd (DASH) or .m3u8 (HLS)");
    if (auto denied = check_session(req, s, wall_ms() / 1000)) {
        s.play_errors.fetch_add(1, std::memory_order_relaxed);
        return std::move(*denied);
    }
    const std::shared_ptr<const View> vp = s.current(); // a worker thread: no per-thread cache
    const View& v = *vp;
    auto it = v.titles->find(title);
    if (it == v.titles->end())
        return fail(s, 404, "unknown-title", fmt::format("title {} is not in the catalog", title));
    if (!v.have_signing_key || v.edge_keys.size() != v.topo->edges.size())
        return fail(s, 503, "no-signing-key", "no valid signing key: rotate one in");
    const std::string base = public_base(req, s);
    if (base.empty())
        return fail(s, 400, "bad-host",
                    "the request has no usable Host header (or set [control.play] public_url)");
    return dash ? play_dash(req, s, v, title, it->second, base)
                : play_hls(req, s, v, title, it->second, base);
}

ApiResponse get_play_steering(const ApiRequest& req, Service& s) {
    s.play_requests[kSteeringKind].fetch_add(1, std::memory_order_relaxed);
    uint32_t title = 0;
    if (!parse_title(req.param(0), &title))
        return fail(s, 404, "unknown-title", "ask for /api/v1/play/<title number>/steering");
    std::string_view kind_raw, key_raw;
    if (!io::query_param(req.query, "kind", &kind_raw) || (kind_raw != "hls" && kind_raw != "dash"))
        return fail(s, 400, "bad-kind", "kind is hls or dash");
    const bool dash = kind_raw == "dash";
    std::string key;
    if (!io::query_param(req.query, "key", &key_raw) || !io::url_decode(key_raw, &key) ||
        key.empty())
        return fail(s, 400, "bad-key", "give ?key=<the title's file the ranking is for>");
    if (auto denied = check_session(req, s, wall_ms() / 1000)) {
        s.play_errors.fetch_add(1, std::memory_order_relaxed);
        return std::move(*denied);
    }
    const View& v = s.view_for(req.thread);
    auto it = v.titles->find(title);
    if (it == v.titles->end())
        return fail(s, 404, "unknown-title", fmt::format("title {} is not in the catalog", title));
    if (!title_file(v, it->second, key))
        return fail(s, 404, "unknown-file",
                    fmt::format("'{}' is not a file of title {}", key.substr(0, 200), title));
    const std::string base = public_base(req, s);
    if (base.empty())
        return fail(s, 400, "bad-host",
                    "the request has no usable Host header (or set [control.play] public_url)");
    // The ranking only: no token is made here (the manifest's tokens stay in force).
    const std::vector<Place> ps = places(s, v, key, req.client, {}, 0);
    std::vector<std::string> ids;
    for (const Place& p : ps)
        ids.push_back(p.id);
    std::string_view pathway;
    if (!io::query_param(req.query, dash ? "_DASH_pathway" : "_HLS_pathway", &pathway))
        pathway = {};
    std::string said;
    if (!io::url_decode(pathway, &said) || said.size() > 256) said = "?";
    log_ranking(s, req, title, "steering", ps, said);
    ApiResponse r;
    r.body = media::steering_response(
        s.cfg.play.steering_ttl_s,
        steering_url(base, title, dash ? kDashKind : kHlsKind, key, session_of(req)), ids, dash);
    return r;
}

ApiResponse get_watch_page(const ApiRequest&, Service&) {
    ApiResponse r;
    r.content_type = "text/html; charset=utf-8";
    r.body = std::string(watch_html());
    return r;
}

ApiResponse get_watch_asset(const ApiRequest& req, Service& s) {
    const std::string_view name = req.param(0);
    std::string_view js;
    if (name == "hls.js")
        js = watch_hls_js();
    else if (name == "dash.js")
        js = watch_dash_js();
    else if (name == "shaka.js")
        js = watch_shaka_js();
    else
        return fail(s, 404, "not-found", "the watch page loads hls.js, dash.js or shaka.js");
    ApiResponse r;
    r.content_type = "text/javascript; charset=utf-8";
    r.body = std::string(js);
    return r;
}

void add_play_routes(Routes& r, Service& s) {
    r.get_blocking(kPublic, "/api/v1/play/{name}",
                   with_cors([&s](const ApiRequest& q) { return get_play(q, s); }));
    r.add(kPublic, http::Method::kOptions, "/api/v1/play/{name}", cors_preflight);
    r.get(kPublic, "/api/v1/play/{title}/steering",
          with_cors([&s](const ApiRequest& q) { return get_play_steering(q, s); }));
    r.add(kPublic, http::Method::kOptions, "/api/v1/play/{title}/steering", cors_preflight);
    r.get(kPublic, "/watch", [&s](const ApiRequest& q) { return get_watch_page(q, s); });
    r.get(kPublic, "/watch/{name}", [&s](const ApiRequest& q) { return get_watch_asset(q, s); });
}

} // namespace vcdn::control
