#include <gtest/gtest.h>
#include <sys/stat.h>

#include <vcdn/control/store.h>

#include "temp_dir.h"

namespace vcdn::control {
namespace {

Fleet two_sites() {
    Fleet f;
    f.origin_url = "http://127.0.0.1:8000";
    SiteSpec a;
    a.name = "isp-a";
    a.prefixes = {"10.1.0.0/16"};
    a.edges.push_back(EdgeSpec{
        "a1", "http://127.0.0.1:8081", "", {token_hash("edge-secret-0123-a1")}, 1000, 300, 10});
    a.edges.push_back(EdgeSpec{
        "a2", "http://127.0.0.1:8082", "", {token_hash("edge-secret-0123-a2")}, 1000, 0, 10});
    SiteSpec x;
    x.name = "ix-1";
    x.tier = Tier::kIx;
    x.edges.push_back(EdgeSpec{
        "x1", "http://127.0.0.1:8091", "", {token_hash("edge-secret-0123-x1")}, 1000, 0, 10});
    f.sites = {a, x};
    return f;
}

class StoreTest : public ::testing::Test {
protected:
    void SetUp() override {
        auto s = Store::open("sqlite:" + dir_.path() + "/control.db");
        ASSERT_TRUE(s) << s.error().message;
        store_ = std::move(*s);
    }
    test::TempDir dir_;
    std::unique_ptr<Store> store_;
};

TEST_F(StoreTest, MigratesOnceAndReopens) {
    EXPECT_EQ(store_->schema_version(), 5);
    ASSERT_TRUE(store_->migrate()); // idempotent
    ASSERT_TRUE(store_->save_fleet(two_sites()));
    store_.reset();
    auto again = Store::open("sqlite:" + dir_.path() + "/control.db");
    ASSERT_TRUE(again) << again.error().message;
    auto f = (*again)->fleet();
    ASSERT_TRUE(f);
    ASSERT_EQ(f->sites.size(), 2u);
    EXPECT_EQ(f->sites[0].edges[1].id, "a2");
    EXPECT_EQ(f->sites[0].edges[0].flash_bytes, 300u);
    EXPECT_EQ(f->sites[0].edges[0].storage_bytes, 1000u);
    EXPECT_EQ(f->origin_url, "http://127.0.0.1:8000");
}

TEST_F(StoreTest, TheDatabaseFilesAreTheOwnersOnly) {
    ASSERT_TRUE(store_->save_fleet(two_sites()));
    for (const char* f : {"/control.db", "/control.db-wal", "/control.db-shm"}) {
        struct stat st {};
        if (::stat((dir_.path() + f).c_str(), &st) != 0) continue; // -shm may not exist yet
        EXPECT_EQ(st.st_mode & 0777, 0600u) << f;
    }
    // A database an older release left readable by everyone is narrowed on opening.
    store_.reset();
    ASSERT_EQ(::chmod((dir_.path() + "/control.db").c_str(), 0644), 0);
    auto again = Store::open("sqlite:" + dir_.path() + "/control.db");
    ASSERT_TRUE(again) << again.error().message;
    struct stat st {};
    ASSERT_EQ(::stat((dir_.path() + "/control.db").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(StoreUpgrade, AVersionOneDatabaseIsMigratedWithItsData) {
    test::TempDir dir;
    const std::string url = "sqlite:" + dir.path() + "/old.db";
    {
        auto db = Db::open(url);
        ASSERT_TRUE(db);
        Store old(std::move(*db));
        ASSERT_TRUE(old.migrate(1));
        EXPECT_EQ(old.schema_version(), 1);
        // Data as version 1 kept it (no file count, no flash column).
        auto raw = Db::open(url);
        ASSERT_TRUE(raw);
        ASSERT_TRUE((*raw)->exec("INSERT INTO edge_status (edge_id, state, reason, since_ms, "
                                 "last_heartbeat_ms, report, inventory_digest) VALUES "
                                 "('a1', 'up', 'ok', 1, 2, '{}', 'd')",
                                 {}));
        for (const char* p : {"/a", "/b", "/c"})
            ASSERT_TRUE(
                (*raw)->exec("INSERT INTO edge_files (edge_id, path) VALUES ('a1', ?)", {p}));
    }
    auto s = Store::open(url);
    ASSERT_TRUE(s) << s.error().message;
    EXPECT_EQ((*s)->schema_version(), 5);
    auto st = (*s)->statuses();
    ASSERT_TRUE(st);
    EXPECT_EQ(st->at("a1").files, 3u) << "migration 2 counts what the edge held";
    EXPECT_EQ(st->at("a1").state, "up");
}

TEST_F(StoreTest, BadUrlsAndNewerSchemasAreRefused) {
    EXPECT_FALSE(Store::open("mysql://x"));
    auto r = Store::open("sqlite:" + dir_.path() + "/no/such/dir/x.db");
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("sqlite:"), std::string::npos) << r.error().message;
    auto db = Db::open("sqlite:" + dir_.path() + "/control.db");
    ASSERT_TRUE(db);
    ASSERT_TRUE((*db)->exec("UPDATE meta SET value = '99' WHERE key = 'schema_version'", {}));
    auto newer = Store::open("sqlite:" + dir_.path() + "/control.db");
    ASSERT_FALSE(newer);
    EXPECT_NE(newer.error().message.find("newer"), std::string::npos) << newer.error().message;
}

TEST_F(StoreTest, FleetChangesBumpTheGenerationAndDropRemovedEdges) {
    int64_t g0 = *store_->generation();
    ASSERT_TRUE(store_->save_fleet(two_sites()));
    int64_t g1 = *store_->generation();
    EXPECT_GT(g1, g0);
    ASSERT_TRUE(store_->record_heartbeat("a2", 1000, wire::EdgeReport{},
                                         wire::InventoryChanges{"", true, {"/t/1/a.mp4"}, {}}));
    ASSERT_TRUE(store_->set_drained("a1", true));
    Fleet f = two_sites();
    f.sites[0].edges.pop_back(); // a2 leaves
    ASSERT_TRUE(store_->save_fleet(f));
    auto snap = store_->snapshot();
    ASSERT_TRUE(snap);
    EXPECT_GT(snap->generation, g1);
    EXPECT_TRUE(snap->drained["a1"]) << "drain survives a fleet update";
    EXPECT_EQ(snap->inventory.count("a2"), 0u);
    EXPECT_EQ(store_->statuses()->count("a2"), 0u);
    EXPECT_FALSE(store_->set_drained("nope", true));
    // An invalid fleet changes nothing.
    Fleet bad = two_sites();
    bad.sites[1].edges[0].id = "a1";
    EXPECT_FALSE(store_->save_fleet(bad));
    EXPECT_EQ(store_->snapshot()->fleet.sites[0].edges.size(), 1u);
}

TEST_F(StoreTest, InventoryDeltasAndDigests) {
    ASSERT_TRUE(store_->save_fleet(two_sites()));
    std::vector<std::string> held = {"/t/1/a.mp4", "/t/1/b.mp4"};
    auto m = store_->record_heartbeat(
        "a1", 1000, wire::EdgeReport{},
        wire::InventoryChanges{wire::inventory_digest(held), true, held, {}});
    ASSERT_TRUE(m);
    EXPECT_TRUE(*m);
    // A delta: add c, remove a.
    std::vector<std::string> now = {"/t/1/b.mp4", "/t/1/c.mp4"};
    m = store_->record_heartbeat(
        "a1", 2000, wire::EdgeReport{},
        wire::InventoryChanges{wire::inventory_digest(now), false, {"/t/1/c.mp4"}, {"/t/1/a.mp4"}});
    ASSERT_TRUE(m);
    EXPECT_TRUE(*m);
    auto snap = store_->snapshot();
    EXPECT_EQ(snap->inventory["a1"], now);
    EXPECT_EQ(store_->statuses()->at("a1").files, 2u);
    EXPECT_EQ(store_->statuses()->at("a1").last_heartbeat_ms, 2000);
    // A digest that does not match what the store has: the edge must resend.
    m = store_->record_heartbeat(
        "a1", 3000, wire::EdgeReport{},
        wire::InventoryChanges{wire::inventory_digest({"/x"}), false, {}, {}});
    ASSERT_TRUE(m);
    EXPECT_FALSE(*m);
    EXPECT_EQ(wire::inventory_digest({"/b", "/a"}), wire::inventory_digest({"/a", "/b"}));
}

TEST_F(StoreTest, BgpTablesTakeDiffsKeepDigestsAndSurviveAReopen) {
    ASSERT_TRUE(store_->save_fleet(two_sites()));
    const int64_t gen0 = *store_->generation();
    wire::RouteMap edge_table;
    edge_table[*io::IpPrefix::parse("10.1.0.0/16")] = wire::RouteAttrs{10, 2, "(65001,100)"};
    edge_table[*io::IpPrefix::parse("2001:db8::/32")] = wire::RouteAttrs{0, 1, ""};
    wire::BgpChanges full;
    full.full = true;
    full.diff = wire::diff({}, edge_table, 1000);
    full.digest = wire::digest_hex(wire::table_digest(edge_table));
    auto m = store_->record_bgp("a1", full);
    ASSERT_TRUE(m) << m.error().message;
    EXPECT_TRUE(*m);
    EXPECT_GT(*store_->generation(), gen0);
    // A diff: one withdrawn, one new.
    wire::RouteMap next = edge_table;
    next.erase(*io::IpPrefix::parse("2001:db8::/32"));
    next[*io::IpPrefix::parse("10.9.0.0/16")] = wire::RouteAttrs{0, 1, ""};
    wire::BgpChanges d;
    d.diff = wire::diff(edge_table, next, 1000);
    d.digest = wire::digest_hex(wire::table_digest(next));
    m = store_->record_bgp("a1", d);
    ASSERT_TRUE(m);
    EXPECT_TRUE(*m);
    auto snap = store_->snapshot();
    ASSERT_TRUE(snap);
    ASSERT_EQ(snap->bgp.count("a1"), 1u);
    EXPECT_EQ(*snap->bgp["a1"].routes, next);
    EXPECT_EQ(snap->bgp["a1"].version, 2);
    // No change and the same digest: no new version, no generation bump.
    const int64_t gen1 = *store_->generation();
    wire::BgpChanges same;
    same.digest = d.digest;
    m = store_->record_bgp("a1", same);
    ASSERT_TRUE(m);
    EXPECT_TRUE(*m);
    EXPECT_EQ(*store_->generation(), gen1);
    // More routes than one edge may hold: not applied, the table stays as it was.
    {
        wire::RouteMap big = next;
        big[*io::IpPrefix::parse("10.10.0.0/16")] = wire::RouteAttrs{};
        wire::BgpChanges grow;
        grow.diff = wire::diff(next, big, 1000);
        grow.digest = wire::digest_hex(wire::table_digest(big));
        bool too_many = false;
        m = store_->record_bgp("a1", grow, 2, &too_many);
        ASSERT_TRUE(m);
        EXPECT_TRUE(too_many);
        EXPECT_FALSE(*m);
        EXPECT_EQ(*store_->generation(), gen1);
        EXPECT_EQ(*store_->snapshot()->bgp["a1"].routes, next);
        m = store_->record_bgp("a1", grow, 3, &too_many);
        EXPECT_FALSE(too_many);
        ASSERT_TRUE(m && *m);
        wire::BgpChanges back;
        back.diff = wire::diff(big, next, 1000);
        back.digest = d.digest;
        ASSERT_TRUE(*store_->record_bgp("a1", back));
    }
    // A digest the store does not have: the edge must resend.
    wire::BgpChanges wrong;
    wrong.digest = "0000000000000000";
    EXPECT_FALSE(*store_->record_bgp("a1", wrong));
    // Another instance on the same database reads the table back.
    auto other = Store::open("sqlite:" + dir_.path() + "/control.db");
    ASSERT_TRUE(other);
    auto osnap = (*other)->snapshot();
    ASSERT_TRUE(osnap);
    EXPECT_EQ(*osnap->bgp["a1"].routes, next);
    // Removing the edge from the fleet drops its table.
    Fleet f = two_sites();
    f.sites[0].edges.erase(f.sites[0].edges.begin());
    ASSERT_TRUE(store_->save_fleet(f));
    EXPECT_EQ(store_->snapshot()->bgp.count("a1"), 0u);
}

TEST_F(StoreTest, StateChangesAreCompareAndSetAndLogged) {
    ASSERT_TRUE(store_->save_fleet(two_sites()));
    auto c = store_->change_state("a1", "unknown", "up", "ok", 5000);
    ASSERT_TRUE(c);
    EXPECT_TRUE(*c);
    c = store_->change_state("a1", "unknown", "down", "heartbeat-missed", 6000); // stale "from"
    ASSERT_TRUE(c);
    EXPECT_FALSE(*c);
    ASSERT_TRUE(*store_->change_state("a1", "up", "down", "heartbeat-missed", 7000));
    auto ev = store_->events(10);
    ASSERT_TRUE(ev);
    ASSERT_EQ(ev->size(), 2u);
    EXPECT_EQ((*ev)[0].state, "down"); // newest first
    EXPECT_EQ((*ev)[0].reason, "heartbeat-missed");
    EXPECT_EQ((*ev)[1].state, "up");
    EXPECT_EQ(store_->events(10, "a2")->size(), 0u);
    auto st = store_->statuses()->at("a1");
    EXPECT_EQ(st.state, "down");
    EXPECT_EQ(st.since_ms, 7000);
}

TEST_F(StoreTest, EventsAreBoundedToTheNewest) {
    ASSERT_TRUE(store_->save_fleet(two_sites()));
    store_->set_events_kept(20);
    std::string from = "unknown";
    for (int i = 0; i < 101; ++i) { // a flapping edge
        const std::string to = i % 2 ? "down" : "up";
        ASSERT_TRUE(*store_->change_state("a1", from, to, "flap", 1000 + i));
        from = to;
    }
    auto ev = store_->events(1000);
    ASSERT_TRUE(ev);
    EXPECT_GE(ev->size(), 20u);
    EXPECT_LE(ev->size(), 22u);
    EXPECT_EQ(ev->front().seq, 101); // the newest are kept
    EXPECT_EQ(ev->front().at_ms, 1100);
}

TEST_F(StoreTest, CatalogPopularityAndKeys) {
    catalog::CatalogFile f1{"/t/1/a.mp4", 100, std::string(64, 'a'), 1, 235};
    catalog::CatalogFile f2{"/t/1/b.mp4", 200, std::string(64, 'b'), 1, 750};
    ASSERT_TRUE(store_->import_catalog({f1, f2}));
    ASSERT_TRUE(store_->set_popularity({{"/t/1/a.mp4", 5.5}}));
    // One unknown path fails the whole call: nothing half-written.
    EXPECT_FALSE(store_->set_popularity({{"/t/1/b.mp4", 7}, {"/nope", 1}}));
    auto snap = store_->snapshot();
    ASSERT_EQ(snap->files.size(), 2u);
    EXPECT_DOUBLE_EQ(snap->files[0].popularity, 5.5);
    EXPECT_DOUBLE_EQ(snap->files[1].popularity, 0);
    ASSERT_TRUE(store_->add_key("k1", std::string(64, 'a'), 1));
    EXPECT_FALSE(store_->add_key("k1", std::string(64, 'b'), 2));
    ASSERT_TRUE(store_->add_key("k2", std::string(64, 'c'), 3));
    ASSERT_TRUE(store_->retire_key("k1"));
    EXPECT_FALSE(store_->retire_key("k9"));
    auto keys = store_->keys();
    ASSERT_EQ(keys->size(), 2u);
    EXPECT_TRUE((*keys)[0].retired);
    EXPECT_FALSE((*keys)[1].retired);
}

TEST_F(StoreTest, FillSettingsOfSitesAndTheOriginRoundTrip) {
    Fleet f = two_sites();
    f.origin_mirrors = {"http://127.0.0.1:8001"};
    f.origin_keys = {auth::SigningKey{"o1", std::string(32, 'k')}};
    f.sites[0].group = "eu";
    f.sites[0].fill_from = {"ix-1"};
    f.sites[0].fill_peer_wait_s = 7;
    f.sites[0].fill_tier_wait_s = 9;
    ASSERT_TRUE(store_->save_fleet(f));
    auto back = store_->fleet();
    ASSERT_TRUE(back);
    EXPECT_EQ(back->origin_mirrors, f.origin_mirrors);
    ASSERT_EQ(back->origin_keys.size(), 1u);
    EXPECT_EQ(back->origin_keys[0].secret, std::string(32, 'k'));
    EXPECT_EQ(back->sites[0].group_name(), "eu");
    EXPECT_EQ(back->sites[0].fill_from, std::vector<std::string>{"ix-1"});
    EXPECT_EQ(back->sites[0].fill_peer_wait_s, 7u);
    EXPECT_EQ(back->sites[0].fill_tier_wait_s, 9u);
    EXPECT_EQ(back->sites[1].group_name(), "ix-1"); // default: the site's own name
}

TEST_F(StoreTest, DemandRollsOncePerPeriodIntoAnEwma) {
    const std::pair<std::string, std::string> key{"eu", "/t/1/a.mp4"};
    ASSERT_TRUE(store_->add_demand({{key, 10}}));
    auto first = store_->roll_demand(100, 0.5);
    ASSERT_TRUE(first);
    EXPECT_FALSE(*first); // the first period only starts the clock
    ASSERT_TRUE(store_->add_demand({{key, 10}}));
    const int64_t gen = *store_->generation();
    auto rolled = store_->roll_demand(101, 0.5);
    ASSERT_TRUE(rolled);
    EXPECT_TRUE(*rolled);
    EXPECT_GT(*store_->generation(), gen);        // placement reruns on the new numbers
    EXPECT_FALSE(*store_->roll_demand(101, 0.5)); // another instance: already rolled
    EXPECT_DOUBLE_EQ(store_->snapshot()->demand["eu"]["/t/1/a.mp4"], 10); // 0.5 × 20
    // One period skipped (no demand at all): the history decays for it too.
    ASSERT_TRUE(store_->add_demand({{key, 4}}));
    ASSERT_TRUE(*store_->roll_demand(103, 0.5));
    // skipped period: 10 → 5; then 0.5 × 5 + 0.5 × (4 decayed by the skipped period) = 2.5 + 1
    EXPECT_DOUBLE_EQ(store_->snapshot()->demand["eu"]["/t/1/a.mp4"], 3.5);
}

TEST_F(StoreTest, ManifestVersionsChangeOnlyWithTheirContent) {
    auto v = store_->record_manifests(5, {{"a1", "d1"}, {"a2", "e1"}}, 1);
    ASSERT_TRUE(v);
    EXPECT_EQ(v->at("a1").version, 1);
    EXPECT_EQ(store_->record_manifests(5, {{"a1", "d1"}}, 2)->at("a1").version, 1);
    v = store_->record_manifests(6, {{"a1", "d2"}, {"a2", "e1"}}, 3);
    EXPECT_EQ(v->at("a1").version, 2);
    EXPECT_EQ(v->at("a2").version, 1);
    // An instance still on an older generation does not undo a newer manifest.
    v = store_->record_manifests(5, {{"a1", "d1"}}, 4);
    EXPECT_EQ(v->at("a1").version, 2);
    EXPECT_EQ(v->at("a1").digest, "d2");
}

} // namespace
} // namespace vcdn::control
