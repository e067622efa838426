// vcdn catalog import: a catalog of a directory of packaged titles (see catalog.h).
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <map>
#include <set>
#include <system_error>

#include <vcdn/base/sha256.h>
#include <vcdn/base/strings.h>
#include <vcdn/catalog/catalog.h>
#include <vcdn/http/query.h>

namespace vcdn::catalog {

namespace fs = std::filesystem;

namespace {

// Manifests are text of a few KiB to a few MiB; a bigger one is not read for bitrates.
constexpr uint64_t kMaxManifestBytes = 8u << 20;
constexpr size_t kMaxFiles = 1'000'000;

std::string_view dir_of(std::string_view path) {
    return path.substr(0, path.rfind('/') + 1);
}

// A URI in a manifest (relative to the manifest's directory, or root-relative) as a catalog
// path; empty for an absolute URL, a template ($Number$) or one that leaves the root.
std::string resolve(std::string_view base_dir, std::string_view uri) {
    uri = trim_ows(uri);
    uri = uri.substr(0, uri.find_first_of("?#"));
    if (uri.empty() || uri.find("://") != std::string_view::npos ||
        uri.find('$') != std::string_view::npos || uri.substr(0, 2) == "//")
        return {};
    std::string decoded;
    if (!http::url_decode(uri, &decoded)) return {};
    const std::string joined = decoded.front() == '/' ? decoded : std::string(base_dir) + decoded;
    std::vector<std::string_view> segs;
    for (std::string_view seg : split(joined, '/')) {
        if (seg.empty() || seg == ".") continue;
        if (seg == "..") {
            if (segs.empty()) return {};
            segs.pop_back();
            continue;
        }
        segs.push_back(seg);
    }
    std::string out;
    for (std::string_view seg : segs)
        out.append("/").append(seg);
    return out;
}

// The value of `name=` in an HLS attribute list (BANDWIDTH=1280000,URI="a.m3u8").
std::string_view hls_attr(std::string_view attrs, std::string_view name) {
    size_t at = 0;
    while (at < attrs.size()) {
        const size_t eq = attrs.find('=', at);
        if (eq == std::string_view::npos) return {};
        const std::string_view key = trim_ows(attrs.substr(at, eq - at));
        size_t end;
        std::string_view value;
        if (eq + 1 < attrs.size() && attrs[eq + 1] == '"') {
            const size_t close = attrs.find('"', eq + 2);
            if (close == std::string_view::npos) return {};
            value = attrs.substr(eq + 2, close - eq - 2);
            end = attrs.find(',', close);
        } else {
            end = attrs.find(',', eq);
            value = attrs.substr(eq + 1, end == std::string_view::npos ? end : end - eq - 1);
        }
        if (key == name) return value;
        if (end == std::string_view::npos) return {};
        at = end + 1;
    }
    return {};
}

// Every file an HLS media playlist names: its segments and its EXT-X-MAP.
std::vector<std::string> hls_media_files(std::string_view playlist_dir, std::string_view text) {
    std::vector<std::string> out;
    for (std::string_view line : split(text, '\n')) {
        line = trim_ows(line);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.substr(0, 11) == "#EXT-X-MAP:") {
            if (std::string p = resolve(playlist_dir, hls_attr(line.substr(11), "URI")); !p.empty())
                out.push_back(std::move(p));
        } else if (!line.empty() && line.front() != '#') {
            if (std::string p = resolve(playlist_dir, line); !p.empty())
                out.push_back(std::move(p));
        }
    }
    return out;
}

uint32_t kbps_of(std::string_view bits_per_s) {
    uint64_t bps = 0;
    if (!parse_u64(trim_ows(bits_per_s), &bps) || bps == 0 || bps > 1'000'000'000'000ULL) return 0;
    return static_cast<uint32_t>(std::max<uint64_t>(1, (bps + 500) / 1000));
}

// The quoted value of attribute `name` inside one XML start tag's text.
std::string_view xml_attr(std::string_view tag, std::string_view name) {
    for (size_t at = tag.find(name); at != std::string_view::npos; at = tag.find(name, at + 1)) {
        const bool starts = at > 0 && (tag[at - 1] == ' ' || tag[at - 1] == '\t' ||
                                       tag[at - 1] == '\n' || tag[at - 1] == '\r');
        size_t p = at + name.size();
        while (p < tag.size() && tag[p] == ' ')
            ++p;
        if (!starts || p >= tag.size() || tag[p] != '=') continue;
        ++p;
        while (p < tag.size() && tag[p] == ' ')
            ++p;
        if (p >= tag.size() || (tag[p] != '"' && tag[p] != '\'')) continue;
        const size_t close = tag.find(tag[p], p + 1);
        if (close == std::string_view::npos) return {};
        return tag.substr(p + 1, close - p - 1);
    }
    return {};
}

// Bitrates a DASH MPD gives files: each Representation's bandwidth for its BaseURL (one file
// per rendition, the Open Connect shape) and a literal SegmentBase/SegmentList file name.
// Not a general XML parser: a linear scan for the elements that name files, which is what the
// packagers write; anything else in the MPD is skipped.
void dash_bitrates(std::string_view mpd_dir, std::string_view text,
                   std::map<std::string, uint32_t>* out) {
    size_t at = 0;
    while ((at = text.find("<Representation", at)) != std::string_view::npos) {
        const size_t tag_end = text.find('>', at);
        if (tag_end == std::string_view::npos) return;
        const std::string_view tag = text.substr(at, tag_end - at);
        const uint32_t kbps = kbps_of(xml_attr(tag, "bandwidth"));
        size_t body_end = tag_end;
        if (tag.back() != '/') {
            body_end = text.find("</Representation>", tag_end);
            if (body_end == std::string_view::npos) body_end = text.size();
        }
        const std::string_view body = text.substr(tag_end + 1, body_end - tag_end - 1);
        if (kbps) {
            // Every search starts where the last one ended: linear in the MPD, whatever it holds.
            for (size_t b = body.find("<BaseURL>"); b != std::string_view::npos;) {
                const size_t e = body.find("</BaseURL>", b);
                if (e == std::string_view::npos) break;
                if (std::string p = resolve(mpd_dir, body.substr(b + 9, e - b - 9)); !p.empty())
                    out->emplace(std::move(p), kbps);
                b = body.find("<BaseURL>", e);
            }
            for (size_t open = body.find('<'); open != std::string_view::npos;) {
                const size_t close = body.find('>', open);
                if (close == std::string_view::npos) break;
                const std::string_view element = body.substr(open, close - open);
                for (const char* attr : {"sourceURL", "media"})
                    if (std::string p = resolve(mpd_dir, xml_attr(element, attr)); !p.empty())
                        out->emplace(std::move(p), kbps);
                open = body.find('<', close);
            }
        }
        at = body_end;
    }
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
            pending = kbps_of(hls_attr(line.substr(18), "BANDWIDTH"));
            continue;
        }
        if (line.empty() || line.front() == '#' || !pending) continue;
        const uint32_t kbps = pending;
        pending = 0;
        const std::string variant = resolve(dir, line);
        auto it = sizes.find(variant);
        if (it == sizes.end()) continue;
        out->emplace(variant, kbps);
        if (it->second > kMaxManifestBytes || !variant.ends_with(".m3u8") ||
            !read.insert(variant).second)
            continue;
        std::ifstream in(root + variant, std::ios::binary);
        const std::string media((std::istreambuf_iterator<char>(in)), {});
        for (std::string& f : hls_media_files(dir_of(variant), media))
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
    if (ec) return Error{fmt::format("{}: {}", root_in, ec.message())};
    for (auto end = fs::recursive_directory_iterator(); it != end; it.increment(ec)) {
        if (ec) return Error{fmt::format("{}: {}", root_in, ec.message())};
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
        if (ec) return Error{fmt::format("{}: {}", rel, ec.message())};
        sizes.emplace(rel, size);
    }
    // Bitrates from the manifests.
    std::map<std::string, uint32_t> kbps;
    for (const auto& [path, size] : sizes) {
        const bool hls = path.ends_with(".m3u8"), dash = path.ends_with(".mpd");
        if ((!hls && !dash) || size > kMaxManifestBytes) continue;
        std::ifstream in(root.string() + path, std::ios::binary);
        const std::string text((std::istreambuf_iterator<char>(in)), {});
        if (dash) dash_bitrates(dir_of(path), text, &kbps);
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
        if (!h) return Error{fmt::format("{}: {}", path, h.error().message)};
        f.sha256 = *h;
        rep.bytes += size;
        rep.catalog.files.push_back(std::move(f));
    }
    rep.titles = titles.size();
    return rep;
}

} // namespace vcdn::catalog
