#pragma once
// The manifest: what one edge must hold (path, size, SHA-256, storage tier) and the ranked
// sources it fills each file from (peers of its site, then parent sites, then the origin).
// The control plane encodes it (GET /api/v1/edges/<id>/manifest); the edge's fill decodes it
// and never writes, fetches or deletes anything the decoder did not check: paths are clean
// absolute paths (no "..", no dot-files), hashes are 64 hex digits, sources are http(s) base
// URLs, counts and sizes are bounded.
//
// Versions follow heartbeat.h's rule (`schema`, absent = 1; 1..K+1 accepted). Schema
// history: 1: the fields below without `query` and `signed_until`, with a fleet-wide
// `origin_token` (no longer read or written); 2: each source's signed `query`, `signed_until`.
//
// Pure; any thread.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <vcdn/base/result.h>

namespace vcdn::wire {

inline constexpr int64_t kManifestSchema = 2;
inline constexpr size_t kMaxManifestBytes = 256u << 20;
inline constexpr size_t kMaxManifestFiles = 2000000;
inline constexpr size_t kMaxSourcesPerFile = 64;

enum class SourceKind : uint8_t { kPeer, kTier, kOrigin };
const char* source_kind_name(SourceKind k);

struct Source {
    SourceKind kind = SourceKind::kOrigin;
    std::string url;  // base URL ("http://host:port"), no trailing '/'
    std::string edge; // the source edge's id; empty for the origin
    // Schema 2: what to ask with ("e=..&k=..&s=.."): a signature made with this source's own
    // key for this file's path only. Empty when the source takes unsigned requests.
    std::string query;
    bool operator==(const Source&) const = default;
};

struct WantedFile {
    std::string path; // "/t/1/v-3000k.mp4"
    uint64_t size = 0;
    std::string sha256; // 64 lowercase hex digits
    bool flash = false; // the flash tier (else disk)
    std::vector<Source> sources;
    bool operator==(const WantedFile&) const = default;
};

struct Manifest {
    int64_t schema = kManifestSchema;
    std::string edge;
    std::string site;
    int64_t version = 0;
    int64_t generation = 0;
    uint32_t peer_wait_ms = 0; // escalation: how long a peer may answer "not yet"
    uint32_t tier_wait_ms = 0; // ... and a parent site
    int64_t signed_until = 0;  // schema 2: the sources' signatures expire then (unix seconds)
    std::vector<WantedFile> files;
    uint64_t bytes() const;
    bool operator==(const Manifest&) const = default;
};

std::string encode(const Manifest& m);
Result<Manifest> decode_manifest(std::string_view text, int64_t known = kManifestSchema);

// A file path the edge may create under a root: starts with '/', no empty, "." or ".."
// segment, no segment starting with '.', no NUL or backslash, at most 1024 bytes.
bool safe_path(std::string_view path);
// "http://host[:port]" or "https://...": no path, query, spaces or control bytes.
bool base_url(std::string_view url);

} // namespace vcdn::wire
