#pragma once
// The control plane's HTTP API (docs/api.md), one file per resource:
//   api_dashboard.cc  GET /, /healthz, /metrics, /api/v1/dashboard
//   api_steer.cc      GET /api/v1/steer (public; the hot call), GET /r/{path...} (302 to it)
//   api_heartbeat.cc  POST /api/v1/edges/{id}/heartbeat, GET .../manifest   (the edge's token)
//   api_edges.cc      GET /api/v1/edges[/{id}], admin: POST/PUT/DELETE, POST .../drain
//   api_sites.cc      GET /api/v1/sites[/{name}], admin: POST/PUT/DELETE
//   api_fleet.cc      GET/POST /api/v1/fleet                      (admin)
//   api_catalog.cc    GET /api/v1/catalog, admin POST
//   api_popularity.cc GET/POST /api/v1/popularity                 (admin)
//   api_qoe.cc        POST /api/v1/qoe                            (public)
//   api_keys.cc       GET /api/v1/keys, POST /api/v1/keys/rotate  (admin)
//   api_events.cc     GET /api/v1/events                          (public)
//   api_bgp.cc        GET /api/v1/bgp, /api/v1/bgp/routes         (public)
//   api_play.cc       GET /api/v1/play/{title}.mpd|.m3u8, .../{title}/steering, /watch (public)
//
// Every handler is a function of (request, Service) → response: it reads the Service's current
// View and writes through its Store (one transaction per call), then syncs so that the answer
// reflects the change. Unit tests call them directly (tests/unit/control/api_*_test.cc).
// A new route: write the handler in its resource's file, declare it here, add it in that
// file's add_*_routes().
//
// Threads: handlers run on the HTTP service's threads, concurrently.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include <vcdn/io/http_service.h>

#include "admin_bodies.h" // only_keys, take and the admin bodies' readers
#include "service.h"

namespace vcdn::control {

using io::ApiRequest;
using io::ApiResponse;

// ---- shared by the handlers (api_common.cc) ----
ApiResponse json_error(uint16_t status, std::string_view code, std::string_view message);
ApiResponse json_ok(const nlohmann::json& j, uint16_t status = 200);
// "Bearer <token>" -> token; empty when absent or another scheme.
std::string_view bearer(std::string_view authorization);
// Constant-time; an empty expected token never matches.
bool token_equals(std::string_view given, std::string_view expected);
// 401 without a token, 403 with the wrong one (counted: 429 for an address that keeps
// failing); nullopt for the admin. require_read also lets the read-only token through.
std::optional<ApiResponse> require_admin(const ApiRequest& req, Service& s);
std::optional<ApiResponse> require_read(const ApiRequest& req, Service& s);
// 429 while the client's address is refused for failed credentials.
std::optional<ApiResponse> auth_blocked(const ApiRequest& req, Service& s);
// A request body as JSON: size and depth bounded before parsing (wire::parse_json).
Result<nlohmann::json> parse_body(const ApiRequest& req, size_t max_bytes = 1u << 20);
const SiteSpec* site_of(const Fleet& f, std::string_view edge_id, const EdgeSpec** edge);
// Per site: the BGP union, the reporting edges and where they disagree (api_bgp.cc).
nlohmann::json bgp_json(const View& v, int64_t now);
// An edge as GET /api/v1/edges shows it.
nlohmann::json edge_json(const View& v, const SiteSpec& site, const EdgeSpec& e, int64_t now);
// The answer to an admin fleet edit: the refusal the change gave, a validation (400) or
// database (503) error, or success once the change is visible to this instance.
ApiResponse fleet_write_answer(Service& s, const Status& written,
                               const std::optional<ApiResponse>& refusal, bool created);
// Runs `change` on the fleet inside the store's transaction (read, change, write: no lost
// update when two admins edit at once); a refusal it returns aborts it and is the answer.
ApiResponse edit_fleet(Service& s, bool created,
                       const std::function<std::optional<ApiResponse>(Fleet&)>& change);
// ?name=<number> in [lo, hi] (default when absent); false with the answer in *bad.
// ?name=1
bool query_flag(const ApiRequest& req, const char* name);
// 409 sole-copies: `what` would leave `sc` without a copy on an up edge (the body carries
// the count, the bytes and a sample of the paths).
ApiResponse sole_copies_refusal(std::string_view what, const SoleCopies& sc);

bool query_number(const ApiRequest& req, const char* name, size_t lo, size_t hi, size_t* out,
                  ApiResponse* bad);

// Steering's rules, shared by every player-facing answer (api_steer.cc):
// with session keys, a player needs the token its streaming service's front end minted
// (?session=); a trusted front end asking on its players' behalf needs none. The refusal, or
// nullopt.
std::optional<ApiResponse> check_session(const ApiRequest& req, const Service& s, int64_t now);
// A steering request that ranks nothing: 503 with why, counted by reason
// (vcdn_control_steer_unserved_total): the file is on no edge yet (not-placed), only on edges
// of sites this client may not use (no-site-for-client), or every edge that holds it is down,
// drained or overloaded (holders-unavailable) — and the origin does not serve players.
enum class Unserved : uint8_t { kNotPlaced, kNoSiteForClient, kHoldersUnavailable };
inline constexpr size_t kUnservedReasons = 3;
const char* unserved_name(Unserved u);
ApiResponse unserved(Service& s, const steer::Topology& topo, const steer::TopoFile* tf,
                     std::string_view file);
// The prefix a signed URL is bound to: the client's matched prefix, or its /24 (/48).
std::string bind_prefix(const steer::Topology& topo, const io::IpAddress& client);

// ---- the routes ----
// Who a route is for; each listener serves one or more surfaces (all three when the control
// plane has one listener). Credentials are checked whatever the listener.
enum Surface : unsigned { kPublic = 1, kEdge = 2, kAdmin = 4, kAllSurfaces = 7 };

// A Router restricted to some surfaces: routes of the others are not added.
class Routes {
public:
    Routes(io::Router& r, unsigned surfaces) : r_(r), surfaces_(surfaces) {}
    // `on`: the surfaces the route belongs to (a mask of Surface). The players' calls
    // (steering, QoE, /healthz) never wait for the database and run on the event loops; the
    // edges' and operators' calls may (store writes, imports, big manifests) and run on the
    // service's worker pool, so that no heartbeat or import can hold up a player.
    void add(unsigned on, http::Method m, std::string_view pattern, io::Router::Handler h,
             size_t max_body = io::Router::kDefaultMaxBody, io::Router::Guard guard = {}) {
        if (surfaces_ & on)
            r_.add(m, pattern, std::move(h), max_body, std::move(guard), !(on & kPublic));
    }
    void get(unsigned on, std::string_view pattern, io::Router::Handler h) {
        add(on, http::Method::kGet, pattern, std::move(h));
    }
    // A player's call that may wait for the network (a packaged manifest not yet in memory):
    // on the worker pool like the edges' and operators' calls.
    void get_blocking(unsigned on, std::string_view pattern, io::Router::Handler h) {
        if (surfaces_ & on) r_.add(http::Method::kGet, pattern, std::move(h), 0, {}, true);
    }

private:
    io::Router& r_;
    unsigned surfaces_;
};

// CORS for what web players call (steering, QoE): any page may read the answers (they carry
// no credential a page could leak: a session token is the page's own), and the preflight of
// a POST with a JSON body is answered. Errors the handler returns carry it too.
io::Router::Handler with_cors(io::Router::Handler h);
ApiResponse cors_preflight(const ApiRequest& req);

// Guards that check the credential on the head, before the body is read.
io::Router::Guard admin_guard(Service& s);

// The API of some surfaces (JSON errors); what each HttpService serves.
std::shared_ptr<io::Router> make_router(Service& s, unsigned surfaces = kAllSurfaces);
void add_dashboard_routes(Routes& r, Service& s);
void add_steer_routes(Routes& r, Service& s);
void add_heartbeat_routes(Routes& r, Service& s);
void add_edge_routes(Routes& r, Service& s);
void add_site_routes(Routes& r, Service& s);
void add_fleet_routes(Routes& r, Service& s);
void add_catalog_routes(Routes& r, Service& s);
void add_popularity_routes(Routes& r, Service& s);
void add_qoe_routes(Routes& r, Service& s);
void add_key_routes(Routes& r, Service& s);
void add_event_routes(Routes& r, Service& s);
void add_bgp_routes(Routes& r, Service& s);
void add_play_routes(Routes& r, Service& s);

// ---- the handlers (one per route; params as in the pattern) ----
ApiResponse get_dashboard_page(const ApiRequest& req, Service& s);
ApiResponse get_healthz(const ApiRequest& req, Service& s);
ApiResponse get_metrics(const ApiRequest& req, Service& s);
ApiResponse get_dashboard(const ApiRequest& req, Service& s);
ApiResponse get_steer(const ApiRequest& req, Service& s);
ApiResponse get_redirect(const ApiRequest& req, Service& s);   // {path...}
ApiResponse post_heartbeat(const ApiRequest& req, Service& s); // {id}
ApiResponse get_manifest(const ApiRequest& req, Service& s);   // {id}
ApiResponse get_edges(const ApiRequest& req, Service& s);
ApiResponse get_edge(const ApiRequest& req, Service& s); // {id}
ApiResponse post_edge(const ApiRequest& req, Service& s);
ApiResponse put_edge(const ApiRequest& req, Service& s);        // {id}
ApiResponse delete_edge(const ApiRequest& req, Service& s);     // {id}
ApiResponse post_edge_drain(const ApiRequest& req, Service& s); // {id}
ApiResponse get_sites(const ApiRequest& req, Service& s);
ApiResponse get_site(const ApiRequest& req, Service& s); // {name}
ApiResponse post_site(const ApiRequest& req, Service& s);
ApiResponse put_site(const ApiRequest& req, Service& s);    // {name}
ApiResponse delete_site(const ApiRequest& req, Service& s); // {name}
ApiResponse get_fleet(const ApiRequest& req, Service& s);
ApiResponse post_fleet(const ApiRequest& req, Service& s);
ApiResponse get_catalog(const ApiRequest& req, Service& s);
ApiResponse post_catalog(const ApiRequest& req, Service& s);
ApiResponse get_popularity(const ApiRequest& req, Service& s);
ApiResponse post_popularity(const ApiRequest& req, Service& s);
ApiResponse post_qoe(const ApiRequest& req, Service& s);
ApiResponse get_keys(const ApiRequest& req, Service& s);
ApiResponse post_key_rotate(const ApiRequest& req, Service& s);
ApiResponse get_events(const ApiRequest& req, Service& s);
ApiResponse get_bgp(const ApiRequest& req, Service& s);
ApiResponse get_bgp_routes(const ApiRequest& req, Service& s);
ApiResponse get_play(const ApiRequest& req, Service& s);          // {name}: <title>.mpd|.m3u8
ApiResponse get_play_steering(const ApiRequest& req, Service& s); // {title}
ApiResponse get_watch_page(const ApiRequest& req, Service& s);
ApiResponse get_watch_asset(const ApiRequest& req, Service& s); // {name}

// Body limits decided from the head, before a byte of the body is read.
inline constexpr size_t kAdminBodyBytes = 64u << 20; // fleet and catalog imports
inline constexpr size_t kPublicBodyBytes = 1u << 20;

} // namespace vcdn::control
