// The edges and sites resources, called directly.
#include "api_fixture.h"

namespace vcdn::control::test {
namespace {

using http::Method;
using nlohmann::json;

TEST_F(ApiTest, EdgesListAndOneEdgeWithItsReport) {
    ApiResponse r = get_edges(request(Method::kGet, "/api/v1/edges"), *svc_);
    ASSERT_EQ(r.status, 200);
    ASSERT_EQ(body(r)["edges"].size(), 3u);
    EXPECT_EQ(body(r)["edges"][0]["state"], "unknown");
    ASSERT_EQ(beat("a1", {}).status, 200);
    svc_->sync_once();
    r = get_edge(with(request(Method::kGet, "/api/v1/edges/a1"), "a1"), *svc_);
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(body(r)["build"], "0.1.0+gtest");
    EXPECT_EQ(body(r)["version"], "0.1.0");
    EXPECT_EQ(body(r)["connections"], 10);
    EXPECT_EQ(get_edge(with(request(Method::kGet, "/api/v1/edges/zz"), "zz"), *svc_).status, 404);
}

TEST_F(ApiTest, EdgeChangesNeedTheAdminAndAreValidated) {
    const std::string e =
        R"({"id":"a3","site":"isp-a","url":"http://127.0.0.1:8083","token":"secret-a3"})";
    EXPECT_EQ(post_edge(request(Method::kPost, "/api/v1/edges", {}, e), *svc_).status, 401);
    EXPECT_EQ(post_edge(request(Method::kPost, "/api/v1/edges", {}, e, "wrong"), *svc_).status,
              403);
    ApiResponse r = post_edge(request(Method::kPost, "/api/v1/edges", {}, e, "admin"), *svc_);
    EXPECT_EQ(r.status, 201) << r.body;
    EXPECT_EQ(svc_->current()->fleet->find_site("isp-a")->edges.size(), 3u) << "read your writes";
    EXPECT_EQ(code(post_edge(request(Method::kPost, "/api/v1/edges", {}, e, "admin"), *svc_)),
              "edge-exists");
    EXPECT_EQ(code(post_edge(
                  request(Method::kPost, "/api/v1/edges", {},
                          R"({"id":"n","site":"nowhere","url":"http://h:1","token":"tok12345"})",
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
    ApiResponse r = get_sites(request(Method::kGet, "/api/v1/sites"), *svc_);
    ASSERT_EQ(body(r)["sites"].size(), 2u);
    r = get_site(with(request(Method::kGet, "/api/v1/sites/isp-a"), "isp-a"), *svc_);
    EXPECT_EQ(body(r)["edges"], json({"a1", "a2"}));
    EXPECT_EQ(get_site(with(request(Method::kGet, "/api/v1/sites/zz"), "zz"), *svc_).status, 404);
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
    EXPECT_EQ(body(get_sites(request(Method::kGet, "/api/v1/sites"), *svc_))["sites"].size(), 2u);
}

} // namespace
} // namespace vcdn::control::test
