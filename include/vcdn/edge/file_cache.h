#pragma once
// Per-worker cache of open content files, so the request path does not open, stat and close
// a file for every range. Owned and used by one worker thread only (no locks).
//
// Lifetime: lookup() returns an entry with a reference taken; the caller must release() it
// when its response is done. An entry evicted or replaced while referenced stays alive until
// its last release, so a response in flight keeps its file descriptor.
//
// Freshness: an entry older than revalidate_ms is re-opened by path and compared (device,
// inode, size, mtime); a file that changed is replaced, one that vanished is dropped. Content
// is expected to be replaced by rename (fill does that), never rewritten in place.
#include <sys/stat.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include <vcdn/base/unique_fd.h>
#include <vcdn/http/date.h>
#include <vcdn/io/storage.h>

namespace vcdn::edge {

struct FileEntry {
    int fd = -1;
    uint32_t root = 0; // index of the root it was found on
    uint64_t size = 0;
    int64_t mtime = 0; // seconds
    uint64_t dev = 0, ino = 0;
    int64_t mtime_ns = 0;
    char etag[40] = {};
    uint8_t etag_len = 0;
    char last_modified[http::kHttpDateLen] = {};
    std::string_view content_type;
    bool manifest = false; // http::is_manifest: takes manifest_cache_control
    std::string key;       // relative path
    // The residency memory's key: the same for every worker's entry of one version of a file
    // (device, inode, size, modification time), never 0.
    uint64_t identity = 0;

    // A read-only mapping of the whole file, made on demand for mincore(2) residency checks.
    void* map = nullptr;
    size_t map_len = 0;
    // Maps the file if not yet mapped; false when it cannot be (empty file, no memory).
    bool ensure_map();

    // Cache bookkeeping.
    uint32_t refs = 0;
    bool cached = false;
    bool revalidating = false; // an asynchronous revalidation is under way
    int64_t validated_ms = 0;
    FileEntry* lru_prev = nullptr;
    FileEntry* lru_next = nullptr;

    std::string_view etag_view() const { return std::string_view(etag, etag_len); }
    std::string_view last_modified_view() const {
        return std::string_view(last_modified, http::kHttpDateLen);
    }
    ~FileEntry();
};

enum class FileError : uint8_t {
    kNone,
    kNotFound,  // 404: missing, not a regular file
    kForbidden, // 403: permission, or the path leaves the root (symlink)
    kNoFiles,   // 503: out of file descriptors
    kIo,        // 503: the disk failed while opening
    kLost,      // 503: the file was on a root that has failed
    kOther,     // 500
};

struct FileCacheStats {
    uint64_t hits = 0, misses = 0, revalidations = 0;
};

class FileCache {
public:
    // `storage` must outlive the cache.
    FileCache(io::Storage& storage, uint32_t max_entries, uint32_t revalidate_ms);
    ~FileCache();
    FileCache(const FileCache&) = delete;
    FileCache& operator=(const FileCache&) = delete;

    // Finds or opens `path` (relative to the root), blocking on the file system when it has to
    // (disk.mode = blocking). On success returns an entry with one reference for the caller.
    FileEntry* lookup(std::string_view path, int64_t now_ms, FileError* err);
    void release(FileEntry* e);

    // The non-blocking interface (the asynchronous disk path); none of these touch the file
    // system. find(): a cached entry on a root that is up, with a reference for the caller,
    // or nullptr; *stale says it is due for revalidation (the caller starts one at most once:
    // it sets e->revalidating).
    FileEntry* find(std::string_view path, int64_t now_ms, bool* stale);
    // Takes a file opened elsewhere (owns fd): caches it and returns it with a reference, or
    // returns the entry another open cached meanwhile (fd is then closed). nullptr with *err set
    // when it is not a regular file.
    FileEntry* adopt(std::string_view path, uint32_t root, int fd, const struct stat& st,
                     int64_t now_ms, FileError* err);
    // The outcome of an asynchronous revalidation of e: the path now resolves to `st`, or to
    // nothing (st == nullptr). An entry that changed or vanished is dropped from the cache.
    void revalidated(FileEntry* e, const struct stat* st, int64_t now_ms);
    // Was `path` on a root that has failed (its last inventory)? Then a miss is a lost file.
    bool on_failed_root(std::string_view path) const;
    static FileError classify_open_error(int err);

    size_t size() const { return map_.size(); }
    // Drops every cached entry now (those still referenced go when released): a worker with a
    // descriptor table of its own closes its files in its own thread before it ends.
    void clear();
    const FileCacheStats& stats() const { return stats_; }

    // Opens a path beneath root_fd: symlinks may be followed but never out of the root. Where
    // the kernel lacks openat2 (ENOSYS: before Linux 5.6, or under valgrind) the path is
    // walked one component at a time and no symlink is followed.
    static FileError open_beneath(int root_fd, std::string_view path, UniqueFd* out);
    // False once open_beneath found no openat2.
    static bool has_openat2();
    // Walk components from now on (true), or try openat2 again (false): for a kernel whose
    // seccomp filter refuses openat2 with EPERM rather than ENOSYS, and for tests.
    static void use_component_walk(bool on);

private:
    struct Hash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    FileEntry* open_entry(std::string_view path, FileError* err);
    static FileEntry* make_entry(std::string_view path, uint32_t root, int fd,
                                 const struct stat& st);
    void insert(FileEntry* e);
    void remove(FileEntry* e); // from map and LRU; deletes when unreferenced
    void touch(FileEntry* e);
    void lru_unlink(FileEntry* e);

    io::Storage& storage_;
    uint32_t max_entries_;
    uint32_t revalidate_ms_;
    std::unordered_map<std::string, FileEntry*, Hash, std::equal_to<>> map_;
    FileEntry* lru_head_ = nullptr; // most recent
    FileEntry* lru_tail_ = nullptr;
    FileCacheStats stats_;
};

} // namespace vcdn::edge
