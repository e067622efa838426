#pragma once
// DASH MPDs (ISO/IEC 23009-1) as a CDN reads them: the bitrate each Representation gives its
// files (catalog import), and the MPD re-written for steering — every Representation's
// BaseURLs absolute, one per edge (BaseURL@serviceLocation), and a Content Steering server
// (DASH-IF Content Steering, <ContentSteering>) that re-ranks the service locations while the
// player plays.
//
// Parsing is done once per packaged MPD (parse_dash_template, pugixml: linear, no entity
// expansion, no network); each player's copy is then written by concatenating the kept text
// with its own BaseURLs (render_dash), so a request costs the size of the MPD and no parse.
//
// Threads: pure functions and immutable results; any thread.
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <vcdn/base/result.h>

namespace vcdn::media {

// Bitrates a DASH MPD gives files: each Representation's bandwidth for its BaseURL (one file per
// rendition, the Open Connect shape) and its literal SegmentBase/SegmentList file names. A
// linear scan for the elements that name files (what packagers write), not an XML parser: it
// takes any bytes, and a malformed MPD gives fewer entries, never an error.
void dash_bitrates(std::string_view mpd_dir, std::string_view text,
                   std::map<std::string, uint32_t>* out);

// One Representation of a parsed MPD: where its BaseURLs go and what it needs from an edge.
struct DashSlot {
    // The catalog path its BaseURL chain resolves to: a file ("/t/1/r0.mp4") or a directory
    // ("/t/1/video/") that its segment URLs are relative to.
    std::string base;
    std::vector<std::string> files; // the files it names literally (base file, init, segments)
    // Segment templates ($Number$, $Time$): (catalog path before the first '$', text after the
    // last '$'); the control plane matches them against the title's files.
    std::vector<std::pair<std::string, std::string>> templates;
    uint64_t bandwidth = 0;
    std::string id;
};

// The MPD with every BaseURL, Location and PatchLocation taken out: text[0], the
// ContentSteering element, text[1], slot 0's BaseURLs, text[2], slot 1's, ... (so text has
// slots.size() + 2 entries).
struct DashTemplate {
    std::vector<std::string> text;
    std::vector<DashSlot> slots;
    // Per slot: the blanks its BaseURL lines start with; empty when it shares a line with text
    // (the BaseURLs then follow each other on it).
    std::vector<std::string> indent;
};

// Parses the packaged MPD at catalog path `mpd_path`. Errors (one line) for what cannot be
// steered: not XML, no MPD root, a dynamic (live) MPD, a BaseURL that leaves the catalog (an
// absolute URL), no Representation. Bounded: kMaxDashBytes of input, kMaxDashSlots
// Representations.
Result<DashTemplate> parse_dash_template(std::string_view text, std::string_view mpd_path);
inline constexpr size_t kMaxDashBytes = 8u << 20;
inline constexpr size_t kMaxDashSlots = 4096;

// Writes a player's MPD: `steering_url` (absolute; empty: no ContentSteering element) with
// the first location as the default, and per Representation one BaseURL per location (in the
// order given), serviceLocation = its id, URL = url_for(location index, slot index). Location
// ids must be [A-Za-z0-9._-]; URLs must not hold '<', '&' or control bytes (encode_path).
std::string render_dash(const DashTemplate& t, const std::vector<std::string>& locations,
                        std::string_view steering_url,
                        const std::function<std::string(size_t, size_t)>& url_for);

// The Content Steering response (DASH-IF CS / HLS): {"VERSION":1,"TTL":..,"RELOAD-URI":..,
// "PATHWAY-PRIORITY":[..]}; for DASH also "SERVICE-LOCATION-PRIORITY" (the same list, under the
// name earlier drafts used).
std::string steering_response(uint32_t ttl_s, std::string_view reload_uri,
                              const std::vector<std::string>& priority, bool dash);

// A Pathway or service location id as the manifests carry it: 1-64 of [A-Za-z0-9._-].
bool valid_location_id(std::string_view id);

} // namespace vcdn::media
