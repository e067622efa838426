#pragma once
// Filler internals shared by filler.cc (manifest, downloads, deletions) and scrubber.cc.
#include <curl/curl.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <fmt/format.h>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <vcdn/base/sha256.h>
#include <vcdn/fill/filler.h>
#include <vcdn/io/storage.h>

namespace vcdn::fill {

inline constexpr const char* kPartDir = ".vcdn-fill";
inline constexpr size_t kKinds = 3; // SourceKind values

// True when the file at `rel` carries the fill's mark (kFillMark): the fill wrote it.
bool has_fill_mark(int dir_fd, const std::string& rel);

struct Job {
    size_t file = 0;        // index into the manifest's files
    size_t src = 0;         // the next source to try
    int64_t started_ms = 0; // first attempt (escalation waits count from it)
    int64_t not_before_ms = 0;
    uint32_t rounds = 0;   // times every source failed
    std::vector<bool> bad; // sources that served bytes that did not verify
    bool active = false;
    bool done = false; // verified and in place: removed from the queue by the filler loop
};

struct Transfer {
    Filler::Impl* owner = nullptr;
    Job* job = nullptr;
    CURL* h = nullptr;
    curl_slist* headers = nullptr;
    int fd = -1;
    size_t root = 0;
    std::string part_rel; // relative to the root
    uint64_t size = 0;
    uint64_t offset = 0; // bytes already in the part file when the request was made
    uint64_t got = 0;    // bytes received in this transfer
    Sha256 hash;
    Source src;
    bool checked = false;
    long status = 0;
    int64_t range_start = -1; // from Content-Range
    int64_t range_total = -1;
    int64_t content_length = -1;
    std::string err;
    bool disk_full = false; // a write failed with ENOSPC/EDQUOT: the root, not the source
    bool paused = false;
    int64_t started_us = 0;
    char errbuf[CURL_ERROR_SIZE] = {0};
};

struct Filler::Impl {
    Options opt;
    io::Storage* storage = nullptr;
    Hooks hooks;
    FillWindow window;

    std::thread thread, scrub_thread;
    mutable std::mutex mu;
    std::condition_variable cv;
    bool stopping = false;

    // From the heartbeat thread (under mu).
    int64_t announced_version = 0;
    int64_t manifest_fetched_s = 0; // wall clock of the last manifest fetch (filler thread)
    int64_t ack_version = 0;
    int64_t ack_seen_ms = 0; // when ack first reached the installed manifest's version
    uint32_t delete_delay_ms = 60000;
    std::deque<std::string> refill;         // paths the scrubber removed
    std::optional<FillConfig> posted_cfg;   // a SIGHUP's live settings, for the filler thread
    void apply_config(const FillConfig& c); // filler thread

    // Owned by the filler thread; copied into `snap` (under mu) for the other threads.
    std::shared_ptr<const Manifest> manifest;
    std::unordered_map<std::string, size_t> wanted; // path -> index in manifest->files
    std::vector<bool> present;                      // by manifest index
    std::list<Job> jobs; // missing files, hottest first (stable: transfers point at them)
    std::shared_ptr<const Manifest> scrub_manifest; // under mu: the scrubber's copy
    std::vector<std::unique_ptr<Transfer>> active;
    CURLM* multi = nullptr;
    std::unique_ptr<TokenBucket> bucket;
    bool paused_all = false;
    // Changes to the roots' inventories (what the heartbeat reports), applied in one copy
    // per root at most once a second: cheaper than rescanning a root of 100k files.
    bool inventory_dirty = false;
    bool rescan_needed = false; // the scrubber removed files: rescan (rare)
    std::map<size_t, std::vector<std::pair<std::string, uint64_t>>> inv_added;
    std::map<size_t, std::vector<std::string>> inv_removed;
    void apply_inventory_changes();
    int64_t last_rescan_ms = 0;
    int64_t last_progress_log_ms = 0;
    int64_t window_id = -1; // the window the byte budget counts for
    uint64_t window_bytes = 0;
    bool deletions_done_for = false;
    // Deletions held because they exceed max_delete_share: the version they were held for
    // (filler thread), and the version an operator allowed (under mu).
    int64_t deletions_held_for = 0;
    uint64_t held_files = 0, held_bytes = 0, held_stored_bytes = 0; // under mu
    int64_t deletions_allowed_for = 0;
    std::atomic<bool> deletions_held{false};
    std::atomic<uint64_t> kept_unowned{0}, unmarked{0}, scrub_unowned{0}, scrub_held{0};
    bool mark_warned = false;
    uint64_t scrub_removed_for_version = 0; // scrubber thread
    int64_t scrub_version = 0;
    int64_t fetch_failed_ms = 0;
    int64_t fill_started_ms = 0;
    uint64_t fill_started_bytes = 0;
    bool complete_logged = false;

    // Counters (any thread reads).
    std::atomic<uint64_t> bytes_by_kind[kKinds] = {};
    std::atomic<uint64_t> files_by_kind[kKinds] = {};
    std::atomic<uint64_t> verify_failures{0}, errors{0}, deleted{0}, resumed{0};
    std::atomic<uint64_t> scrub_files{0}, scrub_bytes{0}, scrub_mismatches{0};
    std::atomic<uint64_t> total_bytes{0};
    // A root whose writes failed for want of space takes no new transfer until this time
    // (filler thread; by root index), and then only when statvfs shows room again.
    std::vector<int64_t> root_full_until_ms;
    std::atomic<uint64_t> disk_full{0}, roots_full{0};
    bool root_full(size_t root, int64_t now_ms) const {
        return root < root_full_until_ms.size() && root_full_until_ms[root] > now_ms;
    }

    struct Snapshot {
        int64_t version = 0;
        uint64_t files_total = 0, files_to_go = 0, bytes_total = 0, bytes_to_go = 0;
        double rate_bps = 0;
        std::string state = "no-manifest";
        bool in_window = false;
        std::vector<std::string> active;                          // "peer a1 /t/1/v.mp4"
        std::vector<std::pair<std::string, uint64_t>> scrub_list; // present files: path, idx
    } snap;
    std::deque<std::pair<int64_t, uint64_t>> rate_samples; // (ms, total_bytes)

    void run();
    void scrub_run();
    bool fetch_manifest(int64_t version);
    void install(std::shared_ptr<const Manifest> m);
    bool file_present(const WantedFile& f) const;
    void maybe_delete(int64_t now_ms);
    void start_transfers(int64_t now_ms);
    bool start_one(Job& job, int64_t now_ms);
    void finish(Transfer* t, CURLcode code, int64_t now_ms);
    void advance(Job& job, bool not_yet, bool mismatch, const std::string& why, int64_t now_ms);
    void abort_all(const char* why);
    void close_transfer(Transfer* t, bool keep_part);
    void update_snapshot(int64_t now_ms, bool in_window);
    int pick_root(const WantedFile& f, int64_t now_ms) const;
    std::string final_rel(const WantedFile& f) const { return f.path.substr(1); }
    // By content and path: a partial download resumes only into the same file, and two
    // paths with the same content never share one.
    static std::string part_name(const WantedFile& f) {
        return fmt::format("{}-{}.part", f.sha256, Sha256::hex_of(f.path).substr(0, 16));
    }
    std::string part_rel(const WantedFile& f) const {
        return fmt::format("{}/{}", kPartDir, part_name(f));
    }
};

} // namespace vcdn::fill
