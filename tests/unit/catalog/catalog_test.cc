#include <gtest/gtest.h>

#include <vcdn/base/sha256.h>
#include <vcdn/catalog/catalog.h>

#include "temp_dir.h"

namespace vcdn::catalog {
namespace {

MakeOptions small(const std::string& dir, uint64_t seed = 3) {
    MakeOptions o;
    o.out_dir = dir;
    o.titles = 3;
    o.bitrates_kbps = {400, 100};
    o.seconds = 2;
    o.seed = seed;
    return o;
}

TEST(Catalog, MakesFilesOfBitrateTimesDuration) {
    test::TempDir d;
    auto c = make_catalog(small(d.path()));
    ASSERT_TRUE(c.ok()) << c.error().message;
    ASSERT_EQ(c->files.size(), 6u);
    EXPECT_EQ(c->files[0].path, "/t/1/v-100k.mp4");
    EXPECT_EQ(c->files[0].size, 25000u);
    EXPECT_EQ(c->files[1].size, 100000u);
    EXPECT_EQ(c->files[1].bitrate_kbps, 400u);
    EXPECT_EQ(c->files[5].title, 3u);
    for (const auto& f : c->files) {
        std::string data = test::read_file(d.path() + f.path);
        ASSERT_EQ(data.size(), f.size);
        EXPECT_EQ(Sha256::hex_of(data), f.sha256);
        // Any range can be produced without the file.
        std::string mid(1000, '\0');
        synthetic_bytes(3, f.path, 12345, mid.data(), mid.size());
        EXPECT_EQ(mid, data.substr(12345, 1000));
    }
    EXPECT_TRUE(verify(*c, d.path()).problems.empty());
}

TEST(Catalog, DeterministicForASeed) {
    test::TempDir a, b, c;
    ASSERT_TRUE(make_catalog(small(a.path())).ok());
    ASSERT_TRUE(make_catalog(small(b.path())).ok());
    ASSERT_TRUE(make_catalog(small(c.path(), 4)).ok());
    EXPECT_EQ(test::read_file(a / "catalog.json"), test::read_file(b / "catalog.json"));
    EXPECT_NE(test::read_file(a / "catalog.json"), test::read_file(c / "catalog.json"));
}

TEST(Catalog, JsonRoundTripAndErrors) {
    Catalog c;
    c.seed = 9;
    c.files.push_back({"/t/1/v-1k.mp4", 125, std::string(64, 'a'), 1, 1});
    auto back = from_json(to_json(c));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(back->seed, 9u);
    EXPECT_EQ(back->files[0].path, "/t/1/v-1k.mp4");
    EXPECT_FALSE(from_json("{").ok());
    EXPECT_FALSE(from_json("[]").ok());
    EXPECT_FALSE(from_json(R"({"files":[{"path":"x","size":1,"sha256":"00"}]})").ok());
    auto e = from_json(R"({"files":[{"path":"/x","size":"big","sha256":"00"}]})");
    ASSERT_FALSE(e.ok());
    EXPECT_NE(e.error().message.find("files[0]"), std::string::npos);
    const std::string sha(64, 'a');
    // Exact integers: no float sizes (1e300 would be undefined behaviour), no silent
    // truncation of a title past 2^32, no nesting beyond a catalog's shape.
    EXPECT_FALSE(from_json(R"({"files":[{"path":"/x","size":1e300,"sha256":")" + sha + "\"}]}"));
    EXPECT_FALSE(from_json(R"({"files":[{"path":"/x","size":1,"title":4294967297,"sha256":")" +
                           sha + "\"}]}"));
    EXPECT_FALSE(from_json(R"({"seed":-1,"files":[]})"));
    EXPECT_FALSE(from_json(R"({"files":[[[[[[[[[[1]]]]]]]]]]})"));
    EXPECT_TRUE(from_json(R"({"files":[{"path":"/x","size":1,"title":4294967295,"sha256":")" + sha +
                          "\"}]}"));
}

// A catalog path is one an edge serves as written, and never one a title URL would read as
// its token.
TEST(Catalog, PathsAreServablePaths) {
    for (const char* ok : {"/x", "/t/1/v-235k.mp4", "/a b/c.mpd", "/t/vt=1/x", "/.well/x"})
        EXPECT_EQ(path_problem(ok), nullptr) << ok;
    const std::pair<std::string, std::string> bad[] = {
        {"", "must start with '/'"},
        {"x/y", "must start with '/'"},
        {"/", "has an empty segment or ends in '/'"},
        {"/t//x", "has an empty segment or ends in '/'"},
        {"/t/1/", "has an empty segment or ends in '/'"},
        {"/t/../etc/passwd", "has a '.' or '..' segment"},
        {"/t/./x", "has a '.' or '..' segment"},
        {"/..", "has a '.' or '..' segment"},
        {"/vt=k1~1~1~~AAAA/t/x", "starts with 'vt=', which title URLs reserve"},
        {"/x?y", "has a control character, '?', '#' or '\\'"},
        {"/x#y", "has a control character, '?', '#' or '\\'"},
        {"/x\\y", "has a control character, '?', '#' or '\\'"},
        {std::string("/x\0y", 4), "has a control character, '?', '#' or '\\'"},
        {"/x\ny", "has a control character, '?', '#' or '\\'"},
        {"/" + std::string(1024, 'a'), "is longer than 1024 bytes"},
    };
    for (const auto& [path, why] : bad) {
        ASSERT_NE(path_problem(path), nullptr) << path;
        EXPECT_EQ(std::string(path_problem(path)), why) << path;
    }
    const std::string sha(64, 'a');
    auto e = from_json(R"({"files":[{"path":"/t/../x","size":1,"sha256":")" + sha + "\"}]}");
    ASSERT_FALSE(e.ok());
    EXPECT_EQ(e.error().message, "catalog: files[0]: path has a '.' or '..' segment");
}

TEST(Catalog, VerifyFindsDamage) {
    test::TempDir d;
    auto c = make_catalog(small(d.path()));
    ASSERT_TRUE(c.ok());
    std::string p = d.path() + c->files[0].path;
    std::string data = test::read_file(p);
    data[100] ^= 1;
    test::write_file(p, data);
    ::unlink((d.path() + c->files[1].path).c_str());
    auto r = verify(*c, d.path());
    EXPECT_EQ(r.ok, 4u);
    ASSERT_EQ(r.problems.size(), 2u);
    EXPECT_NE(r.problems[0].find("sha256 mismatch"), std::string::npos);
    EXPECT_NE(r.problems[1].find("missing"), std::string::npos);
}

TEST(Catalog, RejectsBadOptions) {
    test::TempDir d;
    MakeOptions o = small(d.path());
    o.titles = 0;
    EXPECT_FALSE(make_catalog(o).ok());
    o = small(d.path());
    o.bitrates_kbps = {100, 100};
    EXPECT_FALSE(make_catalog(o).ok());
    o = small(d.path());
    o.bitrates_kbps = {1000000};
    o.seconds = 100000000;
    o.titles = 1000;
    EXPECT_NE(make_catalog(o).error().message.find("limit"), std::string::npos);
}

} // namespace
} // namespace vcdn::catalog
