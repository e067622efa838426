// POST /api/v1/edges/{id}/heartbeat and GET /api/v1/edges/{id}/manifest, called directly.
#include "api_fixture.h"
#include <thread>

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

TEST_F(ApiTest, AnEdgeThatBeatsTooFastIsRefusedBeforeItsBodyIsRead) {
    auto router = make_router(*svc_, kEdge);
    wire::Heartbeat h;
    h.report.healthy = true;
    h.inventory = wire::InventoryChanges{wire::inventory_digest({}), true, {}, {}};
    const std::string body = wire::encode(h);
    auto send = [&](const std::string& edge) {
        return router->dispatch(request(http::Method::kPost, "/api/v1/edges/" + edge + "/heartbeat",
                                        {}, body, "edge-secret-0123-" + edge));
    };
    // A burst passes (a restart, retries); a flood is 429 with Retry-After.
    int ok = 0, refused = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 30; ++i) {
        ApiResponse r = send("a1");
        if (r.status == 200) ++ok;
        if (r.status == 429) {
            ++refused;
            EXPECT_EQ(code(r), "too-fast");
            EXPECT_NE(r.extra_headers.find("Retry-After:"), std::string::npos);
        }
    }
    // Ten at once, then four a second: a machine slow enough to take longer over the thirty
    // earns more.
    const double took_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_GE(ok, 10);
    EXPECT_LE(ok, 12 + static_cast<int>(took_s * 4));
    EXPECT_EQ(ok + refused, 30);
    // Another edge has its own allowance.
    EXPECT_EQ(send("a2").status, 200);
    EXPECT_NE(get_metrics(request(http::Method::kGet, "/metrics", {}, {}, "admin"), *svc_)
                  .body.find("vcdn_control_heartbeats_too_fast_total"),
              std::string::npos);
}

TEST_F(ApiTest, AnInventoryBeyondTheCatalogAndAHundredThousandOthersIsRefused) {
    import_catalog();
    svc_->sync_once(); // the view knows the catalog
    std::vector<std::string> many;
    for (int i = 0; i < 100003; ++i)
        many.push_back(fmt::format("/junk/{}.mp4", i));
    ApiResponse r = beat("a1", many);
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_NE(r.body.find("inventory: 100003 paths, more than the catalog's 2 files and 100000 "
                          "others"),
              std::string::npos)
        << r.body;
    many.resize(100002); // the catalog's 2 more are allowed
    EXPECT_EQ(beat("a1", many).status, 200);
}

TEST_F(ApiTest, InventoryChangesInAFloodRebuildTheTopologyAtABoundedRate) {
    import_catalog();
    svc_->sync_once();
    const uint64_t deferred0 = svc_->rebuilds_deferred.load();
    // Twenty inventory changes in a row, each followed by the sync loop's round: a burst of
    // rebuilds, then they wait (one a second) instead of one per heartbeat.
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 20; ++i) {
        std::vector<std::string> files = {"/t/1/v-235k.mp4"};
        if (i % 2) files.push_back("/t/1/v-750k.mp4");
        ASSERT_EQ(beat(i % 2 ? "a1" : "a2", files).status, 200);
        svc_->sync_once(true);
    }
    // A burst of four, one more a second (and two to spare): a slow machine earns more.
    const int took_s = static_cast<int>(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    EXPECT_GE(svc_->rebuilds_deferred.load() - deferred0,
              static_cast<uint64_t>(std::max(0, 14 - took_s)));
    // The last change is still published, a moment later.
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    svc_->sync_once(true);
    auto v = svc_->current();
    EXPECT_EQ(v->generation, *svc_->store->generation());
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
    const std::string newer = R"({"schema":4,"healthy":true,"load":{},"inventory":{"digest":""},
                                  "gpu":{"temp":40}})";
    r = post_heartbeat(
        with(request(Method::kPost, "/api/v1/edges/a1/heartbeat", {}, newer, "edge-secret-0123-a1"),
             "a1"),
        *svc_);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(body(r)["schema"], wire::kHeartbeatSchema);
}

// Demand is what edges served (bytes over the file's size), for the group of the clients'
// own site by their network, else the serving edge's site; never what steering answered (the
// review's attack: 200 anonymous answers with a chosen client= added 200 views).
TEST_F(ApiTest, DemandComesFromWhatEdgesServedNeverFromSteering) {
    import_catalog();
    ASSERT_EQ(beat("a1", {"/t/1/v-235k.mp4"}).status, 200);
    ASSERT_EQ(beat("x1", {}).status, 200);
    for (int i = 0; i < 20 && svc_->current()->status->at("a1").state != "up"; ++i)
        svc_->sync_once();
    auto today = [&](const std::string& group, const std::string& path) {
        svc_->flush_demand(wall_ms());
        auto rows = svc_->store->demand(group);
        EXPECT_TRUE(rows) << rows.error().message;
        if (rows)
            for (const auto& [p, t, ewma] : *rows)
                if (p == path) return t;
        return 0.0;
    };
    for (int i = 0; i < 200; ++i)
        ASSERT_EQ(get_steer(request(Method::kGet, "/api/v1/steer",
                                    "file=/t/1/v-235k.mp4&client=10.1.9.9"),
                            *svc_)
                      .status,
                  200);
    EXPECT_EQ(today("isp-a", "/t/1/v-235k.mp4"), 0) << "steering answers are not views";

    auto net = [](const char* p) { return *io::IpPrefix::parse(p); };
    // x1 (ix-1) served isp-a's clients three copies of v-235k (1000 bytes), a client outside
    // every prefix one and a half of v-750k (3000 bytes), and a file not in the catalog.
    ASSERT_EQ(beat("x1", {}, true,
                   {wire::Served{"/t/1/v-235k.mp4", net("10.1.7.0/24"), 3000},
                    wire::Served{"/t/1/v-750k.mp4", net("192.0.2.0/24"), 4500},
                    wire::Served{"/t/1/v-750k.mp4", net("2001:db8:1::/48"), 1500},
                    wire::Served{"/not/in/the/catalog.mp4", std::nullopt, 1u << 30}})
                  .status,
              200);
    EXPECT_DOUBLE_EQ(today("isp-a", "/t/1/v-235k.mp4"), 3);
    EXPECT_DOUBLE_EQ(today("ix-1", "/t/1/v-750k.mp4"), 1.5);
    EXPECT_DOUBLE_EQ(today("isp-a", "/t/1/v-750k.mp4"), 0.5) << "IPv6 clients of isp-a";
    EXPECT_EQ(today("ix-1", "/t/1/v-235k.mp4"), 0);
    EXPECT_EQ(svc_->served_foreign_bytes.load(), 1u << 30);
    EXPECT_EQ(svc_->served_bytes.load(), 9000u);

    // a1 (capacity_gbps 10 by default) claims a petabyte: counted as what 10 Gb/s could have
    // sent since its last report of served bytes (×1.25, + 64 MiB), not more. Its first report
    // may cover a minute (edges report every served_interval_ms, not every heartbeat).
    auto claim_petabyte = [&] {
        ASSERT_EQ(beat("a1", {"/t/1/v-235k.mp4"}, true,
                       {wire::Served{"/t/1/v-750k.mp4", net("10.1.7.0/24"), uint64_t{1} << 50}})
                      .status,
                  200);
    };
    auto worth = [](double seconds) {
        return (10e9 / 8 * seconds * 1.25 + double(64u << 20)) / 3000;
    };
    // The second claim is credited with the time since the first was received: the test's
    // clock starts before that, so its bound is never the tighter one.
    const auto t1 = std::chrono::steady_clock::now();
    claim_petabyte();
    const double got = today("isp-a", "/t/1/v-750k.mp4");
    EXPECT_GT(got, worth(59)) << "a first report: a minute's worth";
    EXPECT_LE(got, worth(60) + 0.5 + 1e-3) << "0.5: the IPv6 clients' views above";
    // At once again: what the heartbeat interval (1 s, the least counted) could have sent.
    claim_petabyte();
    const double elapsed_s =
        std::max(1.0, std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count());
    const double again = today("isp-a", "/t/1/v-750k.mp4") - got;
    EXPECT_GT(again, worth(0.9));
    EXPECT_LE(again, worth(elapsed_s) + 1e-3);
    EXPECT_GT(svc_->served_over_capacity_bytes.load(), (uint64_t{1} << 50) - (uint64_t{1} << 40));
    // The counters are on /metrics.
    ApiResponse m = get_metrics(request(Method::kGet, "/metrics", {}, {}, "admin"), *svc_);
    EXPECT_NE(m.body.find("vcdn_control_served_bytes_total{kind=\"foreign\"} 1073741824"),
              std::string::npos)
        << m.body.substr(0, 2000);
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
