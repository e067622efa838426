// The fleet, catalog and popularity resources, called directly.
#include "api_fixture.h"

namespace vcdn::control::test {
namespace {

using http::Method;
using nlohmann::json;

TEST_F(ApiTest, FleetIsAdminOnlyLeavesTokensOutAndIsReplacedWhole) {
    EXPECT_EQ(get_fleet(request(Method::kGet, "/api/v1/fleet"), *svc_).status, 401);
    ApiResponse r = get_fleet(request(Method::kGet, "/api/v1/fleet", {}, {}, "admin"), *svc_);
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.body.find("edge-secret-0123-a1"), std::string::npos) << "tokens are left out";
    json f = body(r);
    f["site"][0]["edge"][0]["token"] = "edge-secret-0123-a1";
    f["site"][0]["edge"][1]["token"] = "edge-secret-0123-a2";
    f["site"][1]["edge"][0]["token"] = "edge-secret-0123-x1";
    f["site"][1]["edge"].push_back(
        {{"id", "x2"}, {"url", "http://127.0.0.1:8092"}, {"token", "edge-secret-0123-x2"}});
    r = post_fleet(request(Method::kPost, "/api/v1/fleet", {}, f.dump(), "admin"), *svc_);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(body(r)["edges"], 4);
    json dup = f;
    dup["site"][1]["edge"][1]["id"] = "a1";
    r = post_fleet(request(Method::kPost, "/api/v1/fleet", {}, dup.dump(), "admin"), *svc_);
    EXPECT_EQ(code(r), "bad-fleet");
    EXPECT_EQ(svc_->current()->topo->edges.size(), 4u) << "the refused fleet changed nothing";
    EXPECT_EQ(code(post_fleet(request(Method::kPost, "/api/v1/fleet", {}, "{x", "admin"), *svc_)),
              "bad-json");
}

TEST_F(ApiTest, CatalogCountListAndImport) {
    EXPECT_EQ(post_catalog(request(Method::kPost, "/api/v1/catalog", {}, kCatalog), *svc_).status,
              401);
    import_catalog();
    EXPECT_EQ(
        body(get_catalog(request(Method::kGet, "/api/v1/catalog", {}, {}, "read"), *svc_))["files"],
        2);
    json list =
        body(get_catalog(request(Method::kGet, "/api/v1/catalog", "list=1", {}, "read"), *svc_));
    ASSERT_EQ(list["list"].size(), 2u);
    EXPECT_EQ(list["list"][1]["bitrate_kbps"], 750);
    EXPECT_EQ(code(post_catalog(request(Method::kPost, "/api/v1/catalog", {},
                                        R"({"files":[{"path":"rel.mp4","size":1,"sha256":"x"}]})",
                                        "admin"),
                                *svc_)),
              "bad-catalog");
}

TEST_F(ApiTest, PopularityFeedAndGroupDemand) {
    import_catalog();
    const std::string feed = R"({"files":[{"path":"/t/1/v-235k.mp4","popularity":5}]})";
    EXPECT_EQ(post_popularity(request(Method::kPost, "/api/v1/popularity", {}, feed), *svc_).status,
              401);
    ApiResponse r =
        post_popularity(request(Method::kPost, "/api/v1/popularity", {}, feed, "admin"), *svc_);
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(
        code(post_popularity(request(Method::kPost, "/api/v1/popularity", {},
                                     R"({"files":[{"path":"/nope","popularity":1}]})", "admin"),
                             *svc_)),
        "bad-popularity");
    EXPECT_EQ(code(post_popularity(
                  request(Method::kPost, "/api/v1/popularity", {},
                          R"({"files":[{"path":"/t/1/v-235k.mp4","popularity":-1}]})", "admin"),
                  *svc_)),
              "bad-popularity");
    EXPECT_EQ(
        code(get_popularity(request(Method::kGet, "/api/v1/popularity", {}, {}, "admin"), *svc_)),
        "missing-group");
    r = get_popularity(request(Method::kGet, "/api/v1/popularity", "group=isp-a", {}, "admin"),
                       *svc_);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(body(r)["group"], "isp-a");
}

} // namespace
} // namespace vcdn::control::test
