// The public resources: steering, QoE, events, BGP, the dashboard and /metrics, called directly.
#include <ctime>
#include <map>

#include <vcdn/auth/session_token.h>

#include "api_fixture.h"

namespace vcdn::control::test {
namespace {

using http::Method;
using nlohmann::json;

TEST_F(ApiTest, SteeringRanksHoldersAndSigns) {
    import_catalog();
    ASSERT_EQ(beat("a1", {"/t/1/v-235k.mp4"}).status, 200);
    ASSERT_EQ(beat("a2", {"/t/1/v-235k.mp4"}).status, 200);
    for (int i = 0; i < 20 && svc_->current()->status->at("a2").state != "up"; ++i)
        svc_->sync_once();
    ApiResponse r = get_steer(
        request(Method::kGet, "/api/v1/steer", "file=/t/1/v-235k.mp4&client=10.1.9.9"), *svc_);
    ASSERT_EQ(r.status, 200) << r.body;
    json j = body(r);
    EXPECT_EQ(j["client"], "10.1.9.9");
    ASSERT_EQ(j["urls"].size(), 3u) << r.body; // a1, a2, the origin last
    EXPECT_EQ(j["urls"][0]["site"], "isp-a");
    // Each edge's URL is signed with that edge's own key: the signatures differ, and the
    // origin, which has no key in this fleet, gets the bare path.
    const std::string u0 = j["urls"][0]["url"], u1 = j["urls"][1]["url"], u2 = j["urls"][2]["url"];
    EXPECT_NE(u0.find("?e="), std::string::npos);
    EXPECT_NE(u0.substr(u0.find("&s=")), u1.substr(u1.find("&s=")));
    EXPECT_EQ(u2, "http://127.0.0.1:8000/t/1/v-235k.mp4");
    // The requester's own address when no client is given.
    EXPECT_EQ(body(get_steer(request(Method::kGet, "/api/v1/steer", "file=/t/1/v-235k.mp4"),
                             *svc_))["client"],
              "10.1.2.3");
    EXPECT_EQ(code(get_steer(request(Method::kGet, "/api/v1/steer", "client=10.1.2.3"), *svc_)),
              "missing-file");
    EXPECT_EQ(code(get_steer(request(Method::kGet, "/api/v1/steer", "file=/t/9.mp4"), *svc_)),
              "unknown-file");
    EXPECT_EQ(
        code(get_steer(request(Method::kGet, "/api/v1/steer", "file=/t/1/v-235k.mp4&client=10.1"),
                       *svc_)),
        "bad-client");
    EXPECT_EQ(svc_->steer_requests.load(), 5u);
    EXPECT_EQ(svc_->steer_errors.load(), 3u);
    EXPECT_EQ(svc_->steer_stats[0]->total, 2u);
}

// A steering request that finds no edge is a 503 with the reason, counted by reason, never an
// empty 200 (with an origin that serves no players, so that the list can be empty).
TEST_F(ApiTest, SteeringThatFindsNoEdgeSaysWhy) {
    std::string fleet = kFleetToml;
    const std::string origin = "url = \"http://127.0.0.1:8000\"";
    fleet.replace(fleet.find(origin), origin.size(), origin + "\nplayers = false");
    std::FILE* f = std::fopen((dir_.path() + "/fleet.toml").c_str(), "w");
    ASSERT_TRUE(f);
    std::fputs(fleet.c_str(), f);
    std::fclose(f);
    svc_.reset();
    auto s = Service::open(cfg_);
    ASSERT_TRUE(s) << s.error().message;
    svc_ = std::move(*s);
    import_catalog();
    ASSERT_EQ(beat("a1", {"/t/1/v-235k.mp4"}).status, 200);
    for (int i = 0; i < 20 && svc_->current()->status->at("a1").state != "up"; ++i)
        svc_->sync_once();
    auto steer = [&](const char* query) {
        return get_steer(request(Method::kGet, "/api/v1/steer", query), *svc_);
    };
    EXPECT_EQ(steer("file=/t/1/v-235k.mp4&client=10.1.9.9").status, 200);
    ApiResponse r = steer("file=/t/1/v-750k.mp4&client=10.1.9.9");
    EXPECT_EQ(r.status, 503);
    EXPECT_EQ(code(r), "not-placed") << r.body;
    r = steer("file=/t/1/v-235k.mp4&client=192.0.2.9"); // a1 serves isp-a's clients only
    EXPECT_EQ(r.status, 503);
    EXPECT_EQ(code(r), "no-site-for-client") << r.body;
    ASSERT_EQ(beat("a1", {"/t/1/v-235k.mp4"}, false).status, 200); // unhealthy: down
    for (int i = 0; i < 20 && svc_->current()->status->at("a1").state != "down"; ++i)
        svc_->sync_once();
    r = steer("file=/t/1/v-235k.mp4&client=10.1.9.9");
    EXPECT_EQ(r.status, 503);
    EXPECT_EQ(code(r), "holders-unavailable") << r.body;
    EXPECT_NE(body(r)["error"]["message"].get<std::string>().find("down, drained or overloaded"),
              std::string::npos);
    // The 302 mode says the same.
    ApiRequest q = request(Method::kGet, "/r/t/1/v-235k.mp4");
    q = with(q, "t/1/v-235k.mp4");
    EXPECT_EQ(code(get_redirect(q, *svc_)), "holders-unavailable");
    EXPECT_EQ(svc_->steer_unserved[0].load(), 1u);
    EXPECT_EQ(svc_->steer_unserved[1].load(), 1u);
    EXPECT_EQ(svc_->steer_unserved[2].load(), 2u);
    const std::string m =
        get_metrics(request(Method::kGet, "/metrics", {}, {}, "read"), *svc_).body;
    EXPECT_NE(m.find("vcdn_control_steer_unserved_total{reason=\"holders-unavailable\"} 2"),
              std::string::npos)
        << m;
    const json d =
        body(get_dashboard(request(Method::kGet, "/api/v1/dashboard", {}, {}, "read"), *svc_));
    EXPECT_EQ(d["steering"]["unserved"]["not-placed"], 1) << d.dump();
}

// By default an edge the fleet gives an https_url (it has a certificate) is steered to over
// HTTPS; https_urls = false keeps the plain url; an edge without one keeps its plain url.
TEST_F(ApiTest, EdgesWithAnHttpsUrlAreSteeredToOverHttpsByDefault) {
    import_catalog();
    ASSERT_EQ(put_edge(with(request(Method::kPut, "/api/v1/edges/a1", {},
                                    R"({"https_url":"https://a1.edge.example:8443"})", "admin"),
                            "a1"),
                       *svc_)
                  .status,
              200);
    ASSERT_EQ(beat("a1", {"/t/1/v-235k.mp4"}).status, 200);
    ASSERT_EQ(beat("a2", {"/t/1/v-235k.mp4"}).status, 200);
    for (int i = 0; i < 20 && svc_->current()->status->at("a2").state != "up"; ++i)
        svc_->sync_once();
    auto urls = [&] {
        std::map<std::string, std::string> by_edge;
        json j = body(get_steer(
            request(Method::kGet, "/api/v1/steer", "file=/t/1/v-235k.mp4&client=10.1.9.9"), *svc_));
        for (const auto& u : j["urls"])
            by_edge[u["edge"]] = u["url"].get<std::string>().substr(0, 30);
        return by_edge;
    };
    ASSERT_TRUE(svc_->cfg.https_urls);
    auto on = urls();
    EXPECT_EQ(on["a1"].substr(0, 30), "https://a1.edge.example:8443/t");
    EXPECT_EQ(on["a2"].substr(0, 25), "http://127.0.0.1:8082/t/1");
    svc_->cfg.https_urls = false;
    EXPECT_EQ(urls()["a1"].substr(0, 25), "http://127.0.0.1:8081/t/1");
}

TEST_F(ApiTest, WithSessionKeysSteeringAnswersOnlyPlayersWithAToken) {
    import_catalog();
    ASSERT_EQ(beat("a1", {"/t/1/v-235k.mp4"}).status, 200);
    for (int i = 0; i < 20 && svc_->current()->status->at("a1").state != "up"; ++i)
        svc_->sync_once();
    auto keys = auth::KeySet::parse("s1 " + std::string(64, 'a') + "\n");
    ASSERT_TRUE(keys);
    svc_->session_keys.store(std::make_shared<const auth::KeySet>(*keys));
    const auth::SigningKey& k = *keys->newest();
    const int64_t now = std::time(nullptr);
    auto steer_as = [&](const std::string& query, const char* from) {
        ApiRequest q = request(Method::kGet, "/api/v1/steer", query);
        q.client = *io::IpAddress::parse(from);
        return get_steer(q, *svc_);
    };
    const std::string file = "file=/t/1/v-235k.mp4";
    // A player without a token, with a forged, expired, too long-lived or someone else's one.
    ApiResponse r = steer_as(file, "203.0.113.7");
    EXPECT_EQ(r.status, 401);
    EXPECT_EQ(code(r), "missing-session");
    const std::string good = auth::make_session_token(k, now + 600);
    std::string forged = good;
    forged.back() = forged.back() == 'A' ? 'B' : 'A';
    struct Bad {
        std::string token, why;
    };
    for (const Bad& b :
         {Bad{forged, "forged"}, Bad{auth::make_session_token(k, now - 3600), "expired"},
          Bad{auth::make_session_token(k, now + 400 * 86400), "too long-lived"},
          Bad{auth::make_session_token(k, now + 600, "198.51.100.1"), "for another client"},
          Bad{"s9~" + std::to_string(now + 600) + "~~AAAA", "unknown key"},
          Bad{"garbage", "malformed"}}) {
        r = steer_as(file + "&session=" + b.token, "203.0.113.7");
        EXPECT_EQ(r.status, 403) << b.why;
        EXPECT_EQ(body(r)["error"]["message"], "session token refused: " + b.why) << r.body;
    }
    EXPECT_EQ(svc_->steer_stats[0]->total, 0u); // nothing refused counted as a view
    // A good token, bound to the player's address or not.
    EXPECT_EQ(steer_as(file + "&session=" + good, "203.0.113.7").status, 200);
    EXPECT_EQ(steer_as(file + "&session=" + auth::make_session_token(k, now + 600, "203.0.113.7"),
                       "203.0.113.7")
                  .status,
              200);
    // A trusted front end (the fixture's default address) needs none.
    EXPECT_EQ(get_steer(request(Method::kGet, "/api/v1/steer", file), *svc_).status, 200);
    EXPECT_EQ(svc_->steer_stats[0]->total, 3u);
    const std::string m =
        get_metrics(request(Method::kGet, "/metrics", {}, {}, "read"), *svc_).body;
    EXPECT_NE(m.find("vcdn_control_steer_session_refused_total{reason=\"missing\"} 1"),
              std::string::npos)
        << m;
    EXPECT_NE(m.find("vcdn_control_steer_session_refused_total{reason=\"forged\"} 1"),
              std::string::npos);
}

TEST_F(ApiTest, ClientIsHonouredOnlyFromATrustedFrontEnd) {
    import_catalog();
    ASSERT_EQ(beat("a1", {"/t/1/v-235k.mp4"}).status, 200);
    for (int i = 0; i < 20 && svc_->current()->status->at("a1").state != "up"; ++i)
        svc_->sync_once();
    // Anyone else naming a client is steered, and counted, by its own address.
    ApiRequest q = request(Method::kGet, "/api/v1/steer", "file=/t/1/v-235k.mp4&client=10.1.9.9");
    q.client = *io::IpAddress::parse("203.0.113.7");
    ApiResponse r = get_steer(q, *svc_);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(body(r)["client"], "203.0.113.7");
    EXPECT_NE(body(r)["urls"][0]["reason"], "prefix 10.1.0.0/16") << r.body;
    EXPECT_EQ(svc_->untrusted_client_params.load(), 1u);
    // The trusted front end's client= is honoured.
    r = get_steer(request(Method::kGet, "/api/v1/steer", "file=/t/1/v-235k.mp4&client=10.1.9.9"),
                  *svc_);
    EXPECT_EQ(body(r)["client"], "10.1.9.9");
    EXPECT_EQ(body(r)["urls"][0]["reason"], "prefix 10.1.0.0/16") << r.body;
}

TEST_F(ApiTest, QoeCountsSamplesOfFleetEdgesOnly) {
    ApiResponse r = post_qoe(
        request(Method::kPost, "/api/v1/qoe", {},
                R"({"samples":[{"edge":"a1","stalls":2},{"edge":"stranger","stalls":9}]})"),
        *svc_);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(body(r)["samples"], 2);
    EXPECT_EQ(svc_->qoe_samples, 1u);
    EXPECT_EQ(svc_->qoe_stalls_by_edge.at("a1"), 2u);
    EXPECT_EQ(svc_->qoe_stalls_by_edge.count("stranger"), 0u);
    EXPECT_EQ(
        code(post_qoe(request(Method::kPost, "/api/v1/qoe", {}, R"({"samples":[{}]})"), *svc_)),
        "bad-qoe");
    EXPECT_EQ(code(post_qoe(request(Method::kPost, "/api/v1/qoe", {}, "[", {}), *svc_)),
              "bad-json");
}

TEST_F(ApiTest, EventsListStateChangesNewestFirst) {
    ASSERT_EQ(beat("a1", {}).status, 200);
    svc_->sync_once();
    ApiResponse r =
        get_events(request(Method::kGet, "/api/v1/events", "edge=a1&limit=5", {}, "read"), *svc_);
    ASSERT_EQ(r.status, 200) << r.body;
    ASSERT_GE(body(r)["events"].size(), 1u);
    EXPECT_EQ(body(r)["events"][0]["edge"], "a1");
    EXPECT_EQ(body(r)["events"][0]["state"], "up");
    EXPECT_EQ(
        code(get_events(request(Method::kGet, "/api/v1/events", "limit=x", {}, "read"), *svc_)),
        "bad-limit");
}

TEST_F(ApiTest, BgpWithoutReportsAndRoutesOfAnEdge) {
    json j = body(get_bgp(request(Method::kGet, "/api/v1/bgp", {}, {}, "read"), *svc_));
    ASSERT_EQ(j["sites"].size(), 2u);
    EXPECT_EQ(j["sites"][0]["bgp"], false);
    EXPECT_EQ(
        code(get_bgp_routes(request(Method::kGet, "/api/v1/bgp/routes", {}, {}, "read"), *svc_)),
        "missing-edge");
    EXPECT_EQ(code(get_bgp_routes(
                  request(Method::kGet, "/api/v1/bgp/routes", "edge=a1", {}, "read"), *svc_)),
              "no-bgp");
    // An edge's routes arrive with a heartbeat.
    wire::Heartbeat h;
    h.inventory.digest = wire::inventory_digest({});
    wire::BgpChanges c;
    c.full = true;
    // Inside isp-a's prefixes (its bgp_allowed by default), outside them, and too short.
    c.diff.upserts = {{*io::IpPrefix::parse("10.1.2.0/24"), wire::RouteAttrs{3, 2, ""}},
                      {*io::IpPrefix::parse("10.1.3.0/24"), wire::RouteAttrs{}},
                      {*io::IpPrefix::parse("10.5.0.0/16"), wire::RouteAttrs{}},
                      {*io::IpPrefix::parse("0.0.0.0/0"), wire::RouteAttrs{}}};
    wire::RouteMap table;
    for (const auto& [p, a] : c.diff.upserts)
        table[p] = a;
    c.digest = wire::digest_hex(wire::table_digest(table));
    h.bgp = c;
    h.report.bgp = wire::BgpStatus{true, "", {}, 1, false};
    ApiResponse r = post_heartbeat(with(request(Method::kPost, "/api/v1/edges/a1/heartbeat", {},
                                                wire::encode(h), "edge-secret-0123-a1"),
                                        "a1"),
                                   *svc_);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(body(r)["bgp"], "ok");
    svc_->sync_once();
    r = get_bgp_routes(request(Method::kGet, "/api/v1/bgp/routes", "edge=a1&limit=10", {}, "read"),
                       *svc_);
    ASSERT_EQ(r.status, 200) << r.body;
    ASSERT_EQ(body(r)["total"], 4); // what the edge reports, as it reports it
    EXPECT_EQ(body(r)["routes"][1]["prefix"], "10.1.2.0/24");
    EXPECT_EQ(body(r)["routes"][1]["med"], 3);
    j = body(get_bgp(request(Method::kGet, "/api/v1/bgp", {}, {}, "read"), *svc_));
    json a = j["sites"][0];
    EXPECT_EQ(a["bgp"], true);
    EXPECT_EQ(a["edges"][0]["connected"], true);
    EXPECT_EQ(a["prefixes"], 2) << a.dump(); // what steers
    ASSERT_EQ(a["refused"], 2);
    std::map<std::string, std::string> why;
    for (const auto& x : a["refusals"])
        why[x["prefix"]] = x["reason"];
    EXPECT_EQ(why["10.5.0.0/16"], "outside the site's bgp_allowed");
    EXPECT_EQ(why["0.0.0.0/0"], "shorter than the minimum length");
    // The site a client's most specific prefix steers to ("-": none).
    auto site_of = [&](const char* client) {
        auto v = svc_->current();
        const auto* e = v->topo->prefixes->lookup(*io::IpAddress::parse(client));
        if (!e) return std::string("-");
        return v->topo->sites[(*v->topo->prefix_sites)[e->value].at(0).site].name;
    };
    EXPECT_EQ(site_of("10.1.3.9"), "isp-a");
    EXPECT_EQ(site_of("10.5.0.1"), "-");
    EXPECT_EQ(site_of("192.0.2.1"), "-");

    // a2 hears only 10.1.2.0/24: a1's 10.1.3.0/24 is a minority's claim (one of two edges),
    // reported and not obeyed.
    wire::RouteMap t2;
    t2[*io::IpPrefix::parse("10.1.2.0/24")] = wire::RouteAttrs{};
    wire::BgpChanges c2;
    c2.full = true;
    c2.diff = wire::diff({}, t2, 100);
    c2.digest = wire::digest_hex(wire::table_digest(t2));
    h.bgp = c2;
    r = post_heartbeat(with(request(Method::kPost, "/api/v1/edges/a2/heartbeat", {},
                                    wire::encode(h), "edge-secret-0123-a2"),
                            "a2"),
                       *svc_);
    ASSERT_EQ(r.status, 200) << r.body;
    svc_->sync_once();
    a = body(get_bgp(request(Method::kGet, "/api/v1/bgp", {}, {}, "read"), *svc_))["sites"][0];
    EXPECT_EQ(a["heard"], 2) << a.dump();
    EXPECT_EQ(a["prefixes"], 1);
    EXPECT_EQ(a["minority"], 1);
    ASSERT_EQ(a["differences"].size(), 1u);
    EXPECT_EQ(a["differences"][0]["prefix"], "10.1.3.0/24");
    EXPECT_EQ(site_of("10.1.3.9"), "-");
    EXPECT_EQ(site_of("10.1.2.9"), "isp-a");
}

// A route outside the site's prefixes steers when its origin AS is one of the site's
// bgp_allowed_asns (an ISP's customers' space), never when shorter than the minimum length,
// never without an origin; the list survives the database.
TEST_F(ApiTest, BgpRoutesFromTheSitesAsnsAreAcceptedOutsideItsPrefixes) {
    json f = body(get_fleet(request(Method::kGet, "/api/v1/fleet", {}, {}, "admin"), *svc_));
    f["site"][0]["edge"][0]["token"] = "edge-secret-0123-a1";
    f["site"][0]["edge"][1]["token"] = "edge-secret-0123-a2";
    f["site"][1]["edge"][0]["token"] = "edge-secret-0123-x1";
    json bad = f;
    bad["site"][0]["bgp_allowed_asns"] = {65009, 0};
    EXPECT_EQ(
        code(post_fleet(request(Method::kPost, "/api/v1/fleet", {}, bad.dump(), "admin"), *svc_)),
        "bad-fleet");
    f["site"][0]["bgp_allowed_asns"] = {65100, 65009};
    ApiResponse r =
        post_fleet(request(Method::kPost, "/api/v1/fleet", {}, f.dump(), "admin"), *svc_);
    ASSERT_EQ(r.status, 200) << r.body;
    // Reopened from the database (no fleet file to re-read), the service still has the ASNs.
    svc_.reset();
    cfg_.fleet.clear();
    auto s = Service::open(cfg_);
    ASSERT_TRUE(s) << s.error().message;
    svc_ = std::move(*s);
    json back = body(get_fleet(request(Method::kGet, "/api/v1/fleet", {}, {}, "admin"), *svc_));
    EXPECT_EQ(back["site"][0]["bgp_allowed_asns"], json({65100, 65009})) << back.dump();

    wire::RouteMap table;
    auto route = [&](const char* p, uint32_t origin) {
        wire::RouteAttrs a;
        a.path_len = 2;
        a.origin_as = origin;
        table[*io::IpPrefix::parse(p)] = a;
    };
    route("10.1.2.0/24", 65001);  // inside the site's prefixes: any origin
    route("10.77.0.0/16", 65009); // outside them, from an allowed AS
    route("10.78.0.0/16", 65010); // outside them, from another AS
    route("10.79.0.0/16", 0);     // outside them, no origin (the path ends in a set)
    route("10.0.0.0/7", 65009);   // an allowed AS, but shorter than the minimum length
    wire::Heartbeat h;
    h.inventory.digest = wire::inventory_digest({});
    wire::BgpChanges c;
    c.full = true;
    c.diff = wire::diff({}, table, 100);
    c.digest = wire::digest_hex(wire::table_digest(table));
    h.bgp = c;
    h.report.bgp = wire::BgpStatus{true, "", {}, 1, false};
    r = post_heartbeat(with(request(Method::kPost, "/api/v1/edges/a1/heartbeat", {},
                                    wire::encode(h), "edge-secret-0123-a1"),
                            "a1"),
                       *svc_);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(body(r)["bgp"], "ok") << "the digest covers the origin on both ends";
    svc_->sync_once();
    r = get_bgp_routes(request(Method::kGet, "/api/v1/bgp/routes", "edge=a1", {}, "read"), *svc_);
    ASSERT_EQ(r.status, 200) << r.body;
    const json routes = body(r)["routes"]; // a named copy: the loop must not outlive body()'s
    ASSERT_EQ(routes.size(), 5u) << r.body;
    std::map<std::string, uint32_t> origin;
    for (const auto& x : routes)
        origin[x["prefix"].get<std::string>()] = x["origin_as"].get<uint32_t>();
    EXPECT_EQ(origin["10.77.0.0/16"], 65009u);
    EXPECT_EQ(origin["10.79.0.0/16"], 0u);
    json a = body(get_bgp(request(Method::kGet, "/api/v1/bgp", {}, {}, "read"), *svc_))["sites"][0];
    EXPECT_EQ(a["prefixes"], 2) << a.dump();
    ASSERT_EQ(a["refused"], 3);
    std::map<std::string, std::string> why;
    for (const auto& x : a["refusals"])
        why[x["prefix"]] = x["reason"];
    EXPECT_EQ(why["10.78.0.0/16"],
              "outside the site's bgp_allowed, from an AS not in bgp_allowed_asns");
    EXPECT_EQ(why["10.79.0.0/16"],
              "outside the site's bgp_allowed, from an AS not in bgp_allowed_asns");
    EXPECT_EQ(why["10.0.0.0/7"], "shorter than the minimum length");
    auto v = svc_->current();
    auto site_of = [&](const char* client) {
        const auto* e = v->topo->prefixes->lookup(*io::IpAddress::parse(client));
        if (!e) return std::string("-");
        return v->topo->sites[(*v->topo->prefix_sites)[e->value].at(0).site].name;
    };
    EXPECT_EQ(site_of("10.77.1.1"), "isp-a");
    EXPECT_EQ(site_of("10.78.1.1"), "-");
    EXPECT_EQ(site_of("10.79.1.1"), "-");
    EXPECT_EQ(site_of("10.1.2.9"), "isp-a");
}

TEST_F(ApiTest, DashboardPageDataHealthAndMetrics) {
    ApiResponse page = get_dashboard_page(request(Method::kGet, "/"), *svc_);
    EXPECT_EQ(page.content_type, "text/html; charset=utf-8");
    EXPECT_NE(page.body.find("<html"), std::string::npos);
    EXPECT_EQ(get_healthz(request(Method::kGet, "/healthz"), *svc_).body, "ok\n");
    ASSERT_EQ(beat("a1", {}).status, 200);
    svc_->sync_once();
    json d = body(get_dashboard(request(Method::kGet, "/api/v1/dashboard", {}, {}, "read"), *svc_));
    ASSERT_EQ(d["sites"].size(), 2u);
    EXPECT_EQ(d["sites"][0]["edges"][0]["id"], "a1");
    EXPECT_EQ(d["sites"][0]["edges"][0]["history"].size(), 1u);
    std::string m = get_metrics(request(Method::kGet, "/metrics", {}, {}, "read"), *svc_).body;
    EXPECT_NE(m.find("vcdn_control_heartbeats_total 1\n"), std::string::npos) << m;
    EXPECT_NE(m.find("vcdn_control_edge_up{edge=\"a1\"} 1\n"), std::string::npos) << m;
    EXPECT_NE(m.find("# TYPE vcdn_control_catalog_files gauge"), std::string::npos);
}

TEST_F(ApiTest, KeysListAndRotate) {
    EXPECT_EQ(get_keys(request(Method::kGet, "/api/v1/keys"), *svc_).status, 401);
    json k = body(get_keys(request(Method::kGet, "/api/v1/keys", {}, {}, "admin"), *svc_));
    ASSERT_EQ(k["keys"].size(), 1u);
    EXPECT_EQ(k["keys"][0]["signing"], true);
    ApiResponse r = post_key_rotate(
        request(Method::kPost, "/api/v1/keys/rotate", {}, R"({"id":"k-two"})", "admin"), *svc_);
    ASSERT_EQ(r.status, 201) << r.body;
    EXPECT_EQ(body(r)["signing"], "k-two");
    EXPECT_EQ(code(post_key_rotate(
                  request(Method::kPost, "/api/v1/keys/rotate", {}, R"({"id":"k-two"})", "admin"),
                  *svc_)),
              "key-exists");
    EXPECT_EQ(code(post_key_rotate(
                  request(Method::kPost, "/api/v1/keys/rotate", {}, R"({"id":"bad id!"})", "admin"),
                  *svc_)),
              "bad-key");
    EXPECT_EQ(code(post_key_rotate(request(Method::kPost, "/api/v1/keys/rotate", {},
                                           R"({"secret_hex":"00"})", "admin"),
                                   *svc_)),
              "bad-key");
    EXPECT_EQ(body(get_keys(request(Method::kGet, "/api/v1/keys", {}, {}, "admin"), *svc_))["keys"]
                  .size(),
              2u);
    // A third would retire the first, whose URLs (an hour, fill URLs two days) are still valid.
    r = post_key_rotate(
        request(Method::kPost, "/api/v1/keys/rotate", {}, R"({"id":"k-three"})", "admin"), *svc_);
    EXPECT_EQ(r.status, 409);
    EXPECT_EQ(code(r), "key-in-use") << r.body;
    r = post_key_rotate(
        request(Method::kPost, "/api/v1/keys/rotate", "force=1", R"({"id":"k-three"})", "admin"),
        *svc_);
    ASSERT_EQ(r.status, 201) << r.body;
    EXPECT_EQ(body(r)["retired"].size(), 1u);
}

TEST_F(ApiTest, TheRouterPutsEveryRouteInPlace) {
    auto router = make_router(*svc_);
    auto via = [&](Method m, const std::string& path, const std::string& query = {},
                   const std::string& token = {}) {
        return router->dispatch(request(m, path, query, {}, token));
    };
    EXPECT_EQ(via(Method::kGet, "/healthz").status, 200);
    EXPECT_EQ(via(Method::kGet, "/api/v1/edges/a1", {}, "read").status, 200);
    EXPECT_EQ(via(Method::kGet, "/api/v1/edges/a1").status, 401) << "the fleet is not public";
    EXPECT_EQ(via(Method::kGet, "/api/v1/edges/a1/manifest", {}, "edge-secret-0123-a1").status, 404)
        << "routed to the manifest (none yet), not to the edge";
    EXPECT_EQ(via(Method::kDelete, "/api/v1/steer").status, 405);
    EXPECT_EQ(via(Method::kGet, "/api/v1/nothing").status, 404);
    EXPECT_EQ(code(via(Method::kGet, "/api/v1/")), "not-found");
}

} // namespace
} // namespace vcdn::control::test
