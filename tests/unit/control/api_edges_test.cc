// The edges and sites resources, called directly.
#include "api_fixture.h"

namespace vcdn::control::test {
namespace {

using http::Method;
using nlohmann::json;

TEST_F(ApiTest, EdgesListAndOneEdgeWithItsReport) {
    ApiResponse r = get_edges(request(Method::kGet, "/api/v1/edges", {}, {}, "read"), *svc_);
    ASSERT_EQ(r.status, 200);
    ASSERT_EQ(body(r)["edges"].size(), 3u);
    EXPECT_EQ(body(r)["edges"][0]["state"], "unknown");
    ASSERT_EQ(beat("a1", {}).status, 200);
    svc_->sync_once();
    r = get_edge(with(request(Method::kGet, "/api/v1/edges/a1", {}, {}, "read"), "a1"), *svc_);
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(body(r)["build"], "0.1.0+gtest");
    EXPECT_EQ(body(r)["version"], "0.1.0");
    EXPECT_EQ(body(r)["connections"], 10);
    EXPECT_EQ(get_edge(with(request(Method::kGet, "/api/v1/edges/zz", {}, {}, "read"), "zz"), *svc_)
                  .status,
              404);
}

TEST_F(ApiTest, EdgeChangesNeedTheAdminAndAreValidated) {
    const std::string e =
        R"({"id":"a3","site":"isp-a","url":"http://127.0.0.1:8083","token":"edge-secret-0123-a3"})";
    EXPECT_EQ(post_edge(request(Method::kPost, "/api/v1/edges", {}, e), *svc_).status, 401);
    EXPECT_EQ(post_edge(request(Method::kPost, "/api/v1/edges", {}, e, "wrong"), *svc_).status,
              403);
    ApiResponse r = post_edge(request(Method::kPost, "/api/v1/edges", {}, e, "admin"), *svc_);
    EXPECT_EQ(r.status, 201) << r.body;
    EXPECT_EQ(svc_->current()->fleet->find_site("isp-a")->edges.size(), 3u) << "read your writes";
    EXPECT_EQ(code(post_edge(request(Method::kPost, "/api/v1/edges", {}, e, "admin"), *svc_)),
              "edge-exists");
    EXPECT_EQ(
        code(post_edge(
            request(
                Method::kPost, "/api/v1/edges", {},
                R"({"id":"n","site":"nowhere","url":"http://h:1","token":"tok-0123456789abcdef"})",
                "admin"),
            *svc_)),
        "unknown-site");
    EXPECT_EQ(
        code(post_edge(
            request(Method::kPost, "/api/v1/edges", {}, R"({"id":"n","oops":1})", "admin"), *svc_)),
        "bad-edge");
    r = put_edge(
        with(request(Method::kPut, "/api/v1/edges/a3", {}, R"({"url":"ftp://h"})", "admin"), "a3"),
        *svc_);
    EXPECT_EQ(r.status, 400) << "an invalid result changes nothing";
    r = put_edge(
        with(request(Method::kPut, "/api/v1/edges/a3", {}, R"({"capacity_gbps":40})", "admin"),
             "a3"),
        *svc_);
    EXPECT_EQ(r.status, 200) << r.body;
    // Numbers are taken exactly: a float where an integer belongs (undefined behaviour to
    // convert), an integer past its type (silently truncated) are refused.
    for (const char* bad :
         {R"({"storage_bytes":1e300})", R"({"storage_bytes":-1})",
          R"({"storage_bytes":18446744073709551616})", R"({"flash_bytes":1.5})"}) {
        r = put_edge(with(request(Method::kPut, "/api/v1/edges/a3", {}, bad, "admin"), "a3"),
                     *svc_);
        EXPECT_EQ(code(r), "bad-edge") << bad << " " << r.body;
        EXPECT_NE(r.body.find("out of range"), std::string::npos) << r.body;
    }
    json f = body(get_fleet(request(Method::kGet, "/api/v1/fleet", {}, {}, "admin"), *svc_));
    f["site"][0]["fill_peer_wait_s"] = 4294967297ull; // would read as 1
    r = post_fleet(request(Method::kPost, "/api/v1/fleet", {}, f.dump(), "admin"), *svc_);
    EXPECT_EQ(code(r), "bad-fleet") << r.body;
    EXPECT_NE(r.body.find("fill_peer_wait_s"), std::string::npos) << r.body;
    EXPECT_EQ(
        put_edge(with(request(Method::kPut, "/api/v1/edges/zz", {}, "{}", "admin"), "zz"), *svc_)
            .status,
        404);
    r = post_edge_drain(
        with(request(Method::kPost, "/api/v1/edges/a3/drain", {}, {}, "admin"), "a3"), *svc_);
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(body(r)["drained"], true);
    EXPECT_TRUE(svc_->current()->drained.at("a3"));
    EXPECT_EQ(code(post_edge_drain(with(request(Method::kPost, "/api/v1/edges/a3/drain", {},
                                                R"({"drained":"yes"})", "admin"),
                                        "a3"),
                                   *svc_)),
              "bad-drain");
    r = delete_edge(with(request(Method::kDelete, "/api/v1/edges/a3", {}, {}, "admin"), "a3"),
                    *svc_);
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(svc_->current()->fleet->find_site("isp-a")->edges.size(), 2u);
    EXPECT_EQ(delete_edge(with(request(Method::kDelete, "/api/v1/edges/a3", {}, {}, "admin"), "a3"),
                          *svc_)
                  .status,
              404);
}

TEST_F(ApiTest, SitesListCreateChangeAndRefuseToDeleteInUse) {
    ApiResponse r = get_sites(request(Method::kGet, "/api/v1/sites", {}, {}, "read"), *svc_);
    ASSERT_EQ(body(r)["sites"].size(), 2u);
    r = get_site(with(request(Method::kGet, "/api/v1/sites/isp-a", {}, {}, "read"), "isp-a"),
                 *svc_);
    EXPECT_EQ(body(r)["edges"], json({"a1", "a2"}));
    EXPECT_EQ(get_site(with(request(Method::kGet, "/api/v1/sites/zz", {}, {}, "read"), "zz"), *svc_)
                  .status,
              404);
    EXPECT_EQ(
        post_site(request(Method::kPost, "/api/v1/sites", {}, R"({"name":"isp-b"})"), *svc_).status,
        401);
    r = post_site(request(Method::kPost, "/api/v1/sites", {},
                          R"({"name":"isp-b","prefixes":["10.2.0.0/16"],"fallback":["ix-1"]})",
                          "admin"),
                  *svc_);
    EXPECT_EQ(r.status, 201) << r.body;
    EXPECT_EQ(
        code(post_site(request(Method::kPost, "/api/v1/sites", {}, R"({"name":"isp-b"})", "admin"),
                       *svc_)),
        "site-exists");
    EXPECT_EQ(code(post_site(request(Method::kPost, "/api/v1/sites", {},
                                     R"({"name":"m","tier":"moon"})", "admin"),
                             *svc_)),
              "bad-site");
    r = put_site(with(request(Method::kPut, "/api/v1/sites/isp-b", {}, R"({"tier":"ix"})", "admin"),
                      "isp-b"),
                 *svc_);
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(code(delete_site(
                  with(request(Method::kDelete, "/api/v1/sites/isp-a", {}, {}, "admin"), "isp-a"),
                  *svc_)),
              "site-has-edges");
    EXPECT_EQ(
        code(delete_site(
            with(request(Method::kDelete, "/api/v1/sites/ix-1", {}, {}, "admin"), "ix-1"), *svc_)),
        "site-has-edges");
    EXPECT_EQ(
        delete_site(with(request(Method::kDelete, "/api/v1/sites/isp-b", {}, {}, "admin"), "isp-b"),
                    *svc_)
            .status,
        200);
    EXPECT_EQ(
        body(get_sites(request(Method::kGet, "/api/v1/sites", {}, {}, "read"), *svc_))["sites"]
            .size(),
        2u);
}

TEST_F(ApiTest, ReadsNeedAReadOrAdminTokenAndWritesTheAdmins) {
    EXPECT_EQ(get_edges(request(Method::kGet, "/api/v1/edges"), *svc_).status, 401);
    EXPECT_EQ(get_edges(request(Method::kGet, "/api/v1/edges", {}, {}, "admin"), *svc_).status,
              200);
    EXPECT_EQ(get_edges(request(Method::kGet, "/api/v1/edges", {}, {}, "read"), *svc_).status, 200);
    for (auto* h : {get_sites, get_catalog, get_events, get_bgp, get_dashboard, get_metrics})
        EXPECT_EQ(h(request(Method::kGet, "/x"), *svc_).status, 401);
    // The read token writes nothing.
    ApiResponse r =
        post_site(request(Method::kPost, "/api/v1/sites", {}, R"({"name":"s2"})", "read"), *svc_);
    EXPECT_EQ(r.status, 403);
    EXPECT_EQ(get_fleet(request(Method::kGet, "/api/v1/fleet", {}, {}, "read"), *svc_).status, 403)
        << "the fleet (tokens' hashes, the origin's keys) is the admin's";
    // A valid read token on a write is not a guess: many of them do not lock the address out.
    for (uint32_t i = 0; i < AuthLimiter::kMaxFailures + 2; ++i)
        EXPECT_EQ(post_site(request(Method::kPost, "/api/v1/sites", {}, R"({"name":"s2"})", "read"),
                            *svc_)
                      .status,
                  403);
    EXPECT_EQ(get_edges(request(Method::kGet, "/api/v1/edges", {}, {}, "read"), *svc_).status, 200);
}

TEST_F(ApiTest, AnAddressThatKeepsGuessingTokensIsRefusedForAWhile) {
    for (uint32_t i = 0; i < AuthLimiter::kMaxFailures; ++i)
        EXPECT_EQ(
            get_edges(request(Method::kGet, "/api/v1/edges", {}, {}, "guess-guess-guess"), *svc_)
                .status,
            403);
    ApiResponse r = get_edges(request(Method::kGet, "/api/v1/edges", {}, {}, "read"), *svc_);
    EXPECT_EQ(r.status, 429) << "even the right token, from that address, for a while";
    EXPECT_NE(r.extra_headers.find("Retry-After:"), std::string::npos);
    EXPECT_EQ(code(r), "too-many-failures");
    // Another address is not affected.
    ApiRequest other = request(Method::kGet, "/api/v1/edges", {}, {}, "read");
    other.client = *io::IpAddress::parse("10.9.9.9");
    EXPECT_EQ(get_edges(other, *svc_).status, 200);
    // Edge tokens count too.
    EXPECT_EQ(beat("a1", {}).status, 429);
}

TEST_F(ApiTest, AnIpv6GuesserIsCountedByItsSlash64) {
    // One subscriber holds a whole /64: changing the address within it does not reset the count.
    for (uint32_t i = 0; i < AuthLimiter::kMaxFailures; ++i) {
        ApiRequest q = request(Method::kGet, "/api/v1/edges", {}, {}, "guess-guess-guess");
        q.client = *io::IpAddress::parse(fmt::format("2001:db8:7:8::{:x}", i + 1));
        EXPECT_EQ(get_edges(q, *svc_).status, 403);
    }
    ApiRequest same = request(Method::kGet, "/api/v1/edges", {}, {}, "read");
    same.client = *io::IpAddress::parse("2001:db8:7:8:ffff::1");
    EXPECT_EQ(get_edges(same, *svc_).status, 429);
    ApiRequest next = request(Method::kGet, "/api/v1/edges", {}, {}, "read");
    next.client = *io::IpAddress::parse("2001:db8:7:9::1");
    EXPECT_EQ(get_edges(next, *svc_).status, 200) << "the neighbouring /64 is someone else";
    const std::string metrics =
        get_metrics(request(Method::kGet, "/metrics", {}, {}, "admin"), *svc_).body;
    EXPECT_NE(
        metrics.find(fmt::format("vcdn_control_auth_failures_total {}", AuthLimiter::kMaxFailures)),
        std::string::npos)
        << metrics;
    EXPECT_NE(metrics.find("vcdn_control_auth_refusals_total 1"), std::string::npos);
}

TEST(AuthLimiter, AFullTableCostsConstantWorkPerFailureAndStaysBounded) {
    AuthLimiter l;
    // Twice the table's size in distinct addresses within one window: the table is emptied
    // once it is full of live windows instead of being scanned on every later failure.
    for (uint32_t i = 0; i < 2 * AuthLimiter::kMaxAddresses; ++i) {
        io::IpAddress a;
        a.family = AF_INET;
        a.bytes[0] = 10;
        a.bytes[1] = static_cast<uint8_t>(i >> 16);
        a.bytes[2] = static_cast<uint8_t>(i >> 8);
        a.bytes[3] = static_cast<uint8_t>(i);
        l.failed(a, 1000 + i / 1000);
    }
    EXPECT_EQ(l.failures(), 2 * AuthLimiter::kMaxAddresses);
    EXPECT_GE(l.resets(), 1u);
    EXPECT_LE(l.resets(), 2u);
}

} // namespace
} // namespace vcdn::control::test
