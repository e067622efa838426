#include "play.h"

#include <algorithm>
#include <fmt/format.h>

#include <vcdn/auth/signed_url.h>
#include <vcdn/base/log.h>
#include <vcdn/base/sha256.h>
#include <vcdn/io/http_client.h>
#include <vcdn/media/uri.h>

#include "service.h"

namespace vcdn::control {

namespace {

// The usual names of a multivariant playlist (or a top MPD) come before other names.
int name_rank(std::string_view path) {
    const std::string_view name = path.substr(path.rfind('/') + 1);
    for (std::string_view usual : {"master", "main", "index", "playlist", "manifest", "stream"})
        if (name.substr(0, usual.size()) == usual) return 0;
    return 1;
}

size_t depth(std::string_view path) {
    return static_cast<size_t>(std::count(path.begin(), path.end(), '/'));
}

} // namespace

std::shared_ptr<const TitleIndex> index_titles(const std::vector<CatalogEntry>& files) {
    auto out = std::make_shared<TitleIndex>();
    for (uint32_t i = 0; i < files.size(); ++i) {
        const CatalogEntry& f = files[i];
        if (f.title == 0) continue;
        TitleFiles& t = (*out)[f.title];
        t.files.push_back(i);
        if (f.path.ends_with(".mpd")) t.mpds.push_back(i);
        if (f.path.ends_with(".m3u8")) t.m3u8s.push_back(i);
    }
    for (auto& [title, t] : *out) {
        auto by_path = [&](uint32_t a, uint32_t b) { return files[a].path < files[b].path; };
        std::sort(t.files.begin(), t.files.end(), by_path);
        auto candidates = [&](uint32_t a, uint32_t b) {
            const std::string &pa = files[a].path, &pb = files[b].path;
            return std::tuple(depth(pa), name_rank(pa), std::string_view(pa)) <
                   std::tuple(depth(pb), name_rank(pb), std::string_view(pb));
        };
        std::sort(t.mpds.begin(), t.mpds.end(), candidates);
        std::sort(t.m3u8s.begin(), t.m3u8s.end(), candidates);
    }
    return out;
}

ManifestCache::Entry* ManifestCache::find_locked(const std::string& key) {
    auto it = by_sha_.find(key);
    if (it == by_sha_.end()) return nullptr;
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    return &it->second;
}

Result<std::string> ManifestCache::fetch(const View& v, const CatalogEntry& f) {
    // Where to ask: the origin, then up to two edges that hold the file. Each URL is signed
    // with the key of whoever serves it, valid for a minute.
    const int64_t expiry = wall_ms() / 1000 + 60;
    const std::string path = media::encode_path(f.path);
    std::vector<std::string> urls;
    if (!v.fleet->origin_url.empty())
        urls.push_back(v.fleet->origin_url +
                       (v.origin_key ? auth::sign_url(path, expiry, *v.origin_key) : path));
    const steer::TopoFile* tf = steer::find_file(*v.topo, f.path);
    if (tf && v.have_signing_key && v.edge_keys.size() == v.topo->edges.size()) {
        size_t asked = 0;
        for (uint32_t h : tf->holders) {
            const steer::TopoEdge& te = v.topo->edges[h];
            if (!te.eligible || asked == 2) continue;
            urls.push_back(te.url + auth::sign_url(path, expiry, v.edge_keys[h]));
            ++asked;
        }
    }
    if (urls.empty()) return Error{"no origin and no edge holds it"};
    io::HttpClientOptions o;
    o.timeout_ms = cfg_.fetch_timeout_ms;
    o.connect_timeout_ms = std::min<uint32_t>(2000, cfg_.fetch_timeout_ms);
    o.max_body_bytes = static_cast<size_t>(f.size) + 1;
    o.ca_file = cfg_.fetch_ca;
    io::HttpClient client(o);
    std::string last;
    for (const std::string& url : urls) {
        const std::string shown = url.substr(0, url.find('?'));
        auto r = client.get(url);
        std::lock_guard lk(mu_);
        ++stats_.fetches;
        if (!r) {
            ++stats_.fetch_failures;
            last = fmt::format("{}: {}", shown, r.error().message);
        } else if (r->status != 200) {
            ++stats_.fetch_failures;
            last = fmt::format("{}: HTTP {}", shown, r->status);
        } else if (r->body.size() != f.size || Sha256::hex_of(r->body) != f.sha256) {
            ++stats_.mismatches;
            last = fmt::format("{}: not the catalog's bytes ({} bytes, SHA-256 differs)", shown,
                               r->body.size());
        } else {
            return std::move(r->body);
        }
        log::warn("control: play: cannot read {} for a manifest: {}", f.path, last);
    }
    return Error{last};
}

// Entries are keyed by path and content: the same bytes under two paths (a copied title) parse
// into different forms, since a manifest's relative URIs resolve against its own path.
std::string ManifestCache::key_of(const CatalogEntry& f) {
    return f.sha256 + ' ' + f.path;
}

Result<std::shared_ptr<const std::string>> ManifestCache::text(const View& v,
                                                               const CatalogEntry& f) {
    const int64_t now = wall_ms();
    const std::string key = key_of(f);
    {
        std::lock_guard lk(mu_);
        if (Entry* e = find_locked(key)) {
            ++stats_.hits;
            return e->text;
        }
        if (auto it = failed_.find(key); it != failed_.end()) {
            if (it->second.first > now) return Error{it->second.second};
            failed_.erase(it);
        }
    }
    auto body = fetch(v, f);
    std::lock_guard lk(mu_);
    if (!body) {
        if (failed_.size() > 10000) failed_.clear();
        failed_[key] = {now + kRetryMs, body.error().message};
        return body.error();
    }
    auto text = std::make_shared<const std::string>(std::move(*body));
    const uint64_t limit = uint64_t{cfg_.cache_mb} << 20;
    if (text->size() > limit / 4) return text;       // too big to keep: used once
    if (Entry* e = find_locked(key)) return e->text; // another thread was quicker
    while (!lru_.empty() && bytes_ + text->size() > limit) {
        auto it = by_sha_.find(lru_.back());
        bytes_ -= it->second.text->size() * (it->second.dash ? 2 : 1);
        by_sha_.erase(it);
        lru_.pop_back();
    }
    lru_.push_front(key);
    Entry& e = by_sha_[key];
    e.text = text;
    e.lru = lru_.begin();
    bytes_ += text->size();
    return text;
}

template <class T, class Parse>
Result<std::shared_ptr<const T>>
ManifestCache::parsed(const View& v, const CatalogEntry& f, Form form,
                      std::shared_ptr<const T> Entry::*slot, Parse parse) {
    const std::string key = key_of(f);
    {
        std::lock_guard lk(mu_);
        if (Entry* e = find_locked(key)) {
            if (e->*slot) {
                ++stats_.hits;
                return e->*slot;
            }
            if (!e->errors[form].empty()) return Error{e->errors[form]};
        }
    }
    auto text = this->text(v, f);
    if (!text) return text.error();
    Result<T> r = parse(**text);
    std::lock_guard lk(mu_);
    Entry* e = find_locked(key);
    if (!r) {
        ++stats_.parse_failures;
        if (e) e->errors[form] = r.error().message;
        return r.error();
    }
    auto p = std::make_shared<const T>(std::move(*r));
    if (e && !(e->*slot)) {
        e->*slot = p;
        if (form == kDash) bytes_ += e->text->size(); // a template is about as big as its MPD
    }
    return p;
}

Result<std::shared_ptr<const media::DashTemplate>> ManifestCache::dash(const View& v,
                                                                       const CatalogEntry& f) {
    return parsed<media::DashTemplate>(v, f, kDash, &Entry::dash, [&](const std::string& t) {
        return media::parse_dash_template(t, f.path);
    });
}

Result<std::shared_ptr<const media::HlsMaster>> ManifestCache::hls_master(const View& v,
                                                                          const CatalogEntry& f) {
    return parsed<media::HlsMaster>(v, f, kHls, &Entry::hls, [&](const std::string& t) {
        return media::parse_hls_master(t, f.path);
    });
}

Result<std::shared_ptr<const std::vector<std::string>>>
ManifestCache::hls_files(const View& v, const CatalogEntry& f) {
    return parsed<std::vector<std::string>>(
        v, f, kFiles, &Entry::files, [&](const std::string& t) -> Result<std::vector<std::string>> {
            return media::hls_media_files(media::dir_of(f.path), t);
        });
}

ManifestCache::Stats ManifestCache::stats() const {
    std::lock_guard lk(mu_);
    Stats s = stats_;
    s.entries = by_sha_.size();
    s.bytes = bytes_;
    return s;
}

} // namespace vcdn::control
