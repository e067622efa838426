#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <vcdn/control/fleet.h>

#include "temp_dir.h"

namespace vcdn::control {
namespace {

const char* kFleet = R"(
[origin]
url = "http://127.0.0.1:8000"

[[site]]
name = "isp-a"
tier = "embedded"
prefixes = ["10.1.0.0/16", "2001:db8:1::/48"]
fallback = ["ix-1"]

[[site.edge]]
id = "a1"
url = "http://127.0.0.1:8081/"
token = "edge-secret-0123-a1"
storage_bytes = 2000000000
flash_bytes = 500000000

[[site]]
name = "ix-1"
tier = "ix"

[[site.edge]]
id = "x1"
url = "http://127.0.0.1:8091"
https_url = "https://127.0.0.1:8491"
token = "edge-secret-0123-x1"
capacity_gbps = 40.0
)";

TEST(Fleet, ParsesTheIssuesExample) {
    auto f = parse_fleet_toml(kFleet);
    ASSERT_TRUE(f) << f.error().message;
    EXPECT_EQ(f->origin_url, "http://127.0.0.1:8000");
    ASSERT_EQ(f->sites.size(), 2u);
    EXPECT_EQ(f->sites[0].name, "isp-a");
    EXPECT_EQ(f->sites[0].tier, Tier::kEmbedded);
    EXPECT_EQ(f->sites[0].prefixes.size(), 2u);
    EXPECT_EQ(f->sites[0].fallback, std::vector<std::string>{"ix-1"});
    ASSERT_EQ(f->sites[0].edges.size(), 1u);
    EXPECT_EQ(f->sites[0].edges[0].url, "http://127.0.0.1:8081"); // trailing '/' dropped
    EXPECT_EQ(f->sites[0].edges[0].storage_bytes, 2000000000u);
    EXPECT_EQ(f->sites[0].edges[0].flash_bytes, 500000000u);
    EXPECT_EQ(f->sites[1].tier, Tier::kIx);
    EXPECT_EQ(f->sites[1].edges[0].https_url, "https://127.0.0.1:8491");
    EXPECT_DOUBLE_EQ(f->sites[1].edges[0].capacity_gbps, 40.0);
}

TEST(Fleet, OriginServesPlayersUnlessToldAndHasItsOwnKeys) {
    auto open = parse_fleet_toml("[origin]\nurl = \"http://127.0.0.1:8000\"\n");
    ASSERT_TRUE(open) << open.error().message;
    EXPECT_TRUE(open->origin_serves_players());
    // The fleet-wide fill token is gone (every edge held it): the error says what replaces it.
    auto old = parse_fleet_toml("[origin]\nurl = \"http://127.0.0.1:8000\"\nfill_token = \"t\"\n");
    ASSERT_FALSE(old);
    EXPECT_NE(old.error().message.find("origin.signing_keys"), std::string::npos)
        << old.error().message;
    vcdn::test::TempDir d;
    {
        std::FILE* f = std::fopen((d / "origin.keys").c_str(), "w");
        std::fputs(("o1 " + std::string(64, 'a') + "\n").c_str(), f);
        std::fclose(f);
    }
    auto keyed = parse_fleet_toml("[origin]\nurl = \"http://127.0.0.1:8000\"\nsigning_keys = \"" +
                                  d / "origin.keys" + "\"\nplayers = true\n");
    ASSERT_TRUE(keyed) << keyed.error().message;
    ASSERT_EQ(keyed->origin_keys.size(), 1u);
    EXPECT_EQ(keyed->origin_keys[0].id, "o1");
    auto again = parse_fleet_json(fleet_to_json(*keyed, true));
    ASSERT_TRUE(again) << again.error().message;
    EXPECT_EQ(again->origin_players, std::optional<bool>(true));
    EXPECT_EQ(again->origin_keys.size(), 1u);
    EXPECT_EQ(fleet_to_json(*keyed, false).dump().find(std::string(64, 'a')), std::string::npos)
        << "the API's form carries no secret";
    EXPECT_FALSE(parse_fleet_toml("[origin]\nurl = \"http://x:1\"\nsigning_keys = \"/nope\"\n"));
    auto off = parse_fleet_toml("[origin]\nurl = \"http://127.0.0.1:8000\"\nplayers = false\n");
    ASSERT_TRUE(off);
    EXPECT_FALSE(off->origin_serves_players());
    EXPECT_FALSE(parse_fleet_toml("[origin]\nurl = \"http://x:1\"\nplayers = \"no\"\n"));
    EXPECT_FALSE(Fleet{}.origin_serves_players());
}

TEST(Fleet, JsonFormRoundTrips) {
    auto f = parse_fleet_toml(kFleet);
    ASSERT_TRUE(f);
    auto again = parse_fleet_json(fleet_to_json(*f, true));
    ASSERT_TRUE(again) << again.error().message;
    EXPECT_EQ(fleet_to_json(*again, true), fleet_to_json(*f, true));
    // Without tokens the JSON is not a valid fleet (every edge needs its token).
    EXPECT_FALSE(parse_fleet_json(fleet_to_json(*f, false)));
}

void expect_error(const std::string& toml, const std::string& fragment) {
    auto f = parse_fleet_toml(toml);
    ASSERT_FALSE(f) << "accepted: " << toml;
    EXPECT_NE(f.error().message.find(fragment), std::string::npos) << f.error().message;
    EXPECT_EQ(f.error().message.find('\n'), std::string::npos) << "one line";
}

TEST(Fleet, BadFleetsGetOneLineReasons) {
    const std::string edge =
        "[[site.edge]]\nid = \"a1\"\nurl = \"http://h:1\"\ntoken = \"tok-0123456789abcdef\"\n";
    expect_error("[[site]]\nname = \"a\"\nprefixes = [\"10.1.2.3/16\"]\n", "prefix");
    expect_error("[[site]]\nname = \"a\"\ntier = \"cloud\"\n", "tier");
    expect_error("[[site]]\nname = \"a\"\nfallback = [\"b\"]\n", "fallback 'b'");
    expect_error("[[site]]\nname = \"a\"\n[[site]]\nname = \"a\"\n", "declared twice");
    expect_error("[[site]]\nname = \"a\"\n" + edge + "[[site]]\nname = \"b\"\n" + edge,
                 "used twice");
    expect_error("[[site]]\nname = \"a\"\n[[site.edge]]\nid = \"a1\"\nurl = \"ftp://h\"\ntoken = "
                 "\"tok-0123456789abcdef\"\n",
                 "url");
    expect_error("[[site]]\nname = \"a\"\n[[site.edge]]\nid = \"a1\"\nurl = \"http://h:1\"\ntoken "
                 "= \"short\"\n",
                 "token");
    expect_error("[[site]]\nname = \"a\"\ncolour = \"red\"\n", "colour");
    expect_error("[[site]]\nname = \"bad name\"\n", "site name");
    expect_error("[[site]]\nname = \"origin\"\n", "reserved");
    expect_error("[[site]\n", "fleet");
    expect_error("[origin]\nurl = \"nope\"\n", "origin.url");
    expect_error("[[site]]\nname = \"a\"\nbgp_allowed_asns = [65001, 0]\n", "AS 0 is reserved");
    expect_error("[[site]]\nname = \"a\"\nbgp_allowed_asns = [4294967296]\n",
                 "bgp_allowed_asns[0]: 4294967296 is out of range");
    expect_error("[[site]]\nname = \"a\"\nbgp_allowed_asns = [\"AS65001\"]\n",
                 "an array of integers");
}

TEST(Fleet, JsonErrorsNameTheField) {
    auto f = parse_fleet_json(
        nlohmann::json::parse(R"({"site": [{"name": "a", "prefixes": "10.0.0.0/8"}]})"));
    ASSERT_FALSE(f);
    EXPECT_NE(f.error().message.find("prefixes"), std::string::npos) << f.error().message;
    EXPECT_FALSE(parse_fleet_json(nlohmann::json::parse("[1,2]")));
    EXPECT_FALSE(parse_fleet_json(nlohmann::json::parse(R"({"sites": []})")));
}

} // namespace
} // namespace vcdn::control
