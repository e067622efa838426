#pragma once
// Content roots: one directory per disk, each tagged with a storage tier. A file is looked up
// across the roots that are up, in configured order.
//
// A root fails when reads from it return I/O errors, when it stops answering, or when the
// directory is no longer the mounted file system it was at start. Failure is sticky until
// restart (a flapping disk is worse than a lost one): the edge stops using the root, serves
// what the others hold, and reports the root's last known inventory as lost files so that
// steering can send players elsewhere.
//
// Thread safety: Root's identity is immutable after start; up()/fail() are atomic and may be
// called from any thread; the inventory and failure reason are behind a mutex and are read
// only off the request path (admin, heartbeat, a miss while a root is failed).
#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include <vcdn/base/result.h>
#include <vcdn/base/unique_fd.h>

namespace vcdn::io {

enum class Tier : uint8_t { kFlash, kDisk };
const char* tier_name(Tier t);
bool parse_tier(std::string_view s, Tier* out);

struct RootConfig {
    std::string path;
    Tier tier = Tier::kDisk;
    bool operator==(const RootConfig&) const = default;
};

// "PATH" or "PATH:flash" / "PATH:disk".
RootConfig parse_root_spec(std::string_view spec);

// The files a root held at its last scan: relative path ("t/1/v.mp4") → size.
struct Inventory {
    std::unordered_map<std::string, uint64_t> files;
    uint64_t bytes = 0;
    int64_t scanned_at_ms = 0; // realtime
    bool complete = true;      // false when the scan hit errors or limits
};

class Root {
public:
    Root(size_t index, RootConfig cfg, UniqueFd dir, dev_t dev);

    size_t index() const { return index_; }
    const std::string& path() const { return cfg_.path; }
    Tier tier() const { return cfg_.tier; }
    int dir_fd() const { return dir_.get(); }
    dev_t device() const { return dev_; }

    bool up() const { return up_.load(std::memory_order_acquire); }
    // Marks the root failed; the first caller's reason is kept and logged. Returns true when
    // this call made the change.
    bool fail(const std::string& reason);
    std::string failure_reason() const;
    int64_t failed_at_ms() const;

    void set_inventory(std::shared_ptr<const Inventory> inv);
    std::shared_ptr<const Inventory> inventory() const;

    // Counted from any thread (rare events only).
    std::atomic<uint64_t> read_errors{0};
    std::atomic<int64_t> last_check_ok_ms{0}; // monotonic

private:
    const size_t index_;
    const RootConfig cfg_;
    const UniqueFd dir_;
    const dev_t dev_;
    std::atomic<bool> up_{true};
    mutable std::mutex mu_;
    std::string reason_;
    int64_t failed_at_ms_ = 0;
    std::shared_ptr<const Inventory> inventory_;
};

struct LostFile {
    std::string path; // URL path, "/t/1/v.mp4"
    uint64_t size = 0;
    size_t root = 0;
};

class Storage {
public:
    // Opens every root (a missing or unreadable root is an error at start) and scans their
    // inventories.
    static Result<std::unique_ptr<Storage>> open(const std::vector<RootConfig>& roots);
    ~Storage();

    size_t size() const { return roots_.size(); }
    Root& root(size_t i) { return *roots_[i]; }
    const Root& root(size_t i) const { return *roots_[i]; }
    size_t up_count() const;

    // Errors that mean the disk (not the request) is broken.
    static bool is_disk_error(int err);

    // Background health checks: every interval each root is stat'ed by its own thread (a hung
    // disk blocks only that thread); a root whose check fails, whose device changed (it was
    // unmounted) or that has not answered for `stall_ms` is failed. Inventories are rescanned
    // every inventory_ms.
    void start_monitor(uint32_t interval_ms, uint32_t stall_ms, uint32_t inventory_ms);
    void stop_monitor();
    // One health pass over every root, synchronously (tests, start-up).
    void check_now();
    void rescan(size_t i);

    // Files that were on failed roots at their last scan and are on no root that is up.
    std::vector<LostFile> lost_files() const;
    // Admin view: roots, their state and the lost files, as JSON.
    std::string status_json() const;

private:
    Storage() = default;

    // Shared with the monitor threads, which may outlive the Storage if a disk hangs them.
    std::vector<std::shared_ptr<Root>> roots_;
    std::shared_ptr<std::atomic<bool>> stop_ = std::make_shared<std::atomic<bool>>(false);
    std::vector<std::thread> threads_;
    std::shared_ptr<std::atomic<int>> running_ = std::make_shared<std::atomic<int>>(0);
};

// One health check of one root (stat through its descriptor and through its path); fails the
// root on an I/O error or when the path is no longer the same device.
void check_root(Root& r);

// Walks a directory tree (skipping dot-files, as the edge never serves them).
std::shared_ptr<Inventory> scan_inventory(const std::string& root, size_t max_files = 10000000);

} // namespace vcdn::io
