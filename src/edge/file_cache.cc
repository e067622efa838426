#include <vcdn/edge/file_cache.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fmt/format.h>

#include <vcdn/base/hash.h>
#include <vcdn/http/conditional.h>
#include <vcdn/http/mime.h>

namespace vcdn::edge {

FileEntry::~FileEntry() {
    if (map) ::munmap(map, map_len);
    if (fd >= 0) ::close(fd);
}

bool FileEntry::ensure_map() {
    if (map) return true;
    if (size == 0) return false;
    void* m = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) return false;
    map = m;
    map_len = size;
    return true;
}

FileCache::FileCache(io::Storage& storage, uint32_t max_entries, uint32_t revalidate_ms)
    : storage_(storage), max_entries_(max_entries ? max_entries : 1),
      revalidate_ms_(revalidate_ms) {
    map_.reserve(max_entries_ * 2);
}

void FileCache::clear() {
    for (auto& [k, e] : map_) {
        e->cached = false;
        e->lru_prev = e->lru_next = nullptr;
        if (e->refs == 0) delete e;
    }
    map_.clear();
    lru_head_ = lru_tail_ = nullptr;
}

FileCache::~FileCache() {
    for (auto& [k, e] : map_) {
        e->cached = false;
        if (e->refs == 0) delete e;
    }
}

FileError FileCache::classify_open_error(int err) {
    switch (err) {
    case ENOENT:
    case ENOTDIR:
    case ENAMETOOLONG:
        return FileError::kNotFound;
    case EXDEV: // resolution would leave the root
    case ELOOP: // symlink loop or a magic link
    case EACCES:
    case EPERM:
        return FileError::kForbidden;
    case EMFILE:
    case ENFILE:
        return FileError::kNoFiles;
    default:
        return io::Storage::is_disk_error(err) ? FileError::kIo : FileError::kOther;
    }
}

namespace {
// Where openat2 exists (Linux 5.6+) it decides; where the kernel (or valgrind, which the CI
// performance guard runs the edge under) answers ENOSYS, open_beneath walks the path one
// component at a time instead. Atomic per step, so equally unable to leave the root, and
// stricter: no symlink is followed at all (O_NOFOLLOW on every component) and ".." is refused.
std::atomic<int> g_openat2{-1}; // -1 unknown, 0 absent, 1 present

FileError open_by_components(int root_fd, char* path, int flags, UniqueFd* out) {
    UniqueFd dir; // the directory of the current component (root_fd at first, not owned)
    int at = root_fd;
    char* comp = path;
    if (path[0] == '/') { // absolute: openat2 with RESOLVE_BENEATH refuses it, and so do we
        errno = EXDEV;
        return FileCache::classify_open_error(EXDEV);
    }
    for (;;) {
        char* slash = std::strchr(comp, '/');
        if (slash) *slash = '\0';
        if (comp[0] == '\0' || std::strcmp(comp, ".") == 0) {
            if (!slash) { // "a/" names a directory: no listings
                errno = ENOENT;
                return FileError::kNotFound;
            }
            comp = slash + 1;
            continue;
        }
        if (std::strcmp(comp, "..") == 0) {
            errno = EXDEV;
            return FileCache::classify_open_error(EXDEV);
        }
        if (!slash) {
            int fd = ::openat(at, comp, flags | O_NOFOLLOW);
            if (fd < 0) return FileCache::classify_open_error(errno);
            out->reset(fd);
            return FileError::kNone;
        }
        int fd = ::openat(at, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        // A symlink standing for a directory: O_PATH|O_NOFOLLOW would open the link itself,
        // which O_DIRECTORY refuses with ENOTDIR. Say ELOOP (refused), as openat2 would for
        // a link out of the root.
        if (fd < 0) {
            int err = errno;
            struct stat st {};
            if (err == ENOTDIR && ::fstatat(at, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                S_ISLNK(st.st_mode))
                err = ELOOP;
            errno = err;
            return FileCache::classify_open_error(err);
        }
        dir.reset(fd);
        at = fd;
        comp = slash + 1;
    }
}
} // namespace

void FileCache::use_component_walk(bool on) {
    g_openat2.store(on ? 0 : -1);
}

FileError FileCache::open_beneath(int root_fd, std::string_view path, UniqueFd* out) {
    char buf[4097];
    if (path.empty()) return FileError::kNotFound; // the root itself: no listings
    if (path.size() >= sizeof buf) return FileError::kNotFound;
    std::memcpy(buf, path.data(), path.size());
    buf[path.size()] = '\0';
    // O_NOATIME: serving a range must not turn into an inode write (the perf profile showed
    // touch_atime on every sendfile). Only the owner (or CAP_FOWNER) may ask for it, so fall
    // back without it on EPERM.
    uint64_t flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | O_NOATIME;
    if (g_openat2.load(std::memory_order_relaxed) == 0) {
        FileError e = open_by_components(root_fd, buf, static_cast<int>(flags), out);
        if (e == FileError::kForbidden && errno == EPERM) {
            std::memcpy(buf, path.data(), path.size()); // the walk cut it at the slashes
            buf[path.size()] = '\0';
            e = open_by_components(root_fd, buf, static_cast<int>(flags & ~uint64_t(O_NOATIME)),
                                   out);
        }
        return e;
    }
    // openat2 with RESOLVE_BENEATH (Linux 5.6+): the kernel refuses any resolution that
    // leaves root_fd, including through symlinks and "..", atomically with the open. A
    // userspace realpath() check would race with renames. O_NONBLOCK so that a FIFO planted
    // in the root cannot block the worker in open().
    open_how how{};
    how.flags = flags;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    long fd = ::syscall(SYS_openat2, root_fd, buf, &how, sizeof how);
    if (fd < 0 && errno == EPERM) {
        how.flags &= ~static_cast<uint64_t>(O_NOATIME);
        fd = ::syscall(SYS_openat2, root_fd, buf, &how, sizeof how);
    }
    if (fd < 0 && errno == ENOSYS) {
        g_openat2.store(0);
        return open_beneath(root_fd, path, out);
    }
    if (fd < 0) return classify_open_error(errno);
    g_openat2.store(1, std::memory_order_relaxed);
    out->reset(static_cast<int>(fd));
    return FileError::kNone;
}

bool FileCache::has_openat2() {
    return g_openat2.load() != 0;
}

FileEntry* FileCache::make_entry(std::string_view path, uint32_t root, int fd,
                                 const struct stat& st) {
    auto* entry = new FileEntry();
    entry->fd = fd;
    entry->root = root;
    entry->size = static_cast<uint64_t>(st.st_size);
    entry->mtime = st.st_mtim.tv_sec;
    entry->mtime_ns = st.st_mtim.tv_nsec;
    entry->dev = st.st_dev;
    entry->ino = st.st_ino;
    // The same in every worker's entry of this version of the file, and 0 for none.
    uint64_t id = mix64(entry->dev * 0x9e3779b97f4a7c15ULL ^ entry->ino);
    id = mix64(id ^ entry->size);
    id = mix64(id ^ static_cast<uint64_t>(entry->mtime) * 1000000000ULL ^
               static_cast<uint64_t>(entry->mtime_ns));
    entry->identity = id ? id : 1;
    std::string etag = http::make_etag(entry->mtime, entry->size);
    entry->etag_len = static_cast<uint8_t>(std::min(etag.size(), sizeof entry->etag));
    std::memcpy(entry->etag, etag.data(), entry->etag_len);
    http::format_http_date(entry->mtime, entry->last_modified);
    entry->key.assign(path);
    entry->content_type = http::content_type_for(path);
    entry->manifest = http::is_manifest(path);
    return entry;
}

FileEntry* FileCache::open_entry(std::string_view path, FileError* err) {
    // The first root that is up and has the file wins. A disk error fails that root and the
    // search goes on; a refusal (a symlink out of the root) ends it.
    *err = FileError::kNotFound;
    for (size_t i = 0; i < storage_.size(); ++i) {
        io::Root& root = storage_.root(i);
        if (!root.up()) continue;
        UniqueFd fd;
        FileError e = open_beneath(root.dir_fd(), path, &fd);
        if (e == FileError::kNotFound) continue;
        if (e == FileError::kIo) {
            const int saved = errno;
            root.read_errors.fetch_add(1);
            root.fail(fmt::format("open {}: {}", path, strerror(saved)));
            continue;
        }
        if (e != FileError::kNone) {
            *err = e;
            return nullptr;
        }
        struct stat st {};
        if (::fstat(fd.get(), &st) != 0) {
            const int saved = errno;
            if (io::Storage::is_disk_error(saved)) {
                root.fail(fmt::format("stat {}: {}", path, strerror(saved)));
                continue;
            }
            *err = FileError::kOther;
            return nullptr;
        }
        if (!S_ISREG(st.st_mode)) {
            *err = FileError::kNotFound; // directories, devices, FIFOs, sockets are not content
            return nullptr;
        }
        FileEntry* entry = make_entry(path, static_cast<uint32_t>(i), fd.release(), st);
        *err = FileError::kNone;
        return entry;
    }
    if (*err == FileError::kNotFound && on_failed_root(path)) *err = FileError::kLost;
    return nullptr;
}

bool FileCache::on_failed_root(std::string_view path) const {
    for (size_t i = 0; i < storage_.size(); ++i) {
        const io::Root& root = storage_.root(i);
        if (root.up()) continue;
        auto inv = root.inventory();
        if (inv && inv->files.count(std::string(path))) return true;
    }
    return false;
}

FileEntry* FileCache::lookup(std::string_view path, int64_t now_ms, FileError* err) {
    *err = FileError::kNone;
    auto it = map_.find(path);
    if (it != map_.end() && !storage_.root(it->second->root).up()) {
        // Its disk failed since it was cached: look again on the roots still up.
        remove(it->second);
        it = map_.end();
    }
    if (it != map_.end()) {
        FileEntry* e = it->second;
        if (now_ms - e->validated_ms < static_cast<int64_t>(revalidate_ms_)) {
            ++stats_.hits;
            touch(e);
            ++e->refs;
            return e;
        }
        // Stale: re-open by path and compare identity.
        ++stats_.revalidations;
        FileEntry* fresh = open_entry(path, err);
        if (!fresh) {
            remove(e);
            return nullptr;
        }
        if (fresh->dev == e->dev && fresh->ino == e->ino && fresh->size == e->size &&
            fresh->mtime == e->mtime && fresh->mtime_ns == e->mtime_ns) {
            delete fresh;
            e->validated_ms = now_ms;
            ++stats_.hits;
            touch(e);
            ++e->refs;
            return e;
        }
        remove(e);
        fresh->validated_ms = now_ms;
        insert(fresh);
        ++fresh->refs;
        return fresh;
    }
    ++stats_.misses;
    FileEntry* e = open_entry(path, err);
    if (!e) return nullptr;
    e->validated_ms = now_ms;
    insert(e);
    ++e->refs;
    return e;
}

FileEntry* FileCache::find(std::string_view path, int64_t now_ms, bool* stale) {
    *stale = false;
    auto it = map_.find(path);
    if (it == map_.end()) {
        ++stats_.misses;
        return nullptr;
    }
    FileEntry* e = it->second;
    if (!storage_.root(e->root).up()) {
        remove(e); // its disk failed since it was cached
        ++stats_.misses;
        return nullptr;
    }
    ++stats_.hits;
    *stale = !e->revalidating && now_ms - e->validated_ms >= static_cast<int64_t>(revalidate_ms_);
    touch(e);
    ++e->refs;
    return e;
}

FileEntry* FileCache::adopt(std::string_view path, uint32_t root, int fd, const struct stat& st,
                            int64_t now_ms, FileError* err) {
    *err = FileError::kNone;
    if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        *err = FileError::kNotFound; // directories, devices, FIFOs, sockets are not content
        return nullptr;
    }
    auto it = map_.find(path);
    if (it != map_.end() && storage_.root(it->second->root).up()) {
        ::close(fd); // two viewers opened it at once: keep the one cached first
        FileEntry* e = it->second;
        touch(e);
        ++e->refs;
        return e;
    }
    if (it != map_.end()) remove(it->second);
    FileEntry* e = make_entry(path, root, fd, st);
    e->validated_ms = now_ms;
    insert(e);
    ++e->refs;
    return e;
}

void FileCache::revalidated(FileEntry* e, const struct stat* st, int64_t now_ms) {
    e->revalidating = false;
    ++stats_.revalidations;
    if (!e->cached) return; // evicted meanwhile
    const bool same = st && S_ISREG(st->st_mode) && static_cast<uint64_t>(st->st_dev) == e->dev &&
                      static_cast<uint64_t>(st->st_ino) == e->ino &&
                      static_cast<uint64_t>(st->st_size) == e->size &&
                      st->st_mtim.tv_sec == e->mtime && st->st_mtim.tv_nsec == e->mtime_ns;
    if (same)
        e->validated_ms = now_ms;
    else
        remove(e); // the next request opens what the path holds now
}

void FileCache::release(FileEntry* e) {
    if (--e->refs == 0 && !e->cached) delete e;
}

void FileCache::insert(FileEntry* e) {
    while (map_.size() >= max_entries_ && lru_tail_)
        remove(lru_tail_);
    e->cached = true;
    map_.emplace(e->key, e);
    e->lru_prev = nullptr;
    e->lru_next = lru_head_;
    if (lru_head_) lru_head_->lru_prev = e;
    lru_head_ = e;
    if (!lru_tail_) lru_tail_ = e;
}

void FileCache::lru_unlink(FileEntry* e) {
    if (e->lru_prev)
        e->lru_prev->lru_next = e->lru_next;
    else
        lru_head_ = e->lru_next;
    if (e->lru_next)
        e->lru_next->lru_prev = e->lru_prev;
    else
        lru_tail_ = e->lru_prev;
    e->lru_prev = e->lru_next = nullptr;
}

void FileCache::touch(FileEntry* e) {
    if (lru_head_ == e) return;
    lru_unlink(e);
    e->lru_next = lru_head_;
    if (lru_head_) lru_head_->lru_prev = e;
    lru_head_ = e;
    if (!lru_tail_) lru_tail_ = e;
}

void FileCache::remove(FileEntry* e) {
    lru_unlink(e);
    map_.erase(e->key);
    e->cached = false;
    if (e->refs == 0) delete e;
}

} // namespace vcdn::edge
