// The manifest message (wire/manifest.h): what the edge's fill accepts, and what it refuses
// because it could hurt the edge.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <vcdn/wire/manifest.h>

namespace vcdn::wire {
namespace {

TEST(SafePath, RefusesEscapesAndHiddenFiles) {
    for (const char* ok : {"/t/1/v.mp4", "/a", "/a/b-c_d.e"})
        EXPECT_TRUE(safe_path(ok)) << ok;
    for (const char* bad : {"", "/", "t/1.mp4", "/../etc/passwd", "/t/../x", "/t/./x", "/t//x",
                            "/.vcdn-fill/x.part", "/t/.hidden", "/t/", "/a\\b"})
        EXPECT_FALSE(safe_path(bad)) << bad;
    EXPECT_FALSE(safe_path(std::string("/a\0b", 4)));
    EXPECT_FALSE(safe_path("/" + std::string(1100, 'a')));
}

const std::string kSha(64, 'a');

std::string manifest_with(const std::string& file_json) {
    return R"({"edge":"e1","version":3,"escalation":{"peer_wait_ms":5,"tier_wait_ms":9},
               "origin_token":"t","files":[)" +
           file_json + "]}";
}

TEST(DecodeManifest, ReadsFilesAndSources) {
    auto m = decode_manifest(
        manifest_with(R"({"path":"/t/1/v.mp4","size":10,"sha256":")" + kSha +
                      R"(","tier":"flash","sources":[{"kind":"peer","url":"http://a:1","edge":"a"},
           {"kind":"origin","url":"https://o"}]})"));
    ASSERT_TRUE(m) << m.error().message;
    EXPECT_EQ(m->edge, "e1");
    EXPECT_EQ(m->version, 3);
    EXPECT_EQ(m->peer_wait_ms, 5u);
    EXPECT_EQ(m->tier_wait_ms, 9u);
    EXPECT_EQ(m->schema, 1) << "no schema: a manifest from before the field; its token is skipped";
    ASSERT_EQ(m->files.size(), 1u);
    EXPECT_TRUE(m->files[0].flash);
    ASSERT_EQ(m->files[0].sources.size(), 2u);
    EXPECT_EQ(m->files[0].sources[0].kind, SourceKind::kPeer);
    EXPECT_EQ(m->files[0].sources[0].edge, "a");
    EXPECT_EQ(m->files[0].sources[1].kind, SourceKind::kOrigin);
}

TEST(DecodeManifest, RefusesWhatCouldHurtTheEdge) {
    const std::string good_src = R"("sources":[{"kind":"origin","url":"http://o:1"}])";
    auto file = [&](const std::string& path, const std::string& sha, const std::string& src) {
        return R"({"path":")" + path + R"(","size":10,"sha256":")" + sha + R"(",)" + src + "}";
    };
    EXPECT_TRUE(decode_manifest(manifest_with(file("/a.mp4", kSha, good_src))));
    EXPECT_FALSE(decode_manifest(manifest_with(file("/../a.mp4", kSha, good_src))));
    EXPECT_FALSE(decode_manifest(manifest_with(file("/.vcdn-fill/x", kSha, good_src))));
    EXPECT_FALSE(decode_manifest(manifest_with(file("/a.mp4", "abc", good_src))));
    EXPECT_FALSE(decode_manifest(manifest_with(file("/a.mp4", std::string(64, 'G'), good_src))));
    EXPECT_FALSE(decode_manifest(
        manifest_with(file("/a.mp4", kSha, R"("sources":[{"kind":"x","url":"http://o"}])"))));
    EXPECT_FALSE(decode_manifest(
        manifest_with(file("/a.mp4", kSha, R"("sources":[{"kind":"peer","url":"ftp://o"}])"))));
    EXPECT_FALSE(decode_manifest(
        manifest_with(file("/a.mp4", kSha, R"("sources":[{"kind":"peer","url":"http://o/x"}])"))));
    EXPECT_FALSE(decode_manifest("{"));
    EXPECT_FALSE(decode_manifest("[]"));
    EXPECT_FALSE(decode_manifest(R"({"edge":"e","version":"x","files":[]})"));
    EXPECT_FALSE(decode_manifest(R"({"edge":"e","version":1,"files":{}})"));
    // Numbers that are not integers in range (a float cast would be undefined behaviour).
    EXPECT_FALSE(decode_manifest(R"({"edge":"e","version":1e300,"files":[]})"));
    EXPECT_FALSE(decode_manifest(R"({"edge":"e","version":-1,"files":[]})"));
    EXPECT_FALSE(decode_manifest(
        R"({"edge":"e","version":1,"escalation":{"peer_wait_ms":-5.5},"files":[]})"));
    EXPECT_FALSE(decode_manifest(
        R"({"edge":"e","version":1,"escalation":{"tier_wait_ms":99999999999},"files":[]})"));
    EXPECT_FALSE(decode_manifest(manifest_with(R"({"path":"/a.mp4","size":1e300,"sha256":")" +
                                               kSha + R"(","sources":[]})")));
}

} // namespace
} // namespace vcdn::wire

namespace vcdn::wire {
namespace {

Manifest sample_manifest() {
    Manifest m;
    m.edge = "a1";
    m.site = "isp-a";
    m.version = 4;
    m.generation = 9;
    m.peer_wait_ms = 300000;
    m.tier_wait_ms = 900000;
    m.signed_until = 1800000000;
    m.files = {
        WantedFile{"/t/1/v-3000k.mp4",
                   1000,
                   std::string(64, 'a'),
                   true,
                   {Source{SourceKind::kPeer, "http://127.0.0.1:8081", "a2", "e=1&k=k1&s=abc"},
                    Source{SourceKind::kTier, "https://x1.example.net", "x1", "e=2&k=k1&s=d-f_"},
                    Source{SourceKind::kOrigin, "http://[::1]:8000", ""}}},
        WantedFile{"/t/2/v-235k.mp4", 20, std::string(64, 'b'), false, {}}};
    return m;
}

std::string error_of(const nlohmann::json& j) {
    auto r = decode_manifest(j.dump());
    return r ? std::string() : r.error().message;
}

TEST(Manifest, RoundTripsEveryField) {
    const Manifest m = sample_manifest();
    auto back = decode_manifest(encode(m));
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(*back, m);
    EXPECT_EQ(m.bytes(), 1020u);
}

TEST(Manifest, RefusalsNameTheField) {
    const nlohmann::json j = nlohmann::json::parse(encode(sample_manifest()));
    for (const char* f : {"edge", "version", "files"}) {
        nlohmann::json k = j;
        k.erase(f);
        EXPECT_EQ(error_of(k), std::string("manifest: ") + f + ": missing");
    }
    for (const char* f : {"path", "size", "sha256", "sources"}) {
        nlohmann::json k = j;
        k["files"][1].erase(f);
        EXPECT_EQ(error_of(k), std::string("manifest: files[1].") + f + ": missing");
    }
    nlohmann::json k = j;
    k["files"][0]["sources"][2]["weight"] = 1;
    EXPECT_EQ(error_of(k), "manifest: files[0].sources[2].weight: unknown field");
    k = j;
    k["owner"] = "x";
    EXPECT_EQ(error_of(k), "manifest: owner: unknown field");
    k = j;
    k["files"][0]["sources"][0]["kind"] = "cache";
    EXPECT_EQ(error_of(k), "manifest: files[0].sources[0].kind: unknown source kind 'cache'");
    k = j;
    k["files"][0]["tier"] = "tape";
    EXPECT_EQ(error_of(k), "manifest: files[0].tier: expected \"disk\" or \"flash\"");
    k = j;
    k["files"][0]["path"] = std::string(1025, 'a');
    EXPECT_EQ(error_of(k), "manifest: files[0].path: longer than 1024 bytes");
    k = j;
    k["files"][0]["sources"] = nlohmann::json::array();
    for (size_t i = 0; i <= kMaxSourcesPerFile; ++i)
        k["files"][0]["sources"].push_back({{"kind", "origin"}, {"url", "http://o:1"}});
    EXPECT_EQ(error_of(k), "manifest: files[0].sources: more than 64 entries");
    k = j;
    k["files"][0]["sources"][0]["query"] = "e=1&k=k1&s=a b";
    EXPECT_EQ(error_of(k),
              "manifest: files[0].sources[0].query: only letters, digits and -_.~%=& in a query");
    k = j;
    k["files"][0]["sources"][0]["query"] = "e=1\r\nHost: evil";
    EXPECT_NE(error_of(k).find("query"), std::string::npos) << "no header injection";
    k = j;
    k["files_total"] = 3;
    EXPECT_EQ(error_of(k), "manifest: files_total and bytes_total do not match the files listed");
    EXPECT_NE(decode_manifest(std::string(kMaxManifestBytes + 1, ' ')).error().message.find("over"),
              std::string::npos);
}

TEST(Manifest, SchemaOneEitherSide) {
    Manifest old = sample_manifest();
    old.schema = 1; // what a control plane of schema 1 wrote: no signatures
    nlohmann::json j = nlohmann::json::parse(encode(old));
    EXPECT_FALSE(j["files"][0]["sources"][0].contains("query"));
    j.erase("schema");
    j["origin_token"] = "t"; // schema 1 had it: skipped
    EXPECT_TRUE(decode_manifest(j.dump())) << "a control plane from before the field";
    j.erase("origin_token");
    j["files"][0]["sources"][0]["query"] = "e=1";
    EXPECT_EQ(error_of(j), "manifest: files[0].sources[0].query: unknown field")
        << "schema 1 had no signatures";
    j = nlohmann::json::parse(encode(sample_manifest()));
    j["schema"] = kManifestSchema + 1;
    j["files"][0]["colour"] = "red";
    EXPECT_TRUE(decode_manifest(j.dump())) << "a newer control plane's fields are skipped";
    j["schema"] = kManifestSchema + 2;
    EXPECT_NE(error_of(j).find("is not supported"), std::string::npos);
}

} // namespace
} // namespace vcdn::wire
