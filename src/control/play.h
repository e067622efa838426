#pragma once
// Playback for standard players, the control plane's side (api_play.cc serves it): which files
// make a title, and the packaged manifests a generated one starts from — fetched from the
// origin (or else an edge that holds them), accepted only when their size and SHA-256 are the
// catalog's, parsed once and kept.
//
// Threads: index_titles is pure. ManifestCache is thread-safe; its fetches block (network) and
// run only on the HTTP service's worker pool (blocking routes), never on an event loop.
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <vcdn/base/result.h>
#include <vcdn/control/config.h>
#include <vcdn/control/store.h>
#include <vcdn/media/dash.h>
#include <vcdn/media/hls.h>

namespace vcdn::control {

struct View;

// A title's files and its packaged manifests (View::titles).
struct TitleFiles {
    std::vector<uint32_t> files; // indices into View::files, in path order
    // Candidate top manifests: the title's .mpd / .m3u8 files, shallowest first, then the
    // usual names of a multivariant playlist (master, main, index, playlist), then by name.
    std::vector<uint32_t> mpds, m3u8s;
};
using TitleIndex = std::unordered_map<uint32_t, TitleFiles>;
// Titles numbered 0 (files at the root, not a title) are left out.
std::shared_ptr<const TitleIndex> index_titles(const std::vector<CatalogEntry>& files);

// Packaged manifests by path and SHA-256, in memory up to cache_mb (least recently used go
// first).
class ManifestCache {
public:
    explicit ManifestCache(const ControlPlay& cfg) : cfg_(cfg) {}

    // The bytes of catalog file `f`, verified: cached, or fetched from the fleet's origin and
    // then from up to two edges that hold it (signed URLs), each answer checked against the
    // catalog's size and SHA-256. One-line error when no source gave the right bytes.
    Result<std::shared_ptr<const std::string>> text(const View& v, const CatalogEntry& f);
    // The parsed forms of a manifest, cached with its bytes.
    Result<std::shared_ptr<const media::DashTemplate>> dash(const View& v, const CatalogEntry& f);
    // A multivariant playlist (an error for a media playlist).
    Result<std::shared_ptr<const media::HlsMaster>> hls_master(const View& v,
                                                               const CatalogEntry& f);
    // The files a media playlist names.
    Result<std::shared_ptr<const std::vector<std::string>>> hls_files(const View& v,
                                                                      const CatalogEntry& f);

    struct Stats {
        uint64_t hits = 0, fetches = 0, fetch_failures = 0, mismatches = 0, parse_failures = 0;
        uint64_t entries = 0, bytes = 0;
    };
    Stats stats() const;

private:
    enum Form { kDash, kHls, kFiles, kForms };
    struct Entry {
        std::shared_ptr<const std::string> text;
        std::shared_ptr<const media::DashTemplate> dash;
        std::shared_ptr<const media::HlsMaster> hls;
        std::shared_ptr<const std::vector<std::string>> files;
        std::string errors[kForms]; // a form that did not parse, so that it is not parsed again
        std::list<std::string>::iterator lru;
    };
    // The verified bytes from the first source that gives them (no lock held).
    Result<std::string> fetch(const View& v, const CatalogEntry& f);
    template <class T, class Parse>
    Result<std::shared_ptr<const T>> parsed(const View& v, const CatalogEntry& f, Form form,
                                            std::shared_ptr<const T> Entry::*slot, Parse parse);
    Entry* find_locked(const std::string& key); // and mark it used
    static std::string key_of(const CatalogEntry& f);

    ControlPlay cfg_;
    mutable std::mutex mu_;
    std::unordered_map<std::string, Entry> by_sha_; // by key_of()
    std::list<std::string> lru_;                    // keys, most recent first
    uint64_t bytes_ = 0;
    // A file no source could give is not asked for again for kRetryMs (an origin that is down
    // costs one fetch per few seconds, not one per player).
    std::unordered_map<std::string, std::pair<int64_t, std::string>> failed_; // key -> until, why
    static constexpr int64_t kRetryMs = 5000;
    Stats stats_;
};

} // namespace vcdn::control
