// vcdn catalog import: the catalog of a directory of titles as packagers lay them out.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <map>

#include <vcdn/base/sha256.h>
#include <vcdn/catalog/catalog.h>

#include "temp_dir.h"

namespace vcdn::catalog {
namespace {

using test::TempDir;

void put(const TempDir& d, const std::string& rel, const std::string& bytes) {
    const std::string p = d / rel;
    for (size_t s = p.find('/', d.path().size() + 1); s != std::string::npos;
         s = p.find('/', s + 1))
        ::mkdir(p.substr(0, s).c_str(), 0755);
    test::write_file(p, bytes);
}

// A DASH title of one file per rendition (the Open Connect shape) and an HLS title with a
// media playlist per variant, one of segments, one of byte ranges of a single file.
void package(const TempDir& d) {
    put(d, "movie-a/manifest.mpd", R"(<?xml version="1.0"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static">
 <Period>
  <AdaptationSet mimeType="video/mp4">
   <Representation id="v1" bandwidth="400000" width="640" height="360">
    <BaseURL>v-400k.mp4</BaseURL>
    <SegmentBase indexRange="800-1000"><Initialization range="0-799"/></SegmentBase>
   </Representation>
   <Representation id="v2" bandwidth="1200000"><BaseURL>./v-1200k.mp4</BaseURL></Representation>
  </AdaptationSet>
  <AdaptationSet mimeType="audio/mp4">
   <Representation id="a" bandwidth = '128000'>
    <BaseURL>audio/a%2D128k.mp4</BaseURL>
   </Representation>
   <Representation id="t" bandwidth="64000"><BaseURL>https://elsewhere.example/x.mp4</BaseURL>
   </Representation>
  </AdaptationSet>
 </Period>
</MPD>
)");
    put(d, "movie-a/v-400k.mp4", std::string(4000, 'a'));
    put(d, "movie-a/v-1200k.mp4", std::string(12000, 'b'));
    put(d, "movie-a/audio/a-128k.mp4", std::string(1280, 'c'));
    put(d, "movie-a/poster.jpg", "jpg");
    put(d, "show-b/master.m3u8",
        "#EXTM3U\r\n"
        "#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360,CODECS=\"avc1.4d401e,mp4a.40.2\"\r\n"
        "360p/index.m3u8\r\n"
        "#EXT-X-STREAM-INF:CODECS=\"avc1.64001f,mp4a.40.2\",BANDWIDTH=2500000\r\n"
        "720p/index.m3u8?token=x\r\n"
        "#EXT-X-STREAM-INF:BANDWIDTH=9000000\r\n"
        "1080p/missing.m3u8\r\n");
    put(d, "show-b/360p/index.m3u8",
        "#EXTM3U\n#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:4,\nseg-1.m4s\n#EXTINF:4,\nseg-2.m4s\n"
        "#EXT-X-ENDLIST\n");
    put(d, "show-b/360p/init.mp4", "init");
    put(d, "show-b/360p/seg-1.m4s", std::string(100, '1'));
    put(d, "show-b/360p/seg-2.m4s", std::string(100, '2'));
    put(d, "show-b/720p/index.m3u8",
        "#EXTM3U\n#EXT-X-MAP:URI=\"../720p.mp4\",BYTERANGE=\"800@0\"\n#EXTINF:4,\n"
        "#EXT-X-BYTERANGE:1000@800\n../720p.mp4\n#EXT-X-ENDLIST\n");
    put(d, "show-b/720p.mp4", std::string(1800, 'x'));
    put(d, "show-b/escape.m3u8", "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n../../../etc/passwd\n");
    put(d, "readme.txt", "at the root\n");
}

TEST(CatalogImport, TitlesFilesHashesAndBitratesFromTheManifests) {
    TempDir d;
    package(d);
    // Left out: dot files and directories, symlinks, the catalog itself.
    put(d, "movie-a/.v-400k.mp4.tmp", "partial");
    put(d, ".git/HEAD", "ref");
    ASSERT_EQ(::symlink("v-400k.mp4", (d / "movie-a/link.mp4").c_str()), 0);
    put(d, "catalog.json", "{}");
    auto rep = import_dir(d.path());
    ASSERT_TRUE(rep.ok()) << rep.error().message;
    EXPECT_EQ(rep->titles, 2u);
    EXPECT_EQ(rep->skipped, 4u);
    std::map<std::string, CatalogFile> by_path;
    for (const CatalogFile& f : rep->catalog.files)
        by_path[f.path] = f;
    ASSERT_EQ(by_path.size(), 14u);
    const std::map<std::string, std::pair<uint32_t, uint32_t>> want = {
        // path: title, kbps (0: no manifest gives one)
        {"/movie-a/manifest.mpd", {1, 0}},    {"/movie-a/v-400k.mp4", {1, 400}},
        {"/movie-a/v-1200k.mp4", {1, 1200}},  {"/movie-a/audio/a-128k.mp4", {1, 128}},
        {"/movie-a/poster.jpg", {1, 0}},      {"/show-b/master.m3u8", {2, 0}},
        {"/show-b/escape.m3u8", {2, 0}},      {"/show-b/360p/index.m3u8", {2, 800}},
        {"/show-b/360p/init.mp4", {2, 800}},  {"/show-b/360p/seg-1.m4s", {2, 800}},
        {"/show-b/360p/seg-2.m4s", {2, 800}}, {"/show-b/720p/index.m3u8", {2, 2500}},
        {"/show-b/720p.mp4", {2, 2500}},      {"/readme.txt", {0, 0}},
    };
    for (const auto& [path, tk] : want) {
        ASSERT_TRUE(by_path.count(path)) << path;
        EXPECT_EQ(by_path[path].title, tk.first) << path;
        EXPECT_EQ(by_path[path].bitrate_kbps, tk.second) << path;
        EXPECT_EQ(by_path[path].size, std::filesystem::file_size(d.path() + path)) << path;
        EXPECT_EQ(by_path[path].sha256, *sha256_file(d.path() + path)) << path;
    }
    EXPECT_EQ(rep->with_bitrate, 9u);
    EXPECT_EQ(by_path.count("/movie-a/link.mp4"), 0u);
    // What it makes is a catalog like any other: saved, loaded and verified.
    ASSERT_TRUE(save(rep->catalog, d / "catalog.json").ok());
    auto back = load(d / "catalog.json");
    ASSERT_TRUE(back.ok()) << back.error().message;
    EXPECT_EQ(back->files.size(), 14u);
    EXPECT_TRUE(verify(*back, d.path()).problems.empty());
}

// A title is the directory of its packager's top manifest, however deep the layout.
TEST(CatalogImport, TitlesAreTheDirectoriesOfTheirManifests) {
    TempDir d;
    put(d, "t/1/a.mpd", "<MPD/>");
    put(d, "t/1/720p/seg.m4s", "s");
    put(d, "t/2/a.m3u8", "#EXTM3U\n");
    put(d, "t/notes/n.txt", "n");
    auto rep = import_dir(d.path());
    ASSERT_TRUE(rep.ok()) << rep.error().message;
    EXPECT_EQ(rep->titles, 3u);
    std::map<std::string, uint32_t> title;
    for (const CatalogFile& f : rep->catalog.files)
        title[f.path] = f.title;
    EXPECT_EQ(title["/t/1/a.mpd"], 1u);
    EXPECT_EQ(title["/t/1/720p/seg.m4s"], 1u);
    EXPECT_EQ(title["/t/2/a.m3u8"], 2u);
    EXPECT_EQ(title["/t/notes/n.txt"], 3u);
}

TEST(CatalogImport, PathsAnEdgeCannotServeAreErrorsThatNameThem) {
    TempDir d;
    put(d, "t/ok.mp4", "x");
    put(d, "t/what?.mp4", "x");
    auto rep = import_dir(d.path());
    ASSERT_FALSE(rep.ok());
    EXPECT_EQ(rep.error().message, "/t/what?.mp4: path has a control character, '?', '#' or '\\' "
                                   "(rename it: an edge cannot serve it)");
    TempDir v;
    put(v, "vt=x/a.mp4", "x");
    ASSERT_FALSE(import_dir(v.path()).ok());
    EXPECT_EQ(import_dir(v / "nope").error().message, v / "nope" + ": not a directory");
    put(v, "file", "x");
    EXPECT_FALSE(import_dir(v / "file").ok());
}

// Manifests are read by a bounded linear scan: malformed ones give no bitrates, never a hang.
TEST(CatalogImport, MalformedManifestsGiveNoBitrates) {
    TempDir d;
    put(d, "t/a.mp4", "a");
    put(d, "t/x.mpd",
        "<Representation bandwidth=\"0\"<BaseURL>a.mp4<Representation bandwidth=\"x\">"
        "<BaseURL>a.mp4</BaseURL></Representation><Representation");
    put(d, "t/y.m3u8", "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=\n#EXT-X-STREAM-INF:BANDWIDTH=\"7");
    put(d, "t/z.m3u8", std::string(1 << 20, '#'));
    // Shapes that would make a naive scan quadratic: many openings and one close at the end,
    // many attribute names outside any tag, one media playlist named by every variant.
    std::string many_open = "<Representation bandwidth=\"1000\">";
    for (int i = 0; i < 200000; ++i)
        many_open += "<BaseURL>";
    put(d, "t/q1.mpd", many_open + "</BaseURL></Representation>");
    std::string names = "<Representation bandwidth=\"0\">";
    for (int i = 0; i < 300000; ++i)
        names += "media ";
    put(d, "t/q2.mpd", names);
    std::string variants = "#EXTM3U\n";
    for (int i = 0; i < 100000; ++i)
        variants += "#EXT-X-STREAM-INF:BANDWIDTH=1000\nbig.m3u8\n";
    put(d, "t/q3.m3u8", variants);
    std::string big = "#EXTM3U\n";
    for (int i = 0; i < 50000; ++i)
        big += "#EXTINF:1,\nnot-there.m4s\n";
    put(d, "t/big.m3u8", big);
    auto rep = import_dir(d.path());
    ASSERT_TRUE(rep.ok()) << rep.error().message;
    for (const CatalogFile& f : rep->catalog.files)
        EXPECT_EQ(f.bitrate_kbps, f.path == "/t/big.m3u8" ? 1u : 0u) << f.path;
}

} // namespace
} // namespace vcdn::catalog
