#pragma once
// The catalog: every file the CDN serves, with its size and SHA-256 (catalog.json). And a
// generator of synthetic catalogs for tests, demos and benchmarks: per title one file per
// bitrate of bitrate × duration bytes of pseudo-random content, deterministic for a seed.
//
// Threads: no shared state; any thread. Loading and making catalogs read and write files
// (start-up and tools, never a serving loop).
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <vcdn/base/result.h>

namespace vcdn::catalog {

struct CatalogFile {
    std::string path; // URL path: "/t/1/v-3000k.mp4"
    uint64_t size = 0;
    std::string sha256; // lower-case hex
    uint32_t title = 0;
    uint32_t bitrate_kbps = 0;
};

struct Catalog {
    uint64_t seed = 0;
    std::vector<CatalogFile> files;
};

struct MakeOptions {
    std::string out_dir;
    uint32_t titles = 10;
    std::vector<uint32_t> bitrates_kbps = {235, 750, 1750, 3000, 5800};
    uint32_t seconds = 60;
    uint64_t seed = 1;
    uint32_t first_title = 1;
};

inline constexpr uint64_t kMaxCatalogBytes = 1ULL << 40;

// Bytes of one file: bitrate × duration.
inline uint64_t file_size_for(uint32_t kbps, uint32_t seconds) {
    return uint64_t{kbps} * 1000 / 8 * seconds;
}

// The options' checks (one-line error), which make_catalog runs first: a caller tells a bad
// option (exit 2) from a failure to write (exit 1) by calling it before.
Status validate(const MakeOptions& opt);
// Validates options (one-line error), writes the files and catalog.json into out_dir.
// `progress` (optional) is called after each file with (done, total).
Result<Catalog> make_catalog(const MakeOptions& opt,
                             const std::function<void(size_t, size_t)>& progress = {});

// Fills `buf` with the bytes of `path` in a catalog made with `seed`, starting at `offset`.
// The content is a pure function of (seed, path, offset): tests and players can check any
// range they receive without the file.
void synthetic_bytes(uint64_t seed, std::string_view path, uint64_t offset, char* buf, size_t n);

// What `vcdn catalog import` found below a root.
struct ImportReport {
    Catalog catalog;
    size_t titles = 0;       // title directories
    size_t with_bitrate = 0; // files a manifest gave a bitrate
    size_t skipped = 0;      // dot files, symlinks, special files, catalog.json
    uint64_t bytes = 0;
};

// The catalog of a directory of packaged titles (ffmpeg, Shaka Packager, Bento4 …): a title
// is the shallowest directory with a manifest above a file, or else the file's directory
// (numbered from 1 in path order; files at the root are title 0),
// every regular file with its size and SHA-256, and the bitrate of each rendition where a
// manifest says it (DASH: a Representation's bandwidth for its BaseURL and literal segment
// URLs; HLS: a variant's BANDWIDTH for its media playlist and the files that names). A path
// an edge could not serve (path_problem) is an error naming it.
// Errors of reading (walk, stat, hash) carry sys_errno; those of the directory's content (not
// a directory, a path an edge cannot serve, too many files) do not.
Result<ImportReport> import_dir(const std::string& root);

struct MediaOptions {
    std::string out_dir;
    uint32_t titles = 2;
    std::vector<uint32_t> bitrates_kbps = {300, 750}; // video renditions
    uint32_t audio_kbps = 96;
    uint32_t seconds = 10;
    uint32_t first_title = 1;
    // Encode only the first `distinct` titles (0: all) and make the others copies of them
    // under their own paths (a big catalog in seconds: the demo's).
    uint32_t distinct = 0;
    std::string ffmpeg = "ffmpeg"; // found on PATH
};

// Real titles for players: per title /t/<n>/ with one H.264 rendition per bitrate (a moving
// test picture, sized by the usual ladder: 240p below 400k … 1080p from 4500k) and one AAC
// track, each a single fragmented MP4 addressed by byte ranges — the Open Connect shape —
// described by a DASH MPD (manifest.mpd) and HLS playlists (master.m3u8, media_<i>.m3u8),
// 2-second segments, made by ffmpeg (`distinct` of them; the rest are copies, each a title of its
// own); then the catalog of out_dir as import_dir makes it,
// titles numbered as their directories, written to out_dir/catalog.json. A missing or
// failing ffmpeg is a one-line error with its last line of output.
Status validate(const MediaOptions& opt); // what make_media_catalog checks first
Result<ImportReport> make_media_catalog(const MediaOptions& opt,
                                        const std::function<void(size_t, size_t)>& progress = {});

// Writes catalog.json to `path` (atomically: a temporary file, then rename).
Status save(const Catalog& c, const std::string& path);

std::string to_json(const Catalog& c);
// Why `path` cannot name a catalog file, or nullptr when it can: a path an edge serves as
// it is written (starts with '/', at most 1024 bytes, no empty, "." or ".." segment, no
// control character, '?', '#' or '\\') and whose first segment does not start with "vt=",
// which title URLs (auth/signed_url.h) put before the file.
const char* path_problem(std::string_view path);

// Parses a catalog; every path must pass path_problem.
Result<Catalog> from_json(std::string_view text);
Result<Catalog> load(const std::string& catalog_json_path);

struct VerifyReport {
    size_t ok = 0;
    std::vector<std::string> problems; // one line each
};
// Checks every catalog file under root: present, right size, right SHA-256.
VerifyReport verify(const Catalog& c, const std::string& root);

} // namespace vcdn::catalog
