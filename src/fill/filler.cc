#include <vcdn/fill/filler.h>

#include "filler_impl.h"

#include <curl/curl.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <deque>
#include <fmt/format.h>
#include <list>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include <vcdn/base/log.h>
#include <vcdn/base/sha256.h>
#include <vcdn/base/time.h>
#include <vcdn/http/url.h>
#include <vcdn/io/address.h>
#include <vcdn/io/http_client.h>
#include <vcdn/io/storage.h>

namespace vcdn::fill {

namespace {

int64_t wall_s() {
    return static_cast<int64_t>(::time(nullptr));
}

std::string errno_text(int e) {
    return std::strerror(e);
}

// mkdir -p of the directories of `rel` under a root descriptor.
bool make_parents(int dir_fd, const std::string& rel) {
    for (size_t i = rel.find('/'); i != std::string::npos; i = rel.find('/', i + 1)) {
        std::string d = rel.substr(0, i);
        if (mkdirat(dir_fd, d.c_str(), 0755) != 0 && errno != EEXIST) return false;
    }
    return true;
}

bool fsync_dir(int dir_fd, const std::string& rel_dir) {
    int fd =
        openat(dir_fd, rel_dir.empty() ? "." : rel_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return false;
    bool ok = fsync(fd) == 0;
    ::close(fd);
    return ok;
}

std::string parent_of(const std::string& rel) {
    size_t s = rel.rfind('/');
    return s == std::string::npos ? std::string() : rel.substr(0, s);
}

} // namespace

namespace {

size_t on_header(char* p, size_t size, size_t n, void* ud) {
    auto* t = static_cast<Transfer*>(ud);
    const size_t len = size * n;
    std::string_view line(p, len);
    while (!line.empty() && (line.back() == '\r' || line.back() == '\n'))
        line.remove_suffix(1);
    if (line.substr(0, 5) == "HTTP/") { // a new response (after a 100 Continue, say)
        t->range_start = t->range_total = t->content_length = -1;
        return len;
    }
    auto colon = line.find(':');
    if (colon == std::string_view::npos) return len;
    std::string name(line.substr(0, colon));
    std::transform(name.begin(), name.end(), name.begin(), ::tolower);
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ')
        value.remove_prefix(1);
    if (name == "content-length") {
        t->content_length = std::strtoll(std::string(value).c_str(), nullptr, 10);
    } else if (name == "content-range" && value.substr(0, 6) == "bytes ") {
        // bytes START-END/TOTAL
        std::string v(value.substr(6));
        long long a = -1, b = -1, total = -1;
        if (std::sscanf(v.c_str(), "%lld-%lld/%lld", &a, &b, &total) == 3) {
            t->range_start = a;
            t->range_total = total;
        }
    }
    return len;
}

} // namespace

// Body bytes: checked against the status and the manifest's size, written, hashed, counted
// against the rate cap.
static size_t on_body(char* p, size_t size, size_t n, void* ud);

Result<std::unique_ptr<Filler>> Filler::create(Options opt, io::Storage* storage, Hooks hooks) {
    if (Status s = validate(opt.cfg); !s) return s.error();
    auto w = FillWindow::parse(opt.cfg.window.empty() ? "always" : opt.cfg.window);
    if (!w) return w.error();
    if (!http::parse_base_url(opt.control_url))
        return Error{"fill needs the control plane (--control http://...) for its manifest"};
    static std::once_flag curl_once;
    std::call_once(curl_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    auto impl = std::make_unique<Impl>();
    impl->opt = std::move(opt);
    impl->storage = storage;
    impl->hooks = std::move(hooks);
    impl->window = *w;
    impl->multi = curl_multi_init();
    if (!impl->multi) return Error{"libcurl: curl_multi_init failed"};
    curl_multi_setopt(impl->multi, CURLMOPT_MAX_HOST_CONNECTIONS, long{impl->opt.cfg.parallel});
    const double rate = impl->opt.cfg.rate_mbps * 1e6 / 8;
    // Burst: 50 ms of the rate (at least 64 KiB), so that the cap holds over short spans too.
    impl->bucket =
        std::make_unique<TokenBucket>(rate, std::max(65536.0, rate * 0.05), monotonic_us());
    return std::unique_ptr<Filler>(new Filler(std::move(impl)));
}

Filler::Filler(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Filler::~Filler() {
    stop();
    if (impl_ && impl_->multi) curl_multi_cleanup(impl_->multi);
}

void Filler::start() {
    impl_->thread = std::thread([this] { impl_->run(); });
    if (impl_->opt.cfg.scrub_rate_mbps > 0)
        impl_->scrub_thread = std::thread([this] { impl_->scrub_run(); });
    log::info("fill: window {}, rate cap {}, {} transfers at once, scrubber {}",
              impl_->window.describe(),
              impl_->opt.cfg.rate_mbps > 0 ? fmt::format("{} Mbit/s", impl_->opt.cfg.rate_mbps)
                                           : std::string("none"),
              impl_->opt.cfg.parallel,
              impl_->opt.cfg.scrub_rate_mbps > 0
                  ? fmt::format("{} Mbit/s", impl_->opt.cfg.scrub_rate_mbps)
                  : std::string("off"));
}

void Filler::stop() {
    if (!impl_) return;
    {
        std::lock_guard lk(impl_->mu);
        impl_->stopping = true;
    }
    impl_->cv.notify_all();
    if (impl_->multi) curl_multi_wakeup(impl_->multi);
    if (impl_->thread.joinable()) impl_->thread.join();
    if (impl_->scrub_thread.joinable()) impl_->scrub_thread.join();
}

void Filler::on_manifest_info(int64_t version, int64_t ack, uint32_t delete_delay_ms) {
    bool wake = false;
    {
        std::lock_guard lk(impl_->mu);
        if (version > impl_->announced_version) {
            impl_->announced_version = version;
            wake = true;
        }
        if (ack != impl_->ack_version) {
            impl_->ack_version = ack;
            impl_->ack_seen_ms = monotonic_ms();
        }
        impl_->delete_delay_ms = delete_delay_ms;
    }
    if (wake) curl_multi_wakeup(impl_->multi);
}

void Filler::set_config(const FillConfig& cfg) {
    {
        std::lock_guard lk(impl_->mu);
        impl_->posted_cfg = cfg;
    }
    impl_->cv.notify_all();
    if (impl_->multi) curl_multi_wakeup(impl_->multi);
}

void Filler::Impl::apply_config(const FillConfig& c) {
    auto w = FillWindow::parse(c.window.empty() ? "always" : c.window);
    if (!w) { // validated before it was posted; keep what runs
        log::error("fill: new window '{}' not applied: {}", c.window, w.error().message);
        return;
    }
    if (c.window == opt.cfg.window && c.rate_mbps == opt.cfg.rate_mbps &&
        c.max_bytes_per_window == opt.cfg.max_bytes_per_window && c.parallel == opt.cfg.parallel)
        return;
    {
        std::lock_guard lk(mu); // progress() reads the window
        window = *w;
    }
    opt.cfg.window = c.window;
    opt.cfg.rate_mbps = c.rate_mbps;
    opt.cfg.max_bytes_per_window = c.max_bytes_per_window;
    opt.cfg.parallel = c.parallel;
    curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, long{opt.cfg.parallel});
    const double rate = opt.cfg.rate_mbps * 1e6 / 8;
    bucket = std::make_unique<TokenBucket>(rate, std::max(65536.0, rate * 0.05), monotonic_us());
    log::info("fill: reloaded: window {}, rate cap {}, {} transfers at once, {} per window",
              window.describe(),
              opt.cfg.rate_mbps > 0 ? fmt::format("{} Mbit/s", opt.cfg.rate_mbps)
                                    : std::string("none"),
              opt.cfg.parallel,
              opt.cfg.max_bytes_per_window ? fmt::format("{} bytes", opt.cfg.max_bytes_per_window)
                                           : std::string("no limit"));
}

wire::FillProgress Filler::progress() const {
    std::lock_guard lk(impl_->mu);
    const auto& s = impl_->snap;
    wire::FillProgress p;
    p.enabled = true;
    p.manifest_version = s.version;
    p.state = s.state;
    p.window = impl_->window.describe();
    p.in_window = s.in_window;
    p.files_total = s.files_total;
    p.files_to_go = s.files_to_go;
    p.bytes_total = s.bytes_total;
    p.bytes_to_go = s.bytes_to_go;
    p.rate_bps = s.rate_bps;
    p.bytes_from_peer = impl_->bytes_by_kind[static_cast<size_t>(SourceKind::kPeer)].load();
    p.bytes_from_tier = impl_->bytes_by_kind[static_cast<size_t>(SourceKind::kTier)].load();
    p.bytes_from_origin = impl_->bytes_by_kind[static_cast<size_t>(SourceKind::kOrigin)].load();
    p.active = s.active;
    p.verify_failures = impl_->verify_failures.load();
    p.errors = impl_->errors.load();
    p.scrub_mismatches = impl_->scrub_mismatches.load();
    return p;
}

void Filler::metrics(PromText& out) const {
    Impl::Snapshot s;
    {
        std::lock_guard lk(impl_->mu);
        s = impl_->snap;
    }
    out.family("vcdn_fill_manifest_version", "gauge", "The manifest version the edge fills by.")
        .sample("vcdn_fill_manifest_version", s.version);
    out.family("vcdn_fill_files", "gauge", "Files the manifest lists, and those still to fill.")
        .sample("vcdn_fill_files", {{"state", "total"}}, s.files_total)
        .sample("vcdn_fill_files", {{"state", "to_go"}}, s.files_to_go);
    out.family("vcdn_fill_bytes", "gauge", "Bytes the manifest lists, and those still to fill.")
        .sample("vcdn_fill_bytes", {{"state", "total"}}, s.bytes_total)
        .sample("vcdn_fill_bytes", {{"state", "to_go"}}, s.bytes_to_go);
    out.family("vcdn_fill_rate_bytes_per_second", "gauge", "Download rate over the last 5 s.")
        .sample("vcdn_fill_rate_bytes_per_second", std::round(s.rate_bps / 8));
    out.family("vcdn_fill_in_window", "gauge", "1 while the fill window is open.")
        .sample("vcdn_fill_in_window", s.in_window ? 1 : 0);
    out.family("vcdn_fill_downloaded_bytes_total", "counter", "Bytes downloaded, by source kind.");
    for (size_t k = 0; k < kKinds; ++k)
        out.sample("vcdn_fill_downloaded_bytes_total",
                   {{"source", source_kind_name(static_cast<SourceKind>(k))}},
                   impl_->bytes_by_kind[k].load());
    out.family("vcdn_fill_files_filled_total", "counter",
               "Files verified and put in place, by source.");
    for (size_t k = 0; k < kKinds; ++k)
        out.sample("vcdn_fill_files_filled_total",
                   {{"source", source_kind_name(static_cast<SourceKind>(k))}},
                   impl_->files_by_kind[k].load());
    out.family("vcdn_fill_verify_failures_total", "counter",
               "Downloads discarded because their SHA-256 did not match the manifest.")
        .sample("vcdn_fill_verify_failures_total", impl_->verify_failures.load());
    out.family("vcdn_fill_errors_total", "counter",
               "Transfers that failed (the next source is tried).")
        .sample("vcdn_fill_errors_total", impl_->errors.load());
    out.family("vcdn_fill_resumed_total", "counter", "Downloads resumed from a partial file.")
        .sample("vcdn_fill_resumed_total", impl_->resumed.load());
    out.family("vcdn_fill_deletions_held", "gauge",
               "1 while the manifest's deletions exceed max_delete_share and wait for an "
               "operator (POST /fill/allow-deletions).")
        .sample("vcdn_fill_deletions_held", impl_->deletions_held.load() ? 1 : 0);
    out.family("vcdn_fill_kept_unowned_files", "gauge",
               "Files the manifest does not list that the fill did not write: kept.")
        .sample("vcdn_fill_kept_unowned_files", impl_->kept_unowned.load());
    out.family("vcdn_fill_disk_full_total", "counter",
               "Transfers stopped because their root ran out of space (partial file removed).")
        .sample("vcdn_fill_disk_full_total", impl_->disk_full.load());
    out.family("vcdn_fill_roots_full", "gauge",
               "Roots that take no new fill transfer because they ran out of space.")
        .sample("vcdn_fill_roots_full", impl_->roots_full.load());
    out.family("vcdn_fill_unmarked_total", "counter",
               "Files filled where the fill's mark could not be set (no user xattrs).")
        .sample("vcdn_fill_unmarked_total", impl_->unmarked.load());
    out.family("vcdn_scrub_unowned_mismatches_total", "counter",
               "Files the scrubber found not matching the manifest that the fill did not write "
               "(kept).")
        .sample("vcdn_scrub_unowned_mismatches_total", impl_->scrub_unowned.load());
    out.family("vcdn_scrub_held_total", "counter",
               "Mismatches the scrubber did not act on: too many for one manifest.")
        .sample("vcdn_scrub_held_total", impl_->scrub_held.load());
    out.family("vcdn_fill_deleted_total", "counter",
               "Files deleted because the manifest dropped them.")
        .sample("vcdn_fill_deleted_total", impl_->deleted.load());
    out.family("vcdn_scrub_files_total", "counter", "Stored files re-verified by the scrubber.")
        .sample("vcdn_scrub_files_total", impl_->scrub_files.load());
    out.family("vcdn_scrub_bytes_total", "counter", "Bytes re-read by the scrubber.")
        .sample("vcdn_scrub_bytes_total", impl_->scrub_bytes.load());
    out.family("vcdn_scrub_mismatches_total", "counter",
               "Stored files that no longer matched their SHA-256 (removed and filled again).")
        .sample("vcdn_scrub_mismatches_total", impl_->scrub_mismatches.load());
}

// ---- the filler thread --------------------------------------------------------------------

bool Filler::Impl::fetch_manifest(int64_t version) {
    io::HttpClient http(
        io::HttpClientOptions{30000, 3000, wire::kMaxManifestBytes, opt.control_ca, "", ""});
    auto r =
        http.get(fmt::format("{}/api/v1/edges/{}/manifest", opt.control_url, opt.edge_id),
                 {"Authorization: Bearer " + (hooks.control_token ? hooks.control_token() : "")});
    static log::RateLimit rl(30000);
    uint64_t suppressed = 0;
    if (!r || r->status != 200) {
        if (rl.allow(monotonic_ms(), &suppressed))
            log::warn("fill: manifest version {} not fetched: {} ({} similar suppressed)", version,
                      r ? fmt::format("HTTP {} {}", r->status, r->body.substr(0, 200))
                        : r.error().message,
                      suppressed);
        return false;
    }
    auto m = wire::decode_manifest(r->body);
    if (!m) {
        if (rl.allow(monotonic_ms(), &suppressed))
            log::error("fill: the control plane's manifest is unusable, keeping the current one: "
                       "{}",
                       m.error().message);
        return false;
    }
    if (m->edge != opt.edge_id) {
        log::error("fill: manifest is for edge '{}', not '{}': ignored", m->edge, opt.edge_id);
        return false;
    }
    manifest_fetched_s = wall_s();
    install(std::make_shared<const Manifest>(std::move(*m)));
    return true;
}

bool Filler::Impl::file_present(const WantedFile& f) const {
    const std::string rel = final_rel(f);
    for (size_t i = 0; i < storage->size(); ++i) {
        const io::Root& r = storage->root(i);
        if (!r.up()) continue;
        struct stat st {};
        if (fstatat(r.dir_fd(), rel.c_str(), &st, 0) == 0 && S_ISREG(st.st_mode) &&
            static_cast<uint64_t>(st.st_size) == f.size)
            return true;
    }
    return false;
}

void Filler::Impl::install(std::shared_ptr<const Manifest> m) {
    // Transfers point at the old jobs: stop them, keeping their partial files (what the new
    // manifest still wants resumes; the rest is cleaned up with the deletions).
    abort_all("new manifest");
    manifest = std::move(m);
    {
        std::lock_guard lk(mu);
        scrub_manifest = manifest;
    }
    wanted.clear();
    present.assign(manifest->files.size(), false);
    jobs.clear();
    uint64_t missing_bytes = 0;
    size_t missing = 0;
    const int64_t now = monotonic_ms();
    for (size_t i = 0; i < manifest->files.size(); ++i) {
        const WantedFile& f = manifest->files[i];
        wanted[f.path] = i;
        present[i] = file_present(f);
        if (present[i]) continue;
        Job j;
        j.file = i;
        j.started_ms = now;
        j.bad.assign(f.sources.size(), false);
        jobs.push_back(std::move(j));
        ++missing;
        missing_bytes += f.size;
    }
    deletions_done_for = false;
    complete_logged = false;
    fill_started_ms = now;
    fill_started_bytes = total_bytes.load();
    log::info("fill: manifest version {}: {} files; {} to fill ({:.1f} MB), from {} sources",
              manifest->version, manifest->files.size(), missing, missing_bytes / 1e6,
              manifest->files.empty() ? 0 : manifest->files.front().sources.size());
}

bool has_fill_mark(int dir_fd, const std::string& rel) {
    const int fd = openat(dir_fd, rel.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return false;
    char v[80];
    const ssize_t n = fgetxattr(fd, kFillMark, v, sizeof v);
    ::close(fd);
    return n == 64;
}

void Filler::Impl::maybe_delete(int64_t now_ms) {
    if (!manifest || deletions_done_for) return;
    int64_t ack, ack_at, allowed;
    uint32_t delay;
    {
        std::lock_guard lk(mu);
        ack = ack_version;
        ack_at = ack_seen_ms;
        delay = std::max(delete_delay_ms, opt.cfg.min_delete_delay_ms);
        allowed = deletions_allowed_for;
    }
    // Only once the control plane steers by this manifest (or a newer one), and the delay for
    // URLs already handed out has passed: the control plane's, but never less than this
    // edge's own minimum.
    if (ack < manifest->version || now_ms - ack_at < int64_t{delay}) return;
    // Held for this version and not allowed yet: nothing to do until an operator allows it.
    if (deletions_held_for == manifest->version && allowed != manifest->version) return;

    // The plan: what the manifest dropped and the fill wrote (marked). Files without the mark
    // are an operator's and stay.
    struct Victim {
        size_t root;
        std::string rel;
        uint64_t size;
    };
    std::vector<Victim> victims;
    uint64_t stored = 0, doomed = 0, unowned = 0;
    for (size_t i = 0; i < storage->size(); ++i) {
        io::Root& r = storage->root(i);
        if (!r.up()) continue;
        auto inv = r.inventory();
        if (!inv) continue;
        for (const auto& [rel, size] : inv->files) {
            stored += size;
            if (wanted.count("/" + rel)) continue;
            if (!has_fill_mark(r.dir_fd(), rel)) {
                ++unowned;
                continue;
            }
            victims.push_back({i, rel, size});
            doomed += size;
        }
    }
    kept_unowned.store(unowned);
    if (unowned)
        log::info("fill: {} files not in manifest version {} were not written by the fill: kept",
                  unowned, manifest->version);
    const double share = stored ? static_cast<double>(doomed) / static_cast<double>(stored) : 0;
    if (share > opt.cfg.max_delete_share && allowed != manifest->version) {
        deletions_held_for = manifest->version;
        deletions_held.store(true);
        {
            std::lock_guard lk(mu);
            held_files = victims.size();
            held_bytes = doomed;
            held_stored_bytes = stored;
        }
        log::error("fill: manifest version {} would delete {} files, {:.0f}% of the {:.1f} MB "
                   "stored (more than max_delete_share {:.0f}%): held; serving goes on. If "
                   "that is right, allow it on the admin listener: POST /fill/allow-deletions",
                   manifest->version, victims.size(), share * 100, stored / 1e6,
                   opt.cfg.max_delete_share * 100);
        return;
    }
    deletions_held.store(false);
    size_t n = 0;
    for (const Victim& v : victims) {
        io::Root& r = storage->root(v.root);
        if (unlinkat(r.dir_fd(), v.rel.c_str(), 0) == 0) {
            ++n;
            inv_removed[v.root].push_back(v.rel);
            deleted.fetch_add(1);
            log::info("fill: deleted /{} (not in manifest version {})", v.rel, manifest->version);
        } else if (errno != ENOENT) {
            log::warn("fill: cannot delete /{}: {}", v.rel, errno_text(errno));
        }
    }
    // Partial downloads of files no longer wanted (the fill's own directory).
    std::unordered_set<std::string> shas;
    for (const WantedFile& f : manifest->files)
        shas.insert(part_name(f));
    for (size_t i = 0; i < storage->size(); ++i) {
        io::Root& r = storage->root(i);
        if (!r.up()) continue;
        int dfd = openat(r.dir_fd(), kPartDir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            if (DIR* d = fdopendir(dfd)) {
                while (dirent* e = readdir(d))
                    if (e->d_name[0] != '.' && !shas.count(e->d_name)) unlinkat(dfd, e->d_name, 0);
                closedir(d);
            } else {
                ::close(dfd);
            }
        }
    }
    deletions_done_for = true;
    if (n) inventory_dirty = true;
}

std::string Filler::allow_deletions() {
    std::lock_guard lk(impl_->mu);
    if (!impl_->deletions_held.load() || impl_->deletions_held_for == 0)
        return "no deletions are held";
    impl_->deletions_allowed_for = impl_->deletions_held_for;
    const std::string msg =
        fmt::format("allowed: manifest version {} may delete {} files ({:.1f} of {:.1f} MB stored)",
                    impl_->deletions_held_for, impl_->held_files, impl_->held_bytes / 1e6,
                    impl_->held_stored_bytes / 1e6);
    log::warn("fill: an operator {}", msg);
    if (impl_->multi) curl_multi_wakeup(impl_->multi);
    return msg;
}

int Filler::Impl::pick_root(const WantedFile& f, int64_t now_ms) const {
    int best = -1;
    uint64_t best_free = 0;
    for (int pass = 0; pass < 2 && best < 0; ++pass) {
        for (size_t i = 0; i < storage->size(); ++i) {
            const io::Root& r = storage->root(i);
            if (!r.up() || root_full(i, now_ms)) continue;
            // First pass: the manifest's tier; second: any root.
            if (pass == 0 && (r.tier() == io::Tier::kFlash) != f.flash) continue;
            struct statvfs vs {};
            if (fstatvfs(r.dir_fd(), &vs) != 0) continue;
            const uint64_t free_bytes = uint64_t{vs.f_bavail} * vs.f_frsize;
            if (free_bytes < f.size + (64u << 20) && free_bytes < f.size * 2) continue;
            if (best < 0 || free_bytes > best_free) {
                best = static_cast<int>(i);
                best_free = free_bytes;
            }
        }
    }
    return best;
}

static size_t on_body(char* p, size_t size, size_t n, void* ud) {
    auto* t = static_cast<Transfer*>(ud);
    const size_t len = size * n;
    if (!t->checked) {
        curl_easy_getinfo(t->h, CURLINFO_RESPONSE_CODE, &t->status);
        if (t->status == 206) {
            if (t->range_start != static_cast<int64_t>(t->offset) ||
                (t->range_total >= 0 && static_cast<uint64_t>(t->range_total) != t->size)) {
                t->err = fmt::format("206 for the wrong range (start {}, total {})", t->range_start,
                                     t->range_total);
                return 0;
            }
        } else if (t->status == 200) {
            if (t->content_length >= 0 && static_cast<uint64_t>(t->content_length) != t->size) {
                t->err =
                    fmt::format("size {} is not the manifest's {}", t->content_length, t->size);
                return 0;
            }
            if (t->offset > 0) { // the source ignored the Range: start over
                if (ftruncate(t->fd, 0) != 0) {
                    t->err = "ftruncate: " + errno_text(errno);
                    return 0;
                }
                t->offset = 0;
                t->hash = Sha256();
            }
        } else {
            t->err = fmt::format("HTTP {}", t->status);
            return 0;
        }
        t->checked = true;
    }
    if (t->offset + t->got + len > t->size) {
        t->err = "more bytes than the manifest's size";
        return 0;
    }
    // Rate cap: while the bucket is in debt, leave the data with curl (it delivers it again
    // once the filler loop unpauses the transfer). One perform call may read a lot on a fast
    // link, so the check has to be here, per delivery.
    if (!t->owner->bucket->unlimited() && !t->owner->bucket->open()) {
        t->paused = true;
        return CURL_WRITEFUNC_PAUSE;
    }
    size_t done = 0;
    while (done < len) {
        ssize_t w =
            pwrite(t->fd, p + done, len - done, static_cast<off_t>(t->offset + t->got + done));
        if (w < 0) {
            if (errno == EINTR) continue;
            t->disk_full = errno == ENOSPC || errno == EDQUOT;
            t->err = "write: " + errno_text(errno);
            return 0;
        }
        done += static_cast<size_t>(w);
    }
    t->hash.update(p, len);
    t->got += len;
    t->owner->bucket->take(len);
    t->owner->window_bytes += len;
    t->owner->bytes_by_kind[static_cast<size_t>(t->src.kind)].fetch_add(len,
                                                                        std::memory_order_relaxed);
    t->owner->total_bytes.fetch_add(len, std::memory_order_relaxed);
    return len;
}

bool Filler::Impl::start_one(Job& job, int64_t now_ms) {
    const WantedFile& f = manifest->files[job.file];
    uint64_t full = 0;
    for (size_t i = 0; i < root_full_until_ms.size(); ++i)
        full += root_full(i, now_ms);
    roots_full.store(full, std::memory_order_relaxed);
    // Skip sources that served bad bytes for this file (unless all did: then try them again).
    while (job.src < f.sources.size() && job.bad[job.src])
        ++job.src;
    if (job.src >= f.sources.size()) {
        if (std::all_of(job.bad.begin(), job.bad.end(), [](bool b) { return b; }))
            job.bad.assign(job.bad.size(), false);
        job.src = 0;
        advance(job, false, false, "no usable source", now_ms);
        return false;
    }
    // A partial download of this content resumes where it is; otherwise the best root.
    int root = -1;
    for (size_t i = 0; i < storage->size() && root < 0; ++i) {
        struct stat pst {};
        if (storage->root(i).up() && !root_full(i, now_ms) &&
            fstatat(storage->root(i).dir_fd(), part_rel(f).c_str(), &pst, 0) == 0)
            root = static_cast<int>(i);
    }
    if (root < 0) root = pick_root(f, now_ms);
    if (root < 0) {
        errors.fetch_add(1);
        job.not_before_ms = now_ms + 30000;
        static log::RateLimit rl(60000);
        uint64_t suppressed = 0;
        if (rl.allow(now_ms, &suppressed))
            log::error("fill: no content root has room for {} ({} bytes): waiting ({} similar "
                       "suppressed)",
                       f.path, f.size, suppressed);
        return false;
    }
    io::Root& r = storage->root(static_cast<size_t>(root));
    if (mkdirat(r.dir_fd(), kPartDir, 0755) != 0 && errno != EEXIST) {
        errors.fetch_add(1);
        job.not_before_ms = now_ms + 30000;
        log::error("fill: cannot create {}/{}: {}", r.path(), kPartDir, errno_text(errno));
        return false;
    }
    auto t = std::make_unique<Transfer>();
    t->owner = this;
    t->job = &job;
    t->root = static_cast<size_t>(root);
    t->part_rel = part_rel(f);
    t->size = f.size;
    t->src = f.sources[job.src];
    // A partial download of the same content on another root: resume only on this one.
    t->fd = openat(r.dir_fd(), t->part_rel.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (t->fd < 0) {
        errors.fetch_add(1);
        job.not_before_ms = now_ms + 30000;
        log::error("fill: cannot open {}/{}: {}", r.path(), t->part_rel, errno_text(errno));
        return false;
    }
    struct stat st {};
    fstat(t->fd, &st);
    uint64_t have = static_cast<uint64_t>(st.st_size);
    if (have > f.size && ftruncate(t->fd, 0) == 0) have = 0;
    if (have > 0) {
        // Resume: hash what is already there, ask for the rest.
        std::vector<char> buf(1 << 20);
        uint64_t off = 0;
        while (off < have) {
            ssize_t n = pread(t->fd, buf.data(), std::min<uint64_t>(buf.size(), have - off),
                              static_cast<off_t>(off));
            if (n <= 0) break;
            t->hash.update(buf.data(), static_cast<size_t>(n));
            off += static_cast<uint64_t>(n);
        }
        if (off != have || have > f.size) { // unreadable: start over
            t->hash = Sha256();
            if (ftruncate(t->fd, 0) != 0) {
                errors.fetch_add(1);
                ::close(t->fd);
                job.not_before_ms = now_ms + 30000;
                return false;
            }
            have = 0;
        } else {
            resumed.fetch_add(1);
            log::info("fill: resuming {} at byte {} of {} from {} {}", f.path, have, f.size,
                      source_kind_name(t->src.kind),
                      t->src.edge.empty() ? t->src.url : t->src.edge);
        }
    }
    t->offset = have;
    if (have == f.size) {
        // Everything is there already (a crash between download and rename): verify now.
        t->checked = true;
        t->status = 200;
        Transfer* raw = t.get();
        active.push_back(std::move(t));
        finish(raw, CURLE_OK, now_ms);
        return true;
    }

    // The source's own signature for this path (made by the control plane): this edge can fetch
    // what its manifest lists and nothing else.
    const std::string url = t->src.url + f.path + (t->src.query.empty() ? "" : "?" + t->src.query);
    t->h = curl_easy_init();
    if (!t->h) {
        ::close(t->fd);
        job.not_before_ms = now_ms + 1000;
        return false;
    }
    t->headers =
        curl_slist_append(t->headers, fmt::format("User-Agent: vcdn-fill/{}", opt.edge_id).c_str());
    if (have > 0)
        t->headers = curl_slist_append(t->headers, fmt::format("Range: bytes={}-", have).c_str());
    curl_easy_setopt(t->h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(t->h, CURLOPT_HTTPHEADER, t->headers);
    curl_easy_setopt(t->h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(t->h, CURLOPT_WRITEDATA, t.get());
    curl_easy_setopt(t->h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(t->h, CURLOPT_HEADERDATA, t.get());
    curl_easy_setopt(t->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(t->h, CURLOPT_CONNECTTIMEOUT_MS, long{opt.cfg.connect_timeout_ms});
    curl_easy_setopt(t->h, CURLOPT_LOW_SPEED_LIMIT, long{opt.cfg.slow_bytes_per_s});
    curl_easy_setopt(t->h, CURLOPT_LOW_SPEED_TIME, long{opt.cfg.slow_time_s});
    curl_easy_setopt(t->h, CURLOPT_BUFFERSIZE, 16L * 1024);
    curl_easy_setopt(t->h, CURLOPT_ERRORBUFFER, t->errbuf);
    curl_easy_setopt(t->h, CURLOPT_PRIVATE, t.get());
    curl_easy_setopt(t->h, CURLOPT_PROTOCOLS_STR, "http,https");
    t->started_us = monotonic_us();
    job.active = true;
    curl_multi_add_handle(multi, t->h);
    active.push_back(std::move(t));
    return true;
}

void Filler::Impl::close_transfer(Transfer* t, bool keep_part) {
    if (t->h) {
        curl_multi_remove_handle(multi, t->h);
        curl_easy_cleanup(t->h);
        t->h = nullptr;
    }
    if (t->headers) curl_slist_free_all(t->headers);
    t->headers = nullptr;
    if (t->fd >= 0) ::close(t->fd);
    t->fd = -1;
    if (!keep_part) unlinkat(storage->root(t->root).dir_fd(), t->part_rel.c_str(), 0);
    if (t->job) t->job->active = false;
}

void Filler::Impl::abort_all(const char* why) {
    if (!active.empty())
        log::info("fill: pausing {} transfers ({}); partial files are kept", active.size(), why);
    for (auto& t : active)
        close_transfer(t.get(), true);
    active.clear();
}

void Filler::Impl::advance(Job& job, bool not_yet, bool mismatch, const std::string& why,
                           int64_t now_ms) {
    const WantedFile& f = manifest->files[job.file];
    const size_t n = f.sources.size();
    if (n == 0) {
        job.not_before_ms = now_ms + 60000;
        return;
    }
    const size_t i = std::min(job.src, n - 1);
    const SourceKind kind = f.sources[i].kind;
    if (mismatch) job.bad[i] = true;
    if (not_yet && kind != SourceKind::kOrigin) {
        // Escalation: keep asking this kind of source until its wait has passed.
        const uint32_t wait =
            kind == SourceKind::kPeer ? manifest->peer_wait_ms : manifest->tier_wait_ms;
        size_t first = i, end = i + 1;
        while (first > 0 && f.sources[first - 1].kind == kind)
            --first;
        while (end < n && f.sources[end].kind == kind)
            ++end;
        if (now_ms - job.started_ms < int64_t{wait}) {
            job.src = i + 1 < end ? i + 1 : first;
            if (job.src == first) job.not_before_ms = now_ms + opt.cfg.retry_ms;
            return;
        }
        job.src = end; // waited long enough: widen to the next kind
    } else {
        job.src = i + 1;
    }
    if (job.src >= n) {
        ++job.rounds;
        job.src = 0;
        const int64_t backoff = std::min<int64_t>(60000, int64_t{opt.cfg.retry_ms}
                                                             << std::min<uint32_t>(job.rounds, 6));
        job.not_before_ms = now_ms + backoff;
        static log::RateLimit rl(10000);
        uint64_t suppressed = 0;
        if (rl.allow(now_ms, &suppressed))
            log::warn("fill: {}: no source delivered it (last: {}); again in {} ms ({} similar "
                      "suppressed)",
                      f.path, why, backoff, suppressed);
    }
}

void Filler::Impl::finish(Transfer* t, CURLcode code, int64_t now_ms) {
    Job& job = *t->job;
    const WantedFile& f = manifest->files[job.file];
    const std::string who = t->src.edge.empty() ? t->src.url : t->src.edge;
    const SourceKind kind = t->src.kind;
    // Closes the transfer and frees it: `t` is not used after this.
    auto drop = [&](bool keep_part) {
        close_transfer(t, keep_part);
        for (auto it = active.begin(); it != active.end(); ++it)
            if (it->get() == t) {
                active.erase(it);
                break;
            }
    };
    if (t->h && code == CURLE_OK && t->status == 0)
        curl_easy_getinfo(t->h, CURLINFO_RESPONSE_CODE, &t->status);
    // A 404 from a peer or parent that has not filled the file yet: escalation, not an error.
    // So is a 503 (an edge that has just started and has no signing keys yet, or is cut off
    // from its control plane, or is busy): the source cannot give the file now, and going up
    // a level at once would send a fleet's worth of fill to the origin on a start-up race.
    // It is asked again, like a 404, until the escalation wait has passed. (The origin's 503
    // is a failure like any other: its mirrors are next.)
    if ((t->status == 404 || (t->status == 503 && kind != SourceKind::kOrigin)) && t->got == 0) {
        if (t->status == 503) {
            static log::RateLimit rl(10000);
            uint64_t suppressed = 0;
            if (rl.allow(now_ms, &suppressed))
                log::info("fill: {} from {} {}: 503 (not ready); asked again until the {} wait "
                          "has passed ({} similar suppressed)",
                          f.path, source_kind_name(kind), who, source_kind_name(kind), suppressed);
        }
        const std::string why =
            fmt::format("{} from {} {}", t->status, source_kind_name(kind), who);
        drop(true);
        advance(job, true, false, why, now_ms);
        return;
    }
    if (t->disk_full) {
        // The disk, not the source: the partial file goes (it holds space the root lacks), the
        // root takes no new transfer for disk_full_pause_s, and the file is tried again (on
        // another root, or this one once it has room) without blaming the source.
        disk_full.fetch_add(1);
        errors.fetch_add(1);
        const size_t root = t->root;
        if (root_full_until_ms.size() < storage->size())
            root_full_until_ms.resize(storage->size(), 0);
        const bool newly_full = !root_full(root, now_ms);
        const std::string path = f.path, why = t->err;
        root_full_until_ms[root] = now_ms + int64_t{opt.cfg.disk_full_pause_s} * 1000;
        drop(false);
        // Every other transfer writing to that root stops too, and drops its partial file.
        for (size_t i = 0; i < active.size();) {
            Transfer* o = active[i].get();
            if (o->root != root) {
                ++i;
                continue;
            }
            if (o->job) o->job->not_before_ms = now_ms + 1000;
            close_transfer(o, false);
            active.erase(active.begin() + static_cast<std::ptrdiff_t>(i));
        }
        job.not_before_ms = now_ms + 1000;
        // And the partial files kept for resuming (an interrupted transfer's): space the root
        // lacks. No transfer writes to this root now.
        if (int dfd =
                openat(storage->root(root).dir_fd(), kPartDir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            dfd >= 0) {
            if (DIR* d = fdopendir(dfd)) {
                while (dirent* e = readdir(d))
                    if (e->d_name[0] != '.') unlinkat(dfd, e->d_name, 0);
                closedir(d);
            } else {
                ::close(dfd);
            }
        }
        // Said once the partial files are gone (a reader of the log may check at once).
        if (newly_full) {
            log::error("fill: {} is full (writing {}: {}): its partial files are removed and it "
                       "takes no new transfer for {} s",
                       storage->root(root).path(), path, why, opt.cfg.disk_full_pause_s);
            roots_full.fetch_add(1, std::memory_order_relaxed); // recounted at the next start
        }
        return;
    }
    if (code != CURLE_OK || t->offset + t->got != t->size) {
        const std::string why =
            !t->err.empty()    ? t->err
            : code != CURLE_OK ? std::string(t->errbuf[0] ? t->errbuf : curl_easy_strerror(code))
                               : fmt::format("{} of {} bytes", t->offset + t->got, t->size);
        errors.fetch_add(1);
        static log::RateLimit rl(5000);
        uint64_t suppressed = 0;
        if (rl.allow(now_ms, &suppressed))
            log::warn("fill: {} from {} {} failed: {}; trying the next source ({} similar "
                      "suppressed)",
                      f.path, source_kind_name(kind), who, why, suppressed);
        // Keep what arrived (the SHA-256 at the end judges it) unless the bytes are suspect.
        const bool suspect =
            why.find("size") != std::string::npos || why.find("range") != std::string::npos;
        drop(!suspect);
        advance(job, false, false, why, now_ms);
        return;
    }
    const std::string got = t->hash.final_hex();
    if (got != f.sha256) {
        verify_failures.fetch_add(1);
        const bool whole = t->offset == 0;
        log::error("fill: {} from {} {} failed verification (sha256 {}... instead of {}...): "
                   "discarded, {}",
                   f.path, source_kind_name(kind), who, got.substr(0, 16), f.sha256.substr(0, 16),
                   whole ? "trying the next source" : "downloading it whole again");
        drop(false);
        if (whole)
            advance(job, false, true, "sha256 mismatch from " + who, now_ms);
        else
            job.not_before_ms = now_ms; // resumed bytes of unknown origin: again from byte 0
        return;
    }
    // Verified: make it durable, then give it its real name.
    io::Root& r = storage->root(t->root);
    const std::string rel = final_rel(f);
    // The mark says the fill wrote it: only such files are ever deleted or replaced by it.
    if (fsetxattr(t->fd, kFillMark, f.sha256.data(), f.sha256.size(), 0) != 0) {
        unmarked.fetch_add(1);
        if (!mark_warned) {
            mark_warned = true;
            log::warn("fill: {} has no user extended attributes ({}): files filled there are not "
                      "marked as the fill's and will never be deleted by it",
                      r.path(), errno_text(errno));
        }
    }
    const char* step = "fsync";
    bool ok = fsync(t->fd) == 0;
    if (ok) {
        step = "mkdir";
        ok = make_parents(r.dir_fd(), rel);
    }
    bool in_the_way = false;
    if (ok) {
        step = "rename";
        ok = renameat2(r.dir_fd(), t->part_rel.c_str(), r.dir_fd(), rel.c_str(),
                       RENAME_NOREPLACE) == 0;
        if (!ok && errno == EEXIST) {
            // Something is there already: replace it only if the fill wrote it (a stale copy).
            if (has_fill_mark(r.dir_fd(), rel))
                ok = renameat(r.dir_fd(), t->part_rel.c_str(), r.dir_fd(), rel.c_str()) == 0;
            else
                in_the_way = true;
        }
    }
    if (in_the_way) {
        errors.fetch_add(1);
        log::error("fill: {} on {}: a file the fill did not write is in the way (wrong size): "
                   "kept, not replaced; remove it to have it filled",
                   f.path, r.path());
        drop(false);
        job.not_before_ms = now_ms + 600000;
        return;
    }
    if (ok) {
        step = "fsync of the directory";
        ok = fsync_dir(r.dir_fd(), parent_of(rel));
    }
    if (!ok) {
        errors.fetch_add(1);
        log::error("fill: cannot put {} in place on {}: {}: {}", f.path, r.path(), step,
                   errno_text(errno));
        drop(false);
        job.not_before_ms = now_ms + 30000;
        return;
    }
    const double secs = std::max(1e-6, static_cast<double>(monotonic_us() - t->started_us) / 1e6);
    files_by_kind[static_cast<size_t>(kind)].fetch_add(1);
    log::info("fill: {} from {} {}: {} bytes, {:.1f} MB/s, sha256 verified", f.path,
              source_kind_name(kind), who, f.size, static_cast<double>(t->got) / secs / 1e6);
    present[job.file] = true;
    inv_added[t->root].emplace_back(rel, f.size);
    inventory_dirty = true;
    job.done = true;
    drop(true);
}

void Filler::Impl::apply_inventory_changes() {
    if (rescan_needed) {
        for (size_t i = 0; i < storage->size(); ++i)
            if (storage->root(i).up()) storage->rescan(i);
    } else {
        std::set<size_t> roots;
        for (const auto& [r, v] : inv_added)
            roots.insert(r);
        for (const auto& [r, v] : inv_removed)
            roots.insert(r);
        for (size_t r : roots) {
            io::Root& root = storage->root(r);
            auto old = root.inventory();
            auto inv =
                old ? std::make_shared<io::Inventory>(*old) : std::make_shared<io::Inventory>();
            for (const std::string& rel : inv_removed[r])
                if (auto it = inv->files.find(rel); it != inv->files.end()) {
                    inv->bytes -= it->second;
                    inv->files.erase(it);
                }
            for (const auto& [rel, size] : inv_added[r])
                if (inv->files.emplace(rel, size).second) inv->bytes += size;
            root.set_inventory(std::move(inv));
        }
    }
    inv_added.clear();
    inv_removed.clear();
    rescan_needed = false;
    inventory_dirty = false;
}

void Filler::Impl::start_transfers(int64_t now_ms) {
    if (!manifest) return;
    for (Job& j : jobs) {
        if (active.size() >= opt.cfg.parallel) break;
        if (j.done || j.active || j.not_before_ms > now_ms) continue;
        if (opt.cfg.max_bytes_per_window && window_bytes >= opt.cfg.max_bytes_per_window) break;
        start_one(j, now_ms);
    }
}

void Filler::Impl::update_snapshot(int64_t now_ms, bool in_window) {
    const uint64_t total = total_bytes.load();
    rate_samples.emplace_back(now_ms, total);
    while (rate_samples.size() > 2 && now_ms - rate_samples.front().first > 5000)
        rate_samples.pop_front();
    double rate = 0;
    if (rate_samples.size() >= 2 && now_ms > rate_samples.front().first)
        rate = static_cast<double>(total - rate_samples.front().second) * 8 * 1000 /
               static_cast<double>(now_ms - rate_samples.front().first);
    Snapshot s;
    s.in_window = in_window;
    s.rate_bps = rate;
    if (manifest) {
        s.version = manifest->version;
        s.files_total = manifest->files.size();
        for (size_t i = 0; i < manifest->files.size(); ++i) {
            s.bytes_total += manifest->files[i].size;
            if (!present[i]) {
                ++s.files_to_go;
                s.bytes_to_go += manifest->files[i].size;
            } else {
                s.scrub_list.emplace_back(manifest->files[i].path, i);
            }
        }
        for (const auto& t : active) {
            if (s.active.size() >= 8) break;
            s.active.push_back(fmt::format("{} {} {}", source_kind_name(t->src.kind),
                                           t->src.edge.empty() ? t->src.url : t->src.edge,
                                           manifest->files[t->job->file].path));
        }
        s.state = s.files_to_go == 0 && !inventory_dirty ? "complete"
                  : s.files_to_go == 0                   ? "filling"
                  : !in_window                           ? "outside-window"
                  : active.empty()                       ? "waiting"
                                                         : "filling";
    }
    std::lock_guard lk(mu);
    snap = std::move(s);
}

void Filler::Impl::run() {
    pthread_setname_np(pthread_self(), "edge-fill");
    int64_t last_snapshot = 0;
    for (;;) {
        int64_t announced;
        std::deque<std::string> refills;
        {
            std::lock_guard lk(mu);
            if (stopping) break;
            announced = announced_version;
            refills.swap(refill);
        }
        int64_t now = monotonic_ms();
        // A new version, or the current one again before its sources' signatures expire (a
        // quarter of their lifetime ahead; at least a minute).
        const int64_t now_s = wall_s();
        const bool resign =
            manifest && manifest->signed_until > 0 &&
            now_s > manifest->signed_until -
                        std::max<int64_t>(60, (manifest->signed_until - manifest_fetched_s) / 4);
        if ((announced > (manifest ? manifest->version : 0) || resign) &&
            now - fetch_failed_ms > 2000) {
            if (!fetch_manifest(std::max(announced, manifest ? manifest->version : 0)))
                fetch_failed_ms = now;
        }
        if (manifest)
            for (const std::string& p : refills)
                if (auto it = wanted.find(p); it != wanted.end() && present[it->second]) {
                    present[it->second] = false;
                    Job j;
                    j.file = it->second;
                    j.started_ms = now;
                    j.bad.assign(manifest->files[it->second].sources.size(), false);
                    jobs.push_front(std::move(j));
                    complete_logged = false;
                    inventory_dirty = true;
                    rescan_needed = true;
                }
        maybe_delete(now);

        std::optional<FillConfig> reloaded;
        {
            std::lock_guard lk(mu);
            reloaded.swap(posted_cfg);
        }
        if (reloaded) apply_config(*reloaded);
        const int64_t unix_s = wall_s();
        const bool in_window = window.contains(local_minute_of_day(unix_s));
        const int64_t wid = window.always() ? 0 : unix_s / 86400;
        if (wid != window_id) {
            window_id = wid;
            window_bytes = 0;
        }
        if (!in_window && !active.empty()) abort_all("outside the fill window");
        if (in_window) start_transfers(now);

        // Rate cap: transfers paused by their write callback go on once the bucket refilled.
        bucket->refill(monotonic_us());
        bool any_paused = false;
        for (size_t i = 0; i < active.size(); ++i) {
            Transfer* t = active[i].get();
            if (!t->paused || !t->h) continue;
            if (!bucket->open()) {
                any_paused = true;
                continue;
            }
            t->paused = false;
            curl_easy_pause(t->h, CURLPAUSE_CONT); // may deliver (and pause) again at once
            any_paused = any_paused || t->paused;
        }
        paused_all = any_paused;
        int running = 0;
        curl_multi_perform(multi, &running);
        int left = 0;
        bool finished_any = false;
        while (CURLMsg* msg = curl_multi_info_read(multi, &left)) {
            if (msg->msg != CURLMSG_DONE) continue;
            finished_any = true;
            Transfer* t = nullptr;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, reinterpret_cast<char**>(&t));
            if (t) finish(t, msg->data.result, monotonic_ms());
        }
        jobs.remove_if([](const Job& j) { return j.done && !j.active; });
        now = monotonic_ms();
        // Rescan at most once a second while filling, at once when the queue ran dry (the
        // heartbeat's inventory then lists everything the fill put in place).
        if (inventory_dirty && (now - last_rescan_ms >= 1000 || active.empty())) {
            apply_inventory_changes();
            last_rescan_ms = now;
        }
        if (now - last_snapshot >= 200) {
            update_snapshot(now, in_window);
            last_snapshot = now;
            Snapshot s;
            {
                std::lock_guard lk(mu);
                s = snap;
            }
            if (manifest && s.files_to_go > 0 && in_window &&
                now - last_progress_log_ms >= int64_t{opt.cfg.progress_log_s} * 1000) {
                last_progress_log_ms = now;
                log::info("fill: {} of {} files to go ({:.1f} of {:.1f} MB), {:.1f} Mbit/s{}{}",
                          s.files_to_go, s.files_total, s.bytes_to_go / 1e6, s.bytes_total / 1e6,
                          s.rate_bps / 1e6, s.active.empty() ? "" : ", from ",
                          s.active.empty() ? "" : s.active.front());
            }
            if (manifest && s.files_to_go == 0 && !complete_logged) {
                complete_logged = true;
                const double secs = std::max(0.001, (now - fill_started_ms) / 1000.0);
                const double mb = (total_bytes.load() - fill_started_bytes) / 1e6;
                log::info("fill: manifest version {} complete: {} files; {:.1f} MB downloaded in "
                          "{:.1f} s ({:.1f} MB/s); by source: peer {:.1f} MB, tier {:.1f} MB, "
                          "origin {:.1f} MB",
                          manifest->version, s.files_total, mb, secs, mb / secs,
                          bytes_by_kind[0].load() / 1e6, bytes_by_kind[1].load() / 1e6,
                          bytes_by_kind[2].load() / 1e6);
            }
        }
        // Sleep until there is data, a wake-up, or the bucket may have refilled.
        // A transfer just ended: start the next one at once rather than after a poll.
        int timeout = finished_any ? 0 : active.empty() ? 200 : 50;
        if (paused_all) {
            const double deficit = -bucket->tokens();
            timeout =
                std::clamp(static_cast<int>(deficit / (opt.cfg.rate_mbps * 1e6 / 8) * 1000), 1, 20);
        }
        curl_multi_poll(multi, nullptr, 0, timeout, nullptr);
    }
    abort_all("stopping");
    update_snapshot(monotonic_ms(), false);
}

} // namespace vcdn::fill
