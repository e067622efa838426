// The heartbeat and its reply (wire/heartbeat.h): round trips, every refusal naming its field,
// and the schema rule (an edge of any older schema or one newer is understood, and answered
// in a schema it can read).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <vcdn/wire/heartbeat.h>

namespace vcdn::wire {
namespace {

using nlohmann::json;

Heartbeat full_heartbeat() {
    Heartbeat h;
    h.report.healthy = false;
    h.report.reason = "1 of 2 content roots failed";
    h.report.load = Load{2.5, 340, 0.75};
    h.report.disks = {DiskReport{0, "/srv/a", "flash", "up", ""},
                      DiskReport{1, "/srv/b", "disk", "failed", "read: Input/output error"}};
    h.report.version = "0.1.0";
    h.report.build = "0.1.0+gabc1234";
    FillProgress f;
    f.enabled = true;
    f.manifest_version = 7;
    f.state = "filling";
    f.window = "always";
    f.in_window = true;
    f.files_total = 10;
    f.files_to_go = 2;
    f.bytes_total = 1000;
    f.bytes_to_go = 200;
    f.rate_bps = 8e6;
    f.bytes_from_peer = 1;
    f.bytes_from_tier = 2;
    f.bytes_from_origin = 3;
    f.active = {"peer a2 /t/1/v.mp4"};
    f.verify_failures = 4;
    f.errors = 5;
    f.scrub_mismatches = 6;
    h.report.fill = f;
    BgpStatus b;
    b.connected = true;
    b.sessions = {
        BgpSession{"r1", "up", "Established", "2026-12-01", "192.0.2.1", "", 65001, 2, 2, 1234}};
    b.prefixes = 2;
    b.more = true;
    h.report.bgp = b;
    BgpChanges c;
    c.full = true;
    c.diff.upserts = {{*io::IpPrefix::parse("10.1.0.0/16"), RouteAttrs{10, 2, "(65001,100)"}}};
    c.diff.removals = {*io::IpPrefix::parse("2001:db8::/32")};
    c.diff.more = true;
    c.digest = "00000000000000ff";
    h.bgp = c;
    h.inventory = InventoryChanges{inventory_digest({"/t/1/a.mp4"}), true, {"/t/1/a.mp4"}, {}};
    h.served = {Served{"/t/1/a.mp4", *io::IpPrefix::parse("198.51.100.0/24"), 1000},
                Served{"/t/1/a.mp4", *io::IpPrefix::parse("2001:db8:1::/48"), 2000},
                Served{"/t/1/b.mp4", std::nullopt, 3}};
    return h;
}

json as_json(const Heartbeat& h) {
    return json::parse(encode(h));
}

std::string error_of(const json& j, int64_t known = kHeartbeatSchema) {
    auto r = decode_heartbeat(j.dump(), known);
    return r ? std::string() : r.error().message;
}

TEST(Heartbeat, RoundTripsEveryField) {
    const Heartbeat h = full_heartbeat();
    auto back = decode_heartbeat(encode(h));
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(*back, h);
    // The minimal heartbeat a simple sender writes.
    auto min = decode_heartbeat(R"({"healthy":true,"load":{},"inventory":{"digest":""}})");
    ASSERT_TRUE(min) << min.error().message;
    EXPECT_EQ(min->schema, 1);
    EXPECT_TRUE(min->report.healthy);
    EXPECT_FALSE(min->bgp);
    EXPECT_FALSE(min->report.fill);
}

// Schema 3's `served`: bounded, every entry checked, and not a field of older schemas.
TEST(Heartbeat, ServedIsBoundedAndCheckedByEntry) {
    json j = as_json(full_heartbeat());
    ASSERT_EQ(j["served"].size(), 3u);
    EXPECT_EQ(j["served"][0]["client"], "198.51.100.0/24");
    EXPECT_FALSE(j["served"][2].contains("client"));
    auto bad = [&](const char* field, const json& value) {
        json k = as_json(full_heartbeat());
        k["served"][1][field] = value;
        return error_of(k);
    };
    EXPECT_EQ(bad("path", "t/1/a.mp4"),
              "heartbeat: served[1].path: 't/1/a.mp4' must start with '/'");
    EXPECT_EQ(bad("client", "10.1.2.3/24").substr(0, 42),
              "heartbeat: served[1].client: '10.1.2.3/24'");
    EXPECT_EQ(bad("bytes", -1), "heartbeat: served[1].bytes: out of range (0 to 1125899906842624)");
    EXPECT_EQ(bad("bytes", (uint64_t{1} << 50) + 1),
              "heartbeat: served[1].bytes: out of range (0 to 1125899906842624)");
    EXPECT_EQ(bad("views", 3), "heartbeat: served[1].views: unknown field");
    json k = as_json(full_heartbeat());
    k["served"][0].erase("bytes");
    EXPECT_EQ(error_of(k), "heartbeat: served[0].bytes: missing");
    k = as_json(full_heartbeat());
    k["served"] = json::array();
    for (size_t i = 0; i <= kMaxServed; ++i)
        k["served"].push_back({{"path", "/a"}, {"bytes", 1}});
    EXPECT_EQ(error_of(k), "heartbeat: served: more than 100000 entries");
    // A schema-2 message has no `served`.
    k = as_json(full_heartbeat());
    k["schema"] = 2;
    EXPECT_EQ(error_of(k), "heartbeat: served: unknown field");
    // ... and a schema-2 edge writes none.
    Heartbeat two = full_heartbeat();
    two.schema = 2;
    EXPECT_FALSE(as_json(two).contains("served"));
}

TEST(Heartbeat, MissingRequiredFieldsAreNamed) {
    for (const char* field : {"healthy", "load", "inventory"}) {
        json j = as_json(full_heartbeat());
        j.erase(field);
        EXPECT_EQ(error_of(j), std::string("heartbeat: ") + field + ": missing") << field;
    }
    json j = as_json(full_heartbeat());
    j["inventory"].erase("digest");
    EXPECT_EQ(error_of(j), "heartbeat: inventory.digest: missing");
}

TEST(Heartbeat, UnknownFieldsAreNamedAtEveryLevel) {
    json j = as_json(full_heartbeat());
    j["colour"] = "blue";
    EXPECT_EQ(error_of(j), "heartbeat: colour: unknown field");
    j = as_json(full_heartbeat());
    j["load"]["temperature"] = 40;
    EXPECT_EQ(error_of(j), "heartbeat: load.temperature: unknown field");
    j = as_json(full_heartbeat());
    j["disks"][1]["vendor"] = "x";
    EXPECT_EQ(error_of(j), "heartbeat: disks[1].vendor: unknown field");
    j = as_json(full_heartbeat());
    j["bgp"]["sessions"][0]["extra"] = 1;
    EXPECT_EQ(error_of(j), "heartbeat: bgp.sessions[0].extra: unknown field");
    j = as_json(full_heartbeat());
    j["fill"]["bytes_by_source"]["cache"] = 1;
    EXPECT_EQ(error_of(j), "heartbeat: fill.bytes_by_source.cache: unknown field");
    // Control bytes of a peer's key do not reach the message raw.
    j = as_json(full_heartbeat());
    j["a\nb"] = 1;
    EXPECT_EQ(error_of(j), "heartbeat: a?b: unknown field");
}

TEST(Heartbeat, WrongTypesAndOversizedFieldsAreNamed) {
    json j = as_json(full_heartbeat());
    j["load"]["gbps_out"] = "fast";
    EXPECT_EQ(error_of(j), "heartbeat: load.gbps_out: expected a number");
    j = as_json(full_heartbeat());
    j["load"]["gbps_out"] = -1;
    EXPECT_NE(error_of(j).find("load.gbps_out: out of range"), std::string::npos);
    j = as_json(full_heartbeat());
    j["load"]["connections"] = 1.5;
    EXPECT_EQ(error_of(j), "heartbeat: load.connections: expected an integer");
    j = as_json(full_heartbeat());
    j["healthy"] = 1;
    EXPECT_EQ(error_of(j), "heartbeat: healthy: expected true or false");
    j = as_json(full_heartbeat());
    j["reason"] = std::string(kMaxReasonBytes + 1, 'x');
    EXPECT_EQ(error_of(j), "heartbeat: reason: longer than 500 bytes");
    j = as_json(full_heartbeat());
    j["disks"] = json::array();
    for (size_t i = 0; i <= kMaxDisks; ++i)
        j["disks"].push_back(json::object());
    EXPECT_EQ(error_of(j), "heartbeat: disks: more than 64 entries");
    j = as_json(full_heartbeat());
    j["inventory"]["added"] = {"t/1/no-slash.mp4"};
    EXPECT_NE(error_of(j).find("inventory: path 't/1/no-slash.mp4' must start with '/'"),
              std::string::npos);
    j = as_json(full_heartbeat());
    j["inventory"]["added"] = {std::string(kMaxPathBytes + 1, '/')};
    EXPECT_EQ(error_of(j), "heartbeat: inventory.added: [0]: longer than 4096 bytes");
    j = as_json(full_heartbeat());
    j["bgp"]["upserts"] = {"10.1.0.0/16 ten 2"};
    EXPECT_NE(error_of(j).find("bgp.upserts: '10.1.0.0/16 ten 2'"), std::string::npos)
        << error_of(j);
    j = as_json(full_heartbeat());
    j["bgp"]["removals"] = {"300.1.0.0/16"};
    EXPECT_NE(error_of(j).find("bgp.removals: '300.1.0.0/16'"), std::string::npos);
    j = as_json(full_heartbeat());
    j["bgp"]["sessions"] = json::array();
    for (size_t i = 0; i <= kMaxBgpSessions; ++i)
        j["bgp"]["sessions"].push_back(json::object());
    EXPECT_EQ(error_of(j), "heartbeat: bgp.sessions: more than 64 entries");
}

TEST(Heartbeat, SizeAndDepthAreDecidedBeforeParsing) {
    EXPECT_NE(decode_heartbeat(std::string(kMaxHeartbeatBytes + 1, ' '))
                  .error()
                  .message.find("over 67108864 bytes"),
              std::string::npos);
    EXPECT_NE(decode_heartbeat(std::string(100, '[') + std::string(100, ']'))
                  .error()
                  .message.find("nested deeper than 8"),
              std::string::npos);
    EXPECT_NE(decode_heartbeat("{not json").error().message.find("not valid JSON"),
              std::string::npos);
    EXPECT_EQ(decode_heartbeat("[]").error().message, "heartbeat: expected a JSON object");
}

TEST(Heartbeat, AnOlderEdgeIsUnderstood) {
    // Schema 1 (before `build`): decoded, build empty; a build in a schema-1 message is a
    // field that schema did not have.
    json j = as_json(full_heartbeat());
    j["schema"] = 1;
    j.erase("build");
    j.erase("served");
    auto h = decode_heartbeat(j.dump());
    ASSERT_TRUE(h) << h.error().message;
    EXPECT_EQ(h->schema, 1);
    EXPECT_EQ(h->report.build, "");
    EXPECT_EQ(h->report.version, "0.1.0");
    j.erase("schema"); // what edges sent before the field existed
    EXPECT_TRUE(decode_heartbeat(j.dump()));
    j["build"] = "x";
    EXPECT_EQ(error_of(j), "heartbeat: build: unknown field");
    // What an edge of schema 1 writes.
    Heartbeat old = full_heartbeat();
    old.schema = 1;
    EXPECT_FALSE(as_json(old).contains("build"));
}

TEST(Heartbeat, ANewerEdgeIsUnderstoodAndItsNewFieldsSkipped) {
    json j = as_json(full_heartbeat());
    j["schema"] = kHeartbeatSchema + 1;
    j["thermal"] = {{"celsius", 41}};
    j["load"]["nic_drops"] = 3;
    auto h = decode_heartbeat(j.dump());
    ASSERT_TRUE(h) << h.error().message;
    EXPECT_EQ(h->schema, kHeartbeatSchema + 1);
    EXPECT_EQ(h->report.build, "0.1.0+gabc1234");
    EXPECT_EQ(h->report.load.connections, 340u);
    // Its known fields are still checked.
    j["load"]["gbps_out"] = "fast";
    EXPECT_EQ(error_of(j), "heartbeat: load.gbps_out: expected a number");
    // Two versions apart: refused, saying which are spoken.
    j = as_json(full_heartbeat());
    j["schema"] = kHeartbeatSchema + 2;
    EXPECT_EQ(error_of(j), "heartbeat: schema 5 is not supported (this side speaks 3 and accepts 1 "
                           "to 4)");
    // A decoder one version behind (schema 2) reads a schema-3 heartbeat, skipping `served`.
    auto behind = decode_heartbeat(encode(full_heartbeat()), 2);
    ASSERT_TRUE(behind) << behind.error().message;
    EXPECT_EQ(behind->report.build, "0.1.0+gabc1234");
    EXPECT_TRUE(behind->served.empty());
    // Two behind (schema 1) sees a message two versions newer: refused, as the rule says.
    EXPECT_FALSE(decode_heartbeat(encode(full_heartbeat()), 1));
}

HeartbeatReply full_reply() {
    HeartbeatReply r;
    r.state = "up";
    r.reason = "ok";
    r.inventory_ok = false;
    r.heartbeat_interval_ms = 500;
    r.keys = {KeyGrant{"k1", std::string(64, 'a')}, KeyGrant{"k2", std::string(64, 'b')}};
    r.bgp_ok = false;
    r.manifest = ManifestInfo{9, 8, 1000};
    return r;
}

TEST(HeartbeatReply, RoundTripsAndRefusesByField) {
    auto back = decode_heartbeat_reply(encode(full_reply()));
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(*back, full_reply());
    HeartbeatReply plain;
    plain.state = "unknown";
    auto p = decode_heartbeat_reply(encode(plain));
    ASSERT_TRUE(p);
    EXPECT_FALSE(p->bgp_ok);
    EXPECT_FALSE(p->manifest);
    auto err = [](const json& j) {
        auto r = decode_heartbeat_reply(j.dump());
        return r ? std::string() : r.error().message;
    };
    json j = json::parse(encode(full_reply()));
    for (const char* f : {"ok", "state", "inventory", "heartbeat_interval_ms", "keys"}) {
        json k = j;
        k.erase(f);
        EXPECT_EQ(err(k), std::string("heartbeat reply: ") + f + ": missing");
    }
    json k = j;
    k["keys"][0].erase("secret_hex");
    EXPECT_EQ(err(k), "heartbeat reply: keys[0].secret_hex: missing");
    k = j;
    k["inventory"] = "maybe";
    EXPECT_EQ(err(k), "heartbeat reply: inventory: expected \"ok\" or \"resend\"");
    k = j;
    k["heartbeat_interval_ms"] = 5;
    EXPECT_EQ(err(k), "heartbeat reply: heartbeat_interval_ms: below 100 ms");
    k = j;
    k["ok"] = false;
    EXPECT_EQ(err(k), "heartbeat reply: ok is false");
    k = j;
    k["manifest"]["when"] = 1;
    EXPECT_EQ(err(k), "heartbeat reply: manifest.when: unknown field");
    k = j;
    k["keys"] = json::array();
    for (size_t i = 0; i <= kMaxKeys; ++i)
        k["keys"].push_back({{"id", "k"}, {"secret_hex", "00"}});
    EXPECT_EQ(err(k), "heartbeat reply: keys: more than 64 entries");
}

TEST(HeartbeatReply, AnOlderAndANewerControlPlaneAreUnderstood) {
    json j = json::parse(encode(full_reply()));
    j["schema"] = kHeartbeatSchema - 1;
    EXPECT_TRUE(decode_heartbeat_reply(j.dump()));
    j.erase("schema"); // a control plane from before the field existed
    EXPECT_TRUE(decode_heartbeat_reply(j.dump()));
    j["schema"] = kHeartbeatSchema + 1;
    j["region"] = "eu";
    auto r = decode_heartbeat_reply(j.dump());
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->keys.size(), 2u);
    // A reply written for a schema-1 edge is what a schema-1 decoder reads.
    HeartbeatReply old = full_reply();
    old.schema = 1;
    EXPECT_TRUE(decode_heartbeat_reply(encode(old), 1));
}

TEST(EdgeReport, StoredFormRoundTripsAndAnOldOneIsEmptyNotAnError) {
    const EdgeReport r = full_heartbeat().report;
    EXPECT_EQ(decode_report(encode_report(r)), r);
    // A report from before the wire module: the fields it had are read, the ones since dropped
    // (prefixes) are skipped.
    EdgeReport old = decode_report(
        R"({"healthy":false,"reason":"x","load":{"gbps_out":1},"disks":[],"prefixes":[]})");
    EXPECT_FALSE(old.healthy);
    EXPECT_EQ(old.load.gbps_out, 1);
    EXPECT_EQ(decode_report("{not json"), EdgeReport{});
    EXPECT_EQ(decode_report(R"({"healthy":"yes","load":{}})"), EdgeReport{});
}

TEST(InventoryDigest, IgnoresOrder) {
    EXPECT_EQ(inventory_digest({"/b", "/a"}), inventory_digest({"/a", "/b"}));
    EXPECT_NE(inventory_digest({"/a"}), inventory_digest({"/a", "/b"}));
    EXPECT_EQ(inventory_digest({}).size(), 64u);
}

} // namespace
} // namespace vcdn::wire
