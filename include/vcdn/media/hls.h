#pragma once
// HLS playlists (RFC 8216bis) as a CDN reads them: which files a media playlist names, the
// bitrate of each variant, and the multivariant playlist re-written for steering — one Pathway
// per edge (PATHWAY-ID), every URI absolute on that Pathway's edge, and a Content Steering
// server (EXT-X-CONTENT-STEERING) that re-ranks the Pathways while the player plays.
//
// The input is a packager's playlist (operator content, but still bytes from outside the
// program): every function is linear in its input, bounded in what it keeps, and fuzzed
// (tests/fuzz/fuzz_packaged.cc).
//
// Threads: pure functions and immutable results; any thread.
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <vcdn/base/result.h>

namespace vcdn::media {

// One attribute of an attribute list: its name and its value as written (quotes included).
struct HlsAttr {
    std::string_view name, value;
};
// BANDWIDTH=1280000,CODECS="avc1.4d401e,mp4a.40.2" -> its attributes; false when the list does
// not parse (an unterminated quote, a name without '=' or outside [A-Z0-9-], a control byte in
// a value) or holds more than kMaxHlsAttrs.
bool parse_hls_attrs(std::string_view list, std::vector<HlsAttr>* out);
inline constexpr size_t kMaxHlsAttrs = 64;
// The value of `name` (unquoted); empty when absent.
std::string_view hls_attr(std::string_view list, std::string_view name);

// Whether a playlist is a multivariant one: it has an EXT-X-STREAM-INF tag.
bool hls_is_multivariant(std::string_view text);

// Every file a media playlist names (segments, EXT-X-MAP, EXT-X-PART, EXT-X-PRELOAD-HINT), as
// catalog paths relative to the playlist's directory, each once, in order of first mention.
// URIs that are not files of the catalog (absolute URLs) are left out.
std::vector<std::string> hls_media_files(std::string_view playlist_dir, std::string_view text);

// A multivariant playlist, parsed for re-writing.
struct HlsRendition {       // EXT-X-MEDIA
    std::string attrs;      // its attribute list without GROUP-ID and URI
    std::string group_id;   // unquoted
    std::string uri;        // catalog path of its media playlist; empty: no URI (in the variant)
    bool stable_id = false; // the packager gave a STABLE-RENDITION-ID (kept in attrs)
};
struct HlsVariant { // EXT-X-STREAM-INF (with its URI line) or EXT-X-I-FRAME-STREAM-INF
    bool iframe = false;
    std::string attrs; // its attribute list without URI and the group references below
    std::string uri;   // catalog path of its media playlist
    uint64_t bandwidth = 0;
    // AUDIO, VIDEO, SUBTITLES group references (name, unquoted group id); CLOSED-CAPTIONS
    // stays in `attrs` (closed captions are in-band and have no URI).
    std::vector<std::pair<std::string, std::string>> groups;
    bool stable_id = false; // the packager gave a STABLE-VARIANT-ID (kept in attrs)
};
struct HlsMaster {
    // Other tags, kept once, verbatim and in order (EXT-X-VERSION, EXT-X-INDEPENDENT-SEGMENTS,
    // EXT-X-START, EXT-X-SESSION-DATA, ...). A relative URI in one of them (a session key on the
    // packager's own server) is not re-written.
    std::vector<std::string> header;
    std::vector<HlsRendition> renditions;
    std::vector<HlsVariant> variants;
};

// Parses the multivariant playlist at catalog path `playlist_path`. Errors (one line) for what
// cannot be steered: no variant, a variant or rendition whose URI is not a file of the catalog
// (an absolute URL, a variable), a playlist that already has Content Steering or Pathways, a
// variant referring to a group that is not defined. Bounded: kMaxHlsEntries variants and
// renditions.
Result<HlsMaster> parse_hls_master(std::string_view text, std::string_view playlist_path);
inline constexpr size_t kMaxHlsEntries = 4096;

// Writes the steered multivariant playlist: the header, EXT-X-CONTENT-STEERING naming
// `steering_uri` (absolute) and the first Pathway, then per Pathway (in the order given) its
// renditions and variants with PATHWAY-ID, STABLE-VARIANT-ID / STABLE-RENDITION-ID (kept when the
// packager gave them), groups of their own ("<group>-<pathway>", so that a player's audio
// follows its video to the next Pathway) and URIs from `url_for(pathway index, catalog path)`.
// Pathway ids must be [A-Za-z0-9._-]; URLs must not hold '"' or control bytes (encode_path).
std::string
render_hls_master(const HlsMaster& m, const std::vector<std::string>& pathways,
                  std::string_view steering_uri,
                  const std::function<std::string(size_t, const std::string&)>& url_for);

} // namespace vcdn::media
