// POST /api/v1/edges/{id}/heartbeat and GET /api/v1/edges/{id}/manifest, called directly.
#include "api_fixture.h"

namespace vcdn::control::test {
namespace {

using http::Method;
using nlohmann::json;

TEST_F(ApiTest, HeartbeatStoresTheReportAndAnswersWithStateKeysAndManifest) {
    import_catalog();
    ApiResponse r = beat("a1", {"/t/1/v-235k.mp4"});
    ASSERT_EQ(r.status, 200) << r.body;
    auto reply = wire::decode_heartbeat_reply(r.body);
    ASSERT_TRUE(reply) << reply.error().message;
    EXPECT_EQ(reply->schema, wire::kHeartbeatSchema);
    EXPECT_TRUE(reply->inventory_ok);
    EXPECT_EQ(reply->keys.size(), 1u) << "the first signing key";
    EXPECT_EQ(reply->heartbeat_interval_ms, cfg_.health.heartbeat_interval_ms);
    ASSERT_TRUE(reply->manifest) << "a1 has storage: it gets a manifest";
    EXPECT_GT(reply->manifest->version, 0);
    EXPECT_EQ(svc_->heartbeats.load(), 1u);
    svc_->sync_once();
    const EdgeStatus& st = svc_->current()->status->at("a1");
    EXPECT_EQ(st.report.build, "0.1.0+gtest");
    EXPECT_EQ(st.report.load.connections, 10u);
    EXPECT_EQ(st.files, 1u);
}

TEST_F(ApiTest, HeartbeatRefusalsNameWhatIsWrong) {
    auto hb = [&](const std::string& edge, const std::string& body, const std::string& token) {
        return post_heartbeat(
            with(request(Method::kPost, "/api/v1/edges/" + edge + "/heartbeat", {}, body, token),
                 edge),
            *svc_);
    };
    const std::string ok = R"({"healthy":true,"load":{},"inventory":{"digest":""}})";
    EXPECT_EQ(hb("zz", ok, "edge-secret-0123-zz").status, 404);
    EXPECT_EQ(hb("a1", ok, "").status, 401);
    EXPECT_EQ(hb("a1", ok, "edge-secret-0123-a2").status, 403) << "another edge's token";
    EXPECT_EQ(hb("a1", ok, "admin").status, 403) << "the admin token is not an edge's";
    ApiResponse r =
        hb("a1", R"({"healthy":true,"load":{"gbps_out":"x"},"inventory":{"digest":""}})",
           "edge-secret-0123-a1");
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(code(r), "bad-heartbeat");
    EXPECT_NE(r.body.find("load.gbps_out: expected a number"), std::string::npos) << r.body;
    EXPECT_EQ(code(hb("a1", "{nope", "edge-secret-0123-a1")), "bad-json");
    EXPECT_EQ(svc_->heartbeat_errors.load(), 6u);
    EXPECT_EQ(svc_->heartbeats.load(), 0u);
}

TEST_F(ApiTest, HeartbeatOfAnOlderEdgeIsAnsweredInItsSchema) {
    const std::string old = R"({"healthy":true,"reason":"ok","load":{"gbps_out":1},
                                "version":"0.0.9","inventory":{"digest":""}})";
    ApiResponse r = post_heartbeat(
        with(request(Method::kPost, "/api/v1/edges/a1/heartbeat", {}, old, "edge-secret-0123-a1"),
             "a1"),
        *svc_);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(body(r)["schema"], 1);
    EXPECT_TRUE(wire::decode_heartbeat_reply(r.body, 1)) << "what a schema-1 edge can read";
    // One newer, with a field this control plane does not know.
    const std::string newer = R"({"schema":3,"healthy":true,"load":{},"inventory":{"digest":""},
                                  "gpu":{"temp":40}})";
    r = post_heartbeat(
        with(request(Method::kPost, "/api/v1/edges/a1/heartbeat", {}, newer, "edge-secret-0123-a1"),
             "a1"),
        *svc_);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(body(r)["schema"], wire::kHeartbeatSchema);
}

TEST_F(ApiTest, ManifestNeedsTheEdgesTokenAndACatalog) {
    auto get = [&](const std::string& edge, const std::string& token) {
        return get_manifest(
            with(request(Method::kGet, "/api/v1/edges/" + edge + "/manifest", {}, {}, token), edge),
            *svc_);
    };
    EXPECT_EQ(code(get("a1", "edge-secret-0123-a1")), "no-manifest") << "no catalog yet";
    import_catalog();
    ApiResponse r = get("a1", "edge-secret-0123-a1");
    ASSERT_EQ(r.status, 200) << r.body;
    auto m = wire::decode_manifest(r.body);
    ASSERT_TRUE(m) << m.error().message;
    EXPECT_EQ(m->edge, "a1");
    EXPECT_GT(m->signed_until, 0);
    // The origin has no key in this fleet: its source goes unsigned; a peer's source is signed
    // with that peer's own key (a2 holds it; a1 does not).
    for (const auto& f : m->files)
        for (const auto& s : f.sources)
            EXPECT_EQ(s.query.empty(), s.kind == wire::SourceKind::kOrigin) << s.url;
    EXPECT_EQ(get("a1", "admin").status, 200);
    EXPECT_EQ(get("a1", "edge-secret-0123-a2").status, 403);
    EXPECT_EQ(get("a1", "").status, 401);
    EXPECT_EQ(code(get("x1", "edge-secret-0123-x1")), "no-manifest") << "x1 has no storage_bytes";
    EXPECT_EQ(get("nope", "admin").status, 404);
}

} // namespace
} // namespace vcdn::control::test
