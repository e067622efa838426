#include <vcdn/io/storage.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <unordered_set>

#include <vcdn/base/log.h>
#include <vcdn/base/time.h>

namespace vcdn::io {

const char* tier_name(Tier t) {
    return t == Tier::kFlash ? "flash" : "disk";
}

bool parse_tier(std::string_view s, Tier* out) {
    if (s == "flash")
        *out = Tier::kFlash;
    else if (s == "disk")
        *out = Tier::kDisk;
    else
        return false;
    return true;
}

RootConfig parse_root_spec(std::string_view spec) {
    RootConfig rc;
    size_t colon = spec.rfind(':');
    Tier t;
    if (colon != std::string_view::npos && parse_tier(spec.substr(colon + 1), &t)) {
        rc.path = std::string(spec.substr(0, colon));
        rc.tier = t;
    } else {
        rc.path = std::string(spec);
    }
    return rc;
}

Root::Root(size_t index, RootConfig cfg, UniqueFd dir, dev_t dev)
    : index_(index), cfg_(std::move(cfg)), dir_(std::move(dir)), dev_(dev) {
    last_check_ok_ms.store(monotonic_ms());
}

bool Root::fail(const std::string& reason) {
    {
        std::lock_guard<std::mutex> lk(mu_);
        if (!up_.load(std::memory_order_acquire)) return false;
        reason_ = reason;
        failed_at_ms_ = realtime_ns() / 1000000;
        up_.store(false, std::memory_order_release);
    }
    auto inv = inventory();
    log::error("storage: root {} ({}, {}) FAILED: {}; no longer used; {} files it held are lost "
               "unless another root has them",
               index_, cfg_.path, tier_name(cfg_.tier), reason, inv ? inv->files.size() : 0);
    return true;
}

std::string Root::failure_reason() const {
    std::lock_guard<std::mutex> lk(mu_);
    return reason_;
}

int64_t Root::failed_at_ms() const {
    std::lock_guard<std::mutex> lk(mu_);
    return failed_at_ms_;
}

void Root::set_inventory(std::shared_ptr<const Inventory> inv) {
    std::lock_guard<std::mutex> lk(mu_);
    inventory_ = std::move(inv);
}

std::shared_ptr<const Inventory> Root::inventory() const {
    std::lock_guard<std::mutex> lk(mu_);
    return inventory_;
}

std::shared_ptr<Inventory> scan_inventory(const std::string& root, size_t max_files) {
    namespace fs = std::filesystem;
    auto inv = std::make_shared<Inventory>();
    inv->scanned_at_ms = realtime_ns() / 1000000;
    std::error_code ec;
    fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec);
    if (ec) {
        inv->complete = false;
        return inv;
    }
    const size_t prefix = root.size() + (root.back() == '/' ? 0 : 1);
    for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (ec) {
            inv->complete = false;
            break;
        }
        const fs::path& p = it->path();
        const std::string name = p.filename().string();
        if (!name.empty() && name.front() == '.') {
            if (it->is_directory(ec)) it.disable_recursion_pending();
            continue;
        }
        if (!it->is_regular_file(ec)) continue;
        uint64_t size = it->file_size(ec);
        if (ec) continue;
        inv->files.emplace(p.string().substr(prefix), size);
        inv->bytes += size;
        if (inv->files.size() >= max_files) {
            inv->complete = false;
            break;
        }
    }
    return inv;
}

Result<std::unique_ptr<Storage>> Storage::open(const std::vector<RootConfig>& roots) {
    std::unique_ptr<Storage> s(new Storage());
    for (size_t i = 0; i < roots.size(); ++i) {
        const RootConfig& rc = roots[i];
        UniqueFd fd(::open(rc.path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!fd) return Error::from_errno("content root " + rc.path);
        struct stat st {};
        if (::fstat(fd.get(), &st) != 0) return Error::from_errno("content root " + rc.path);
        for (const auto& other : s->roots_)
            if (other->device() == st.st_dev && other->path() == rc.path)
                return Error{fmt::format("content root {} is listed twice", rc.path)};
        s->roots_.push_back(std::make_shared<Root>(i, rc, std::move(fd), st.st_dev));
    }
    for (size_t i = 0; i < s->roots_.size(); ++i)
        s->rescan(i);
    return s;
}

Storage::~Storage() {
    stop_monitor();
}

size_t Storage::up_count() const {
    size_t n = 0;
    for (const auto& r : roots_)
        n += r->up() ? 1 : 0;
    return n;
}

bool Storage::is_disk_error(int err) {
    switch (err) {
    case EIO:      // the device reported an error
    case ENOTCONN: // a FUSE or network file system whose server is gone
    case ESTALE:   // the file system under an open handle went away
    case ENXIO:
    case ENODEV:
    case EROFS:
        return true;
    default:
        return false;
    }
}

void Storage::rescan(size_t i) {
    Root& r = *roots_[i];
    if (!r.up()) return;
    r.set_inventory(scan_inventory(r.path()));
}

void check_root(Root& r) {
    if (!r.up()) return;
    struct stat here {};
    if (::fstatat(r.dir_fd(), ".", &here, 0) != 0) {
        int e = errno;
        if (Storage::is_disk_error(e)) r.fail(fmt::format("health check: {}", strerror(e)));
        return;
    }
    struct stat by_path {};
    if (::stat(r.path().c_str(), &by_path) != 0) {
        int e = errno;
        r.fail(fmt::format("health check: {}: {}", r.path(), strerror(e)));
        return;
    }
    if (by_path.st_dev != r.device())
        r.fail(fmt::format("health check: {} is no longer the file system it was at start "
                           "(unmounted?)",
                           r.path()));
    else
        r.last_check_ok_ms.store(monotonic_ms());
}

void Storage::check_now() {
    for (auto& r : roots_)
        check_root(*r);
}

void Storage::start_monitor(uint32_t interval_ms, uint32_t stall_ms, uint32_t inventory_ms) {
    if (!threads_.empty()) return;
    stop_->store(false);
    // The threads hold only shared state (roots, flags): one stuck in a hung disk can be
    // left behind at shutdown without touching a destroyed Storage.
    auto stop = stop_;
    auto running = running_;
    auto sleep_for = [stop](int64_t ms) {
        for (int64_t slept = 0; slept < ms && !stop->load(); slept += 20)
            usleep(20000);
    };
    for (const auto& root : roots_) {
        running->fetch_add(1);
        threads_.emplace_back([root, stop, running, interval_ms, inventory_ms, sleep_for] {
            int64_t next_scan = monotonic_ms() + inventory_ms;
            while (!stop->load() && root->up()) {
                check_root(*root);
                if (inventory_ms > 0 && monotonic_ms() >= next_scan && root->up()) {
                    root->set_inventory(scan_inventory(root->path()));
                    next_scan = monotonic_ms() + inventory_ms;
                }
                sleep_for(interval_ms);
            }
            running->fetch_sub(1);
        });
    }
    // A disk that hangs blocks its checker thread; this one notices the silence.
    auto roots = roots_;
    running->fetch_add(1);
    threads_.emplace_back([roots, stop, running, interval_ms, stall_ms, sleep_for] {
        while (!stop->load()) {
            int64_t now = monotonic_ms();
            for (const auto& r : roots)
                if (r->up() && now - r->last_check_ok_ms.load() > int64_t{stall_ms})
                    r->fail(fmt::format("health check: no answer for {} ms", stall_ms));
            sleep_for(interval_ms);
        }
        running->fetch_sub(1);
    });
}

void Storage::stop_monitor() {
    stop_->store(true);
    // Give the checkers a moment; one stuck in a hung disk is detached (it owns its state).
    for (int i = 0; i < 100 && running_->load() > 0; ++i)
        usleep(10000);
    for (auto& t : threads_) {
        if (running_->load() == 0)
            t.join();
        else
            t.detach();
    }
    threads_.clear();
}

std::vector<LostFile> Storage::lost_files() const {
    std::unordered_set<std::string> available;
    for (const auto& r : roots_) {
        if (!r->up()) continue;
        if (auto inv = r->inventory())
            for (const auto& [p, size] : inv->files)
                available.insert(p);
    }
    std::vector<LostFile> out;
    std::unordered_set<std::string> seen;
    for (const auto& r : roots_) {
        if (r->up()) continue;
        auto inv = r->inventory();
        if (!inv) continue;
        for (const auto& [p, size] : inv->files)
            if (!available.count(p) && seen.insert(p).second)
                out.push_back(LostFile{"/" + p, size, r->index()});
    }
    std::sort(out.begin(), out.end(),
              [](const LostFile& a, const LostFile& b) { return a.path < b.path; });
    return out;
}

std::string Storage::status_json() const {
    nlohmann::ordered_json j;
    auto& roots = j["roots"] = nlohmann::ordered_json::array();
    for (const auto& r : roots_) {
        nlohmann::ordered_json e;
        e["index"] = r->index();
        e["path"] = r->path();
        e["tier"] = tier_name(r->tier());
        e["state"] = r->up() ? "up" : "failed";
        if (!r->up()) {
            e["reason"] = r->failure_reason();
            e["failed_at_ms"] = r->failed_at_ms();
        }
        auto inv = r->inventory();
        e["files"] = inv ? inv->files.size() : 0;
        e["bytes"] = inv ? inv->bytes : 0;
        e["read_errors"] = r->read_errors.load();
        roots.push_back(std::move(e));
    }
    auto& lost = j["lost_files"] = nlohmann::ordered_json::array();
    for (const LostFile& f : lost_files())
        lost.push_back({{"path", f.path}, {"size", f.size}, {"root", f.root}});
    return j.dump(2) + "\n";
}

} // namespace vcdn::io
