// vcdn catalog import: a catalog of a directory of packaged titles (see catalog.h).
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <map>
#include <set>
#include <system_error>

#include <cerrno>
#include <vcdn/base/sha256.h>
#include <vcdn/base/strings.h>

#include <vcdn/catalog/catalog.h>
#include <vcdn/media/dash.h>
#include <vcdn/media/hls.h>
#include <vcdn/media/uri.h>

namespace vcdn::catalog {

namespace fs = std::filesystem;
using media::dir_of;

namespace {

// Manifests are text of a few KiB to a few MiB; a bigger one is not read for bitrates.
constexpr uint64_t kMaxManifestBytes = 8u << 20;
constexpr size_t kMaxFiles = 1'000'000;

uint32_t kbps_of(std::string_view bits_per_s) {
    uint64_t bps = 0;
    if (!parse_u64(trim_ows(bits_per_s), &bps) || bps == 0 || bps > 1'000'000'000'000ULL) return 0;
    return static_cast<uint32_t>(std::max<uint64_t>(1, (bps + 500) / 1000));
}

// Bitrates an HLS multivariant playlist gives files: each variant's BANDWIDTH for its media
// playlist and every file that playlist names (read from `root`).
void hls_bitrates(const std::string& root, std::string_view dir, std::string_view text,
                  const std::map<std::string, uint64_t>& sizes,
                  std::map<std::string, uint32_t>* out) {
    uint32_t pending = 0;       // the BANDWIDTH of the last EXT-X-STREAM-INF, for the next URI line
    std::set<std::string> read; // each media playlist is read once, however often it is named
    for (std::string_view line : split(text, '\n')) {
        line = trim_ows(line);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.substr(0, 18) == "#EXT-X-STREAM-INF:") {
            pending = kbps_of(media::hls_attr(line.substr(18), "BANDWIDTH"));
            continue;
        }
        if (line.empty() || line.front() == '#' || !pending) continue;
        const uint32_t kbps = pending;
        pending = 0;
        const std::string variant = media::resolve_uri(dir, line);
        auto it = sizes.find(variant);
        if (it == sizes.end()) continue;
        out->emplace(variant, kbps);
        if (it->second > kMaxManifestBytes || !variant.ends_with(".m3u8") ||
            !read.insert(variant).second)
            continue;
        std::ifstream in(root + variant, std::ios::binary);
        const std::string media((std::istreambuf_iterator<char>(in)), {});
        for (std::string& f : media::hls_media_files(dir_of(variant), media))
            out->emplace(std::move(f), kbps);
    }
}

} // namespace

Result<ImportReport> import_dir(const std::string& root_in) {
    std::error_code ec;
    const fs::path root = fs::path(root_in).lexically_normal();
    if (!fs::is_directory(root, ec)) return Error{fmt::format("{}: not a directory", root_in)};
    ImportReport rep;
    // Every regular file below the root, by catalog path; dot files (temporaries, .DS_Store),
    // symlinks and the catalog itself are left out and counted.
    std::map<std::string, uint64_t> sizes;
    auto it = fs::recursive_directory_iterator(root, fs::directory_options::none, ec);
    if (ec)
        return Error{fmt::format("{}: {}", root_in, ec.message()), ec.value() ? ec.value() : EIO};
    for (auto end = fs::recursive_directory_iterator(); it != end; it.increment(ec)) {
        if (ec)
            return Error{fmt::format("{}: {}", root_in, ec.message()),
                         ec.value() ? ec.value() : EIO};
        const std::string name = it->path().filename().string();
        const fs::file_status st = it->symlink_status(ec);
        if (!name.empty() && name.front() == '.') {
            ++rep.skipped;
            if (fs::is_directory(st)) it.disable_recursion_pending();
            continue;
        }
        if (fs::is_directory(st)) continue;
        const std::string rel = "/" + it->path().lexically_relative(root).generic_string();
        if (!fs::is_regular_file(st) || rel == "/catalog.json") {
            ++rep.skipped;
            continue;
        }
        if (const char* why = path_problem(rel))
            return Error{fmt::format("{}: path {} (rename it: an edge cannot serve it)", rel, why)};
        if (sizes.size() >= kMaxFiles)
            return Error{fmt::format("{}: more than {} files", root_in, kMaxFiles)};
        const uint64_t size = fs::file_size(it->path(), ec);
        if (ec)
            return Error{fmt::format("{}: {}", rel, ec.message()), ec.value() ? ec.value() : EIO};
        sizes.emplace(rel, size);
    }
    // Bitrates from the manifests.
    std::map<std::string, uint32_t> kbps;
    for (const auto& [path, size] : sizes) {
        const bool hls = path.ends_with(".m3u8"), dash = path.ends_with(".mpd");
        if ((!hls && !dash) || size > kMaxManifestBytes) continue;
        std::ifstream in(root.string() + path, std::ios::binary);
        const std::string text((std::istreambuf_iterator<char>(in)), {});
        if (dash) media::dash_bitrates(dir_of(path), text, &kbps);
        if (hls && text.find("#EXT-X-STREAM-INF:") != std::string::npos)
            hls_bitrates(root.string(), dir_of(path), text, sizes, &kbps);
    }
    // A title is the shallowest directory holding a manifest above a file (its packager's
    // output, with whatever subdirectories it made), or the file's own directory when no
    // manifest is above it; numbered in path order from 1. Files at the root are title 0.
    std::set<std::string_view> manifest_dirs;
    for (const auto& [path, size] : sizes)
        if (path.ends_with(".m3u8") || path.ends_with(".mpd")) manifest_dirs.insert(dir_of(path));
    auto title_dir = [&](std::string_view path) {
        for (size_t s = path.find('/', 1); s != std::string_view::npos; s = path.find('/', s + 1))
            if (manifest_dirs.count(path.substr(0, s + 1))) return path.substr(0, s + 1);
        return dir_of(path);
    };
    std::map<std::string, uint32_t> titles;
    for (const auto& [path, size] : sizes) {
        const std::string_view dir = title_dir(path);
        uint32_t title = 0;
        if (dir.size() > 1) {
            auto [t, fresh] = titles.emplace(std::string(dir), 0);
            if (fresh) t->second = static_cast<uint32_t>(titles.size());
            title = t->second;
        }
        CatalogFile f;
        f.path = path;
        f.size = size;
        f.title = title;
        if (auto k = kbps.find(path); k != kbps.end()) {
            f.bitrate_kbps = k->second;
            ++rep.with_bitrate;
        }
        auto h = sha256_file(root.string() + path);
        if (!h) // a read error: run time, not the directory's fault
            return Error{fmt::format("{}: {}", path, h.error().message),
                         h.error().sys_errno ? h.error().sys_errno : EIO};
        f.sha256 = *h;
        rep.bytes += size;
        rep.catalog.files.push_back(std::move(f));
    }
    rep.titles = titles.size();
    return rep;
}

} // namespace vcdn::catalog
