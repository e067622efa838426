// The fleet simulator's engine (see sim.h and docs/sim.md). Placement, steering and the
// health rule are the control plane's own functions; this file only generates demand, keeps
// per-edge load and storage, and counts.
#include <vcdn/sim/sim.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <fmt/format.h>
#include <list>
#include <map>
#include <numbers>
#include <numeric>
#include <thread>
#include <unordered_map>

#include <vcdn/base/random.h>
#include <vcdn/control/health.h>
#include <vcdn/io/ip_prefix.h>
#include <vcdn/place/lru.h>
#include <vcdn/place/placement.h>
#include <vcdn/steer/steering.h>

namespace vcdn::sim {

namespace {

using nlohmann::json;

// Sampling from weights by the inverse of the cumulative distribution.
struct Cdf {
    std::vector<double> c;
    void build(const std::vector<double>& w) {
        c.resize(w.size());
        double acc = 0;
        for (size_t i = 0; i < w.size(); ++i)
            c[i] = acc += std::max(0.0, w[i]);
    }
    double total() const { return c.empty() ? 0 : c.back(); }
    uint32_t sample(double u) const {
        auto it = std::upper_bound(c.begin(), c.end(), u * total());
        return static_cast<uint32_t>(std::min<size_t>(it - c.begin(), c.size() - 1));
    }
};

// Walker's alias method (Vose's construction): O(1) sampling from weights. A session's title
// is drawn from ~100,000 weights 14M times a day; a binary search over the cumulative weights
// missed the cache at every step.
struct Alias {
    std::vector<double> prob;
    std::vector<uint32_t> alias;
    void build(const std::vector<double>& w) {
        const size_t n = w.size();
        prob.assign(n, 0);
        alias.assign(n, 0);
        double sum = 0;
        for (double x : w)
            sum += std::max(0.0, x);
        if (n == 0 || sum <= 0) return;
        std::vector<double> p(n);
        std::vector<uint32_t> small, large;
        for (size_t i = 0; i < n; ++i) {
            p[i] = std::max(0.0, w[i]) * static_cast<double>(n) / sum;
            (p[i] < 1 ? small : large).push_back(static_cast<uint32_t>(i));
        }
        while (!small.empty() && !large.empty()) {
            const uint32_t s = small.back(), l = large.back();
            small.pop_back();
            prob[s] = p[s];
            alias[s] = l;
            p[l] -= 1 - p[s];
            if (p[l] < 1) {
                large.pop_back();
                small.push_back(l);
            }
        }
        for (uint32_t i : large)
            prob[i] = 1;
        for (uint32_t i : small) // rounding leftovers
            prob[i] = 1;
    }
    uint32_t sample(uint64_t r1, double u) const {
        const uint32_t i = static_cast<uint32_t>(r1 % prob.size());
        return u < prob[i] ? i : alias[i];
    }
};

using Lru = place::LruCache;

struct Edge {
    std::string id;
    uint32_t site = 0;
    double gbps = 0;
    uint64_t disk = 0, flash = 0;
    bool failed = false;
    bool up = true; // state == "up" (the hot loop skips string compares)
    int64_t sessions = 0;
    uint32_t epoch = 0; // bumped when its sessions break off: their departures are void
    int64_t failed_until_min = 0;
    std::string state = "up", reason = "ok";
    int64_t since_ms = 0;
    double load = 0;             // Gbit/s of the sessions it serves now
    double day_peak = 0;         // highest load / capacity at a minute's end today
    std::vector<uint32_t> files; // what it holds, sorted
};

struct Site {
    std::string name;
    bool ix = false;
    uint32_t region = 0;
    io::IpPrefix prefix;
    double client_weight = 1;
    std::vector<uint32_t> edges;
    bool bgp_lost = false;
    int64_t bgp_back_min = 0;
    double uplink_gbps = 0; // 0: no cap beyond its edges
    double load = 0;
};

struct Tally {
    double bytes = 0, embedded = 0, ix = 0, origin = 0;
    double content_miss = 0, health_miss = 0; // bytes of clients of an embedded site
    uint64_t sessions = 0, failovers = 0, interrupted = 0;
    void add(const Tally& o) {
        bytes += o.bytes;
        embedded += o.embedded;
        ix += o.ix;
        origin += o.origin;
        content_miss += o.content_miss;
        health_miss += o.health_miss;
        sessions += o.sessions;
        failovers += o.failovers;
        interrupted += o.interrupted;
    }
    json shares() const {
        auto share = [&](double x) { return bytes > 0 ? x / bytes : 0.0; };
        return {{"bytes", bytes},
                {"sessions", sessions},
                {"offload_embedded", share(embedded)},
                {"offload_ix", share(ix)},
                {"offload_origin", share(origin)},
                {"content_misses", share(content_miss)},
                {"health_misses", share(health_miss)},
                {"failovers", failovers},
                {"interrupted_sessions", interrupted}};
    }
};

std::string ip_prefix_text(uint32_t base, int bits) {
    return fmt::format("{}.{}.{}.{}/{}", base >> 24, (base >> 16) & 255, (base >> 8) & 255,
                       base & 255, bits);
}

class Engine {
public:
    Engine(const Scenario& s, const std::function<void(const Progress&)>& progress)
        : s_(s), progress_(progress), rng_(s.seed) {}
    Result<json> run();

private:
    Status build_fleet();
    void build_catalog();
    void day_weights(uint32_t day);
    void place_and_fill(uint32_t day, json* day_out);
    void run_day(uint32_t day, json* day_out);
    void apply_events(uint32_t day, int64_t minute);
    void reindex_prefixes();
    bool site_holds(uint32_t site, uint32_t f) const;
    void report_progress(uint32_t day, const char* phase, double frac) {
        if (progress_) progress_(Progress{day, s_.days, phase, frac});
    }

    const Scenario& s_;
    std::function<void(const Progress&)> progress_;
    Rng rng_;
    std::vector<Site> sites_;
    std::vector<Edge> edges_;
    std::vector<std::vector<uint32_t>> region_sites_; // embedded sites by region
    std::vector<Cdf> region_site_cdf_;
    Cdf region_cdf_, rung_cdf_;
    // Catalog.
    uint32_t ladder_ = 1;
    std::vector<uint32_t> title_minutes_;
    std::vector<int64_t> release_day_;               // -1: always there
    std::vector<std::vector<uint32_t>> region_rank_; // title -> popularity rank, per region
    std::vector<std::string> paths_;
    std::vector<uint64_t> size_;
    std::vector<steer::TopoFile*> tf_; // into topo_.files (reserved: the nodes never move)
    struct Departure {
        uint32_t edge;
        uint32_t epoch;
        float gbps;
    };
    std::vector<std::vector<Departure>> ends_; // departures by minute (ring)
    std::vector<uint64_t> file_hash_;
    std::vector<uint32_t> path_rank_; // a file's place in path order (placement's tie-break)
    // Popularity: the day's true title weights (per region), the placement's estimate of
    // views per file, and today's observed views (per region).
    std::vector<std::vector<double>> weight_;
    std::vector<Cdf> title_cdf_;
    std::vector<Alias> title_alias_;
    std::vector<std::vector<float>> est_, seen_, day_bytes_;
    std::vector<uint32_t> launched_; // titles launched by events (day-boosted)
    bool feed_error_tonight_ = false;
    steer::Topology topo_;
    control::HealthConfig health_;
    // LRU comparison: sampled embedded sites, an LRU per edge of theirs.
    std::vector<uint8_t> lru_site_;
    std::unordered_map<uint32_t, Lru> lru_;
    // Totals.
    Tally total_;
    double lru_hit_ = 0, lru_bytes_ = 0, lru_vcdn_own_ = 0;
    json events_out_ = json::array();
};

Status Engine::build_fleet() {
    // Client space: region r is (16+r).0.0.0/8; its embedded site j gets a /20 in it; the
    // region's exchange sites announce the whole /8, so clients of no embedded site (the
    // top /20 of the /8) reach the region's exchanges first.
    std::map<std::string, uint32_t> region_index;
    for (uint32_t r = 0; r < s_.regions.size(); ++r)
        region_index[s_.regions[r].name] = r;
    if (s_.regions.size() > 200) return Error{"at most 200 regions"};
    region_sites_.assign(s_.regions.size(), {});
    Rng fleet_rng(s_.seed ^ 0xf1ee7);
    for (const SiteGen& g : s_.sites) {
        for (uint32_t i = 0; i < g.count; ++i) {
            Site site;
            site.name = g.count == 1 ? g.name : fmt::format("{}-{:04}", g.name, i + 1);
            site.ix = g.tier == "ix";
            site.region = region_index.at(g.region);
            const uint32_t n =
                g.edges_min + static_cast<uint32_t>(fleet_rng.below(g.edges_max - g.edges_min + 1));
            const uint32_t si = static_cast<uint32_t>(sites_.size());
            for (uint32_t k = 0; k < n; ++k) {
                Edge e;
                e.id = fmt::format("{}-e{}", site.name, k + 1);
                e.site = si;
                e.gbps = g.edge_gbps;
                e.disk = g.disk_bytes;
                e.flash = g.flash_bytes;
                site.edges.push_back(static_cast<uint32_t>(edges_.size()));
                edges_.push_back(std::move(e));
            }
            site.client_weight = g.client_weight > 0 ? g.client_weight : n * g.edge_gbps;
            site.uplink_gbps = g.uplink_gbps;
            const uint32_t block = (16 + site.region) << 24;
            if (site.ix) {
                site.prefix = *io::IpPrefix::parse(ip_prefix_text(block, 8));
            } else {
                const uint32_t j = static_cast<uint32_t>(region_sites_[site.region].size());
                if (j >= 4095)
                    return Error{fmt::format("region {}: at most 4095 embedded sites",
                                             s_.regions[site.region].name)};
                site.prefix = *io::IpPrefix::parse(ip_prefix_text(block + (j << 12), 20));
                region_sites_[site.region].push_back(si);
            }
            sites_.push_back(std::move(site));
        }
    }
    region_site_cdf_.resize(s_.regions.size());
    for (uint32_t r = 0; r < s_.regions.size(); ++r) {
        std::vector<double> w;
        for (uint32_t si : region_sites_[r])
            w.push_back(sites_[si].client_weight);
        region_site_cdf_[r].build(w);
    }
    std::vector<double> rw;
    for (const RegionSpec& r : s_.regions)
        rw.push_back(r.weight);
    region_cdf_.build(rw);
    rung_cdf_.build(s_.rung_weights);
    // The topology steering ranks over: the control plane's structure, one site per site.
    topo_.origin_url = "origin";
    for (uint32_t si = 0; si < sites_.size(); ++si) {
        steer::TopoSite ts;
        ts.name = sites_[si].name;
        ts.tier = sites_[si].ix ? steer::SiteTier::kIx : steer::SiteTier::kEmbedded;
        ts.edges = sites_[si].edges;
        if (sites_[si].ix) topo_.ix_sites.push_back(si);
        topo_.sites.push_back(std::move(ts));
    }
    for (const Edge& e : edges_) {
        steer::TopoEdge te;
        te.id = e.id;
        te.url = "sim";
        te.site = e.site;
        te.eligible = true;
        te.hash = steer::hash64(e.id);
        topo_.edges.push_back(std::move(te));
    }
    reindex_prefixes();
    health_.load_high = s_.load_high;
    health_.load_low = s_.load_low;
    health_.hold_down_ms = s_.hold_down_minutes * 60000;
    // The LRU comparison replays the clients of a spread sample of embedded sites.
    lru_site_.assign(sites_.size(), 0);
    std::vector<uint32_t> embedded;
    for (uint32_t si = 0; si < sites_.size(); ++si)
        if (!sites_[si].ix) embedded.push_back(si);
    const size_t want = std::min<size_t>(s_.lru_sample_sites, embedded.size());
    for (size_t k = 0; k < want; ++k) {
        const uint32_t si = embedded[k * embedded.size() / want];
        lru_site_[si] = 1;
        for (uint32_t e : sites_[si].edges)
            lru_.emplace(e, Lru(edges_[e].disk + edges_[e].flash));
    }
    return {};
}

void Engine::reindex_prefixes() {
    std::vector<std::vector<io::IpPrefix>> p(sites_.size());
    for (uint32_t si = 0; si < sites_.size(); ++si)
        if (!sites_[si].bgp_lost) p[si].push_back(sites_[si].prefix);
    topo_.index_prefixes(p);
}

void Engine::build_catalog() {
    ladder_ = static_cast<uint32_t>(s_.ladder_kbps.size());
    const uint32_t T = s_.titles;
    Rng crng(s_.seed ^ 0xca7a10);
    title_minutes_.resize(T);
    release_day_.assign(T, -1);
    for (uint32_t t = 0; t < T; ++t)
        title_minutes_[t] =
            s_.min_minutes + static_cast<uint32_t>(crng.below(s_.max_minutes - s_.min_minutes + 1));
    // The last titles are released during the run, new_titles_per_day a day.
    const uint32_t first_new = T - s_.new_titles_per_day * s_.days;
    for (uint32_t t = first_new; t < T; ++t)
        release_day_[t] = (t - first_new) / std::max(1u, s_.new_titles_per_day);
    // Popularity rank per region: one global order, with `variation` of it shuffled locally.
    std::vector<uint32_t> global(T);
    std::iota(global.begin(), global.end(), 0u);
    for (uint32_t i = T; i > 1; --i)
        std::swap(global[i - 1], global[crng.below(i)]);
    region_rank_.assign(s_.regions.size(), std::vector<uint32_t>(T));
    for (uint32_t r = 0; r < s_.regions.size(); ++r) {
        std::vector<uint32_t> order = global;
        const uint64_t swaps = static_cast<uint64_t>(s_.regions[r].variation * T / 2);
        for (uint64_t k = 0; k < swaps; ++k)
            std::swap(order[crng.below(T)], order[crng.below(T)]);
        for (uint32_t rank = 0; rank < T; ++rank)
            region_rank_[r][order[rank]] = rank;
    }
    const size_t F = size_t{T} * ladder_;
    paths_.resize(F);
    size_.resize(F);
    file_hash_.resize(F);
    topo_.files.reserve(F);
    for (uint32_t t = 0; t < T; ++t)
        for (uint32_t k = 0; k < ladder_; ++k) {
            const size_t f = size_t{t} * ladder_ + k;
            paths_[f] = fmt::format("/t/{}/v-{}k.mp4", t + 1, s_.ladder_kbps[k]);
            size_[f] = uint64_t{s_.ladder_kbps[k]} * 125 * title_minutes_[t] * 60;
            file_hash_[f] = steer::hash64(paths_[f]);
            topo_.files.emplace(paths_[f], steer::TopoFile{});
        }
    {
        std::vector<uint32_t> by_path(F);
        std::iota(by_path.begin(), by_path.end(), 0u);
        std::sort(by_path.begin(), by_path.end(),
                  [&](uint32_t a, uint32_t b) { return paths_[a] < paths_[b]; });
        path_rank_.resize(F);
        for (uint32_t i = 0; i < F; ++i)
            path_rank_[by_path[i]] = i;
    }
    tf_.resize(F);
    for (size_t f = 0; f < F; ++f)
        tf_[f] = &topo_.files.find(paths_[f])->second;
    est_.assign(s_.regions.size(), std::vector<float>(F, 0));
    seen_.assign(s_.regions.size(), std::vector<float>(F, 0));
    day_bytes_.assign(s_.regions.size(), std::vector<float>(F, 0));
}

// The true popularity of each title in each region on `day`: Zipf by the region's rank;
// releases start at launch_boost x the top title and decay by launch_decay a day.
void Engine::day_weights(uint32_t day) {
    const uint32_t T = s_.titles;
    weight_.assign(s_.regions.size(), std::vector<double>(T, 0));
    title_cdf_.resize(s_.regions.size());
    title_alias_.resize(s_.regions.size());
    for (uint32_t r = 0; r < s_.regions.size(); ++r) {
        for (uint32_t t = 0; t < T; ++t) {
            double w = std::pow(1.0 + region_rank_[r][t], -s_.zipf_alpha);
            if (release_day_[t] >= 0) {
                if (release_day_[t] > day) {
                    w = 0;
                } else {
                    w += s_.launch_boost * std::pow(s_.launch_decay, day - release_day_[t]);
                }
            }
            weight_[r][t] = w;
        }
        for (uint32_t t : launched_)
            weight_[r][t] += 2 * s_.launch_boost;
        title_cdf_[r].build(weight_[r]);
        title_alias_[r].build(weight_[r]);
    }
}

bool Engine::site_holds(uint32_t site, uint32_t f) const {
    const std::vector<uint32_t>& h = tf_[f]->holders;
    const std::vector<uint32_t>& range = sites_[site].edges; // ascending, contiguous
    if (range.empty()) return false;
    auto it = std::lower_bound(h.begin(), h.end(), range.front());
    return it != h.end() && *it <= range.back();
}

void Engine::place_and_fill(uint32_t day, json* day_out) {
    const size_t F = paths_.size();
    const double diurnal_sessions = s_.sessions_per_day;
    // 1. What the control plane knows tonight: yesterday's views smoothed into the estimate,
    //    and the feed (the expected views of tomorrow's catalog) as a floor for titles not
    //    seen yet. A feed error makes the floor apply to every title with shuffled values.
    // A launch (an event) is in the feed: a title nobody watched becomes the day's hit.
    for (const EventSpec& ev : s_.events) {
        if (ev.kind != "launch" || ev.day != day) continue;
        uint32_t pick = 0, worst = 0;
        for (uint32_t t = 0; t < s_.titles; ++t)
            if (release_day_[t] < 0 && region_rank_[0][t] >= worst &&
                std::find(launched_.begin(), launched_.end(), t) == launched_.end()) {
                worst = region_rank_[0][t];
                pick = t;
            }
        launched_.push_back(pick);
        events_out_.push_back({{"day", day},
                               {"hour", ev.hour},
                               {"kind", "launch"},
                               {"target", fmt::format("/t/{}", pick + 1)},
                               {"effect", fmt::format("title {} launches at {}x the top title's "
                                                      "demand, known to the feed",
                                                      pick + 1, 2 * s_.launch_boost)}});
    }
    day_weights(day);
    Rng feed_rng(s_.seed ^ (0xfeed + day));
    for (uint32_t r = 0; r < s_.regions.size(); ++r) {
        const double total_w = title_cdf_[r].total();
        const double views = diurnal_sessions * s_.regions[r].weight / region_cdf_.total();
        std::vector<float> feed(F);
        for (size_t f = 0; f < F; ++f)
            feed[f] =
                static_cast<float>(views * weight_[r][f / ladder_] / std::max(total_w, 1e-12) *
                                   s_.rung_weights[f % ladder_] / rung_cdf_.total());
        if (feed_error_tonight_)
            for (size_t i = F; i > 1; --i)
                std::swap(feed[i - 1], feed[feed_rng.below(i)]);
        for (size_t f = 0; f < F; ++f) {
            const uint32_t t = static_cast<uint32_t>(f / ladder_);
            float e = day == 0 ? feed[f]
                               : static_cast<float>(s_.popularity_alpha * seen_[r][f] +
                                                    (1 - s_.popularity_alpha) * est_[r][f]);
            const bool unseen = release_day_[t] >= static_cast<int64_t>(day) ||
                                std::find(launched_.begin(), launched_.end(), t) != launched_.end();
            if (feed_error_tonight_ || unseen) e = std::max(e, feed[f]);
            est_[r][f] = e;
            seen_[r][f] = 0;
        }
    }
    if (feed_error_tonight_)
        events_out_.push_back({{"day", day},
                               {"hour", 0},
                               {"kind", "feed-error"},
                               {"effect", "tonight's placement used a shuffled popularity feed"}});
    feed_error_tonight_ = false;
    report_progress(day, "placement", 0);
    // 2. Per region, the files by estimate; each site is given the head of the list that can
    //    fit (place_cluster stops being able to place files long before).
    std::vector<std::vector<uint32_t>> order(s_.regions.size());
    std::vector<std::vector<place::FileDemand>> lists(s_.regions.size());
    std::vector<double> total_pop(s_.regions.size(), 0);
    std::vector<uint64_t> head_bytes(s_.regions.size(), 0);
    for (const Site& site : sites_) {
        uint64_t storage = 0;
        for (uint32_t e : site.edges)
            storage += edges_[e].disk + edges_[e].flash;
        head_bytes[site.region] = std::max(head_bytes[site.region], storage + storage / 2);
    }
    for (uint32_t r = 0; r < s_.regions.size(); ++r) {
        order[r].resize(F);
        std::iota(order[r].begin(), order[r].end(), 0u);
        const std::vector<float>& est = est_[r];
        // Placement's own order (popularity, then path), so that it need not sort again.
        std::sort(order[r].begin(), order[r].end(), [&](uint32_t a, uint32_t b) {
            return est[a] != est[b] ? est[a] > est[b] : path_rank_[a] < path_rank_[b];
        });
        uint64_t bytes = 0;
        for (uint32_t f : order[r]) {
            total_pop[r] += est[f];
            if (bytes < head_bytes[r]) {
                lists[r].push_back(place::FileDemand{paths_[f], size_[f], est[f]});
                bytes += size_[f];
            }
        }
    }
    // 3. Placement per site (two threads: the sites are independent).
    std::vector<std::vector<std::vector<uint32_t>>> planned(sites_.size());
    place::PlacementOptions opt;
    opt.copies_factor = s_.copies_factor;
    auto place_site = [&](size_t si) {
        const Site& site = sites_[si];
        std::vector<place::EdgeStorage> st;
        uint64_t storage = 0;
        for (uint32_t e : site.edges) {
            st.push_back(
                place::EdgeStorage{edges_[e].id, edges_[e].disk, edges_[e].flash, edges_[e].gbps});
            storage += edges_[e].disk + edges_[e].flash;
        }
        const auto& list = lists[site.region];
        size_t n = 0;
        uint64_t bytes = 0;
        while (n < list.size() && bytes < storage + storage / 2)
            bytes += list[n++].size;
        place::ClusterPlan plan =
            place::place_cluster(list.data(), n, total_pop[site.region], st, opt);
        planned[si].resize(site.edges.size());
        for (size_t k = 0; k < site.edges.size(); ++k) {
            planned[si][k].reserve(plan.per_edge[k].size());
            for (const place::PlacedCopy& c : plan.per_edge[k]) // hottest first
                planned[si][k].push_back(order[site.region][c.file]);
        }
    };
    {
        std::atomic<size_t> next{0};
        auto worker = [&] {
            for (size_t si; (si = next.fetch_add(1)) < sites_.size();)
                place_site(si);
        };
        std::thread other(worker);
        worker();
        other.join();
    }
    report_progress(day, "fill", 0);
    // 4. Fill: each edge downloads its new files, hottest first, within the night's window at
    //    its rate cap; what does not fit is missing tomorrow (and is due again the next
    //    night). Sources: a peer of the site that had the file, else an exchange of the
    //    region that will hold it, else the origin.

    std::vector<std::vector<uint8_t>> region_ix(s_.regions.size());
    for (uint32_t si = 0; si < sites_.size(); ++si) {
        if (!sites_[si].ix) continue;
        auto& v = region_ix[sites_[si].region];
        if (v.empty()) v.assign(F, 0);
        for (const auto& files : planned[si])
            for (uint32_t f : files)
                v[f] = 1;
    }
    const double window_bytes = s_.fill_rate_gbps * 1e9 / 8 * s_.fill_window_hours * 3600;
    double fill_peer = 0, fill_ix = 0, fill_origin = 0, churn = 0, unfilled = 0;
    for (uint32_t si = 0; si < sites_.size(); ++si) {
        const Site& site = sites_[si];
        // What the site held last night (a peer of an edge that lacks a file has it).
        std::vector<uint32_t> site_old;
        for (uint32_t e : site.edges) {
            std::vector<uint32_t> merged;
            std::set_union(site_old.begin(), site_old.end(), edges_[e].files.begin(),
                           edges_[e].files.end(), std::back_inserter(merged));
            site_old.swap(merged);
        }
        std::vector<std::vector<uint32_t>> nexts(site.edges.size());
        for (size_t k = 0; k < site.edges.size(); ++k) {
            Edge& e = edges_[site.edges[k]];
            std::vector<uint32_t>& next = nexts[k];
            double budget = window_bytes;
            for (uint32_t f : planned[si][k]) {
                if (std::binary_search(e.files.begin(), e.files.end(), f)) {
                    next.push_back(f);
                    continue;
                }
                if (e.failed || budget < static_cast<double>(size_[f])) {
                    unfilled += static_cast<double>(size_[f]);
                    continue;
                }
                budget -= static_cast<double>(size_[f]);
                next.push_back(f);
                if (std::binary_search(site_old.begin(), site_old.end(), f))
                    fill_peer += static_cast<double>(size_[f]);
                else if (!site.ix && !region_ix[site.region].empty() && region_ix[site.region][f])
                    fill_ix += static_cast<double>(size_[f]);
                else
                    fill_origin += static_cast<double>(size_[f]);
            }
            std::sort(next.begin(), next.end());
            for (uint32_t f : e.files)
                if (!std::binary_search(next.begin(), next.end(), f))
                    churn += static_cast<double>(size_[f]);
        }
        for (size_t k = 0; k < site.edges.size(); ++k)
            edges_[site.edges[k]].files = std::move(nexts[k]);
    }
    // 5. Steering's holders follow what the edges hold (edges are numbered site by site, so
    //    the holders come out sorted as rank() wants them).
    std::vector<uint32_t> count(F, 0);
    for (const Edge& e : edges_)
        for (uint32_t f : e.files)
            ++count[f];
    for (size_t f = 0; f < F; ++f) {
        tf_[f]->holders.clear();
        tf_[f]->holders.reserve(count[f]);
    }
    for (uint32_t ei = 0; ei < edges_.size(); ++ei)
        for (uint32_t f : edges_[ei].files)
            tf_[f]->holders.push_back(ei);
    (*day_out)["fill_bytes"] = fill_peer + fill_ix + fill_origin;
    (*day_out)["fill_bytes_by_source"] = {
        {"peer", fill_peer}, {"ix", fill_ix}, {"origin", fill_origin}};
    (*day_out)["fill_unfinished_bytes"] = unfilled;
    (*day_out)["churn_bytes"] = churn;
}

void Engine::apply_events(uint32_t day, int64_t minute) {
    for (const EventSpec& ev : s_.events) {
        if (ev.day != day || static_cast<int64_t>(ev.hour * 60) != minute % 1440) continue;
        json out = {{"day", day}, {"hour", ev.hour}, {"kind", ev.kind}, {"target", ev.target}};
        const int64_t until = minute + static_cast<int64_t>(ev.hours * 60);
        if (ev.kind == "edge-fail") {
            for (Edge& e : edges_)
                if (e.id == ev.target) {
                    e.failed = true;
                    e.failed_until_min = until;
                    out["effect"] = fmt::format("{} fails for {} h", e.id, ev.hours);
                }
        } else if (ev.kind == "bgp-loss") {
            for (Site& s : sites_)
                if (s.name == ev.target && !s.ix) {
                    s.bgp_lost = true;
                    s.bgp_back_min = until;
                    reindex_prefixes();
                    out["effect"] = fmt::format("{} loses its BGP session for {} h: its clients "
                                                "go to the exchanges",
                                                s.name, ev.hours);
                }
        } else if (ev.kind == "launch") {
            continue; // applied before the night's placement (the feed knows it)
        } else if (ev.kind == "feed-error") {
            feed_error_tonight_ = true;
            out["effect"] = "the next placement uses a shuffled popularity feed";
        }
        if (!out.contains("effect")) out["effect"] = "no such target";
        events_out_.push_back(std::move(out));
    }
}

void Engine::run_day(uint32_t day, json* day_out) {
    std::vector<double> diurnal = s_.diurnal;
    if (diurnal.empty()) // an evening peak: 4x the night's trough
        for (int h = 0; h < 24; ++h)
            diurnal.push_back(1.0 + 1.5 * (1 + std::cos((h - 21) * std::numbers::pi / 12)));
    const double dsum = std::accumulate(diurnal.begin(), diurnal.end(), 0.0);
    Tally day_tally;
    std::vector<Tally> hours(24);
    std::vector<double> hour_peak(24, 0);
    std::vector<double> site_client_bytes(sites_.size(), 0);
    double lru_hit = 0, lru_bytes = 0, lru_vcdn_own = 0;
    for (Edge& e : edges_)
        e.day_peak = 0;
    // Sessions end where they started: a ring of per-minute departures.
    const size_t ring = size_t{s_.max_minutes} + 2;
    std::vector<std::vector<Departure>>& ends = ends_;
    if (ends.size() != ring) ends.assign(ring, {});
    // Sessions per minute from the cumulative diurnal curve: they add up to the day's number
    // exactly.
    auto started_by = [&](int64_t m) { // sessions begun before minute m
        const int64_t h = m / 60;
        double w = 0;
        for (int64_t k = 0; k < h; ++k)
            w += diurnal[static_cast<size_t>(k)];
        if (h < 24) w += diurnal[static_cast<size_t>(h)] * static_cast<double>(m % 60) / 60;
        return m >= 1440 ? static_cast<uint64_t>(std::llround(s_.sessions_per_day))
                         : static_cast<uint64_t>(std::floor(s_.sessions_per_day * w / dsum + 1e-9));
    };
    for (int64_t m = 0; m < 1440; ++m) {
        const int64_t minute = int64_t{day} * 1440 + m;
        for (const Departure& dep : ends[static_cast<size_t>(minute) % ring]) {
            const uint32_t e = dep.edge;
            const double g = dep.gbps;
            if (edges_[e].epoch != dep.epoch) continue; // broke off when the edge failed
            edges_[e].load = std::max(0.0, edges_[e].load - g);
            Site& es = sites_[edges_[e].site];
            es.load = std::max(0.0, es.load - g);
            edges_[e].sessions = std::max<int64_t>(0, edges_[e].sessions - 1);
        }
        ends[static_cast<size_t>(minute) % ring].clear();
        apply_events(day, minute);
        for (Site& s : sites_)
            if (s.bgp_lost && minute >= s.bgp_back_min) {
                s.bgp_lost = false;
                reindex_prefixes();
            }
        for (uint32_t ei = 0; ei < edges_.size(); ++ei) {
            Edge& e = edges_[ei];
            if (e.failed && minute >= e.failed_until_min) e.failed = false;
        }
        const int h = static_cast<int>(m / 60);
        const uint64_t n = started_by(m + 1) - started_by(m);
        Tally& ht = hours[h];
        for (uint64_t i = 0; i < n; ++i) {
            const uint32_t r = region_cdf_.sample(rng_.uniform());
            int64_t client_site = -1;
            uint32_t addr;
            const uint32_t block = (16 + r) << 24;
            if (region_sites_[r].empty() || rng_.uniform() < s_.regions[r].ix_only_share) {
                addr = block + (4095u << 12) + 1 + static_cast<uint32_t>(rng_.below(4000));
            } else {
                const uint32_t j = region_site_cdf_[r].sample(rng_.uniform());
                client_site = region_sites_[r][j];
                addr = block + (j << 12) + 1 + static_cast<uint32_t>(rng_.below(4000));
            }
            const uint64_t draw = rng_.next();
            const uint32_t t = title_alias_[r].sample(draw, rng_.uniform());
            const uint32_t k = rung_cdf_.sample(rng_.uniform());
            const uint32_t f = t * ladder_ + k;
            const double mins = std::min<double>(
                title_minutes_[t], std::max(1.0, -std::log(1 - rng_.uniform()) * s_.watch_minutes));
            const double gbps = s_.ladder_kbps[k] / 1e6;
            const double bytes = s_.ladder_kbps[k] * 125.0 * mins * 60;
            io::IpAddress ip;
            ip.family = AF_INET;
            ip.bytes[0] = static_cast<uint8_t>(addr >> 24);
            ip.bytes[1] = static_cast<uint8_t>(addr >> 16);
            ip.bytes[2] = static_cast<uint8_t>(addr >> 8);
            ip.bytes[3] = static_cast<uint8_t>(addr);
            // The control plane's steering, then the player: the first URL whose edge is
            // alive and has room; a dead edge costs a failover.
            const std::vector<steer::Ranked> ranked =
                steer::rank(topo_, paths_[f], tf_[f], ip, s_.max_urls);
            int64_t served = -1;
            uint64_t failovers = 0;
            for (const steer::Ranked& rk : ranked) {
                if (rk.edge < 0) break;
                Edge& e = edges_[static_cast<size_t>(rk.edge)];
                if (e.failed) {
                    ++failovers;
                    continue;
                }
                if (e.load + gbps > e.gbps) continue; // full: the next rank
                const Site& es = sites_[e.site];
                if (es.uplink_gbps > 0 && es.load + gbps > es.uplink_gbps) continue;
                served = rk.edge;
                break;
            }
            Tally one;
            one.sessions = 1;
            one.bytes = bytes;
            one.failovers = failovers;
            if (served >= 0) {
                Edge& e = edges_[static_cast<size_t>(served)];
                e.load += gbps;
                sites_[e.site].load += gbps;
                ++e.sessions;
                const size_t end =
                    static_cast<size_t>(minute + static_cast<int64_t>(std::ceil(mins))) % ring;
                ends[end].push_back(
                    Departure{static_cast<uint32_t>(served), e.epoch, static_cast<float>(gbps)});
                (sites_[e.site].ix ? one.ix : one.embedded) = bytes;
            } else {
                one.origin = bytes;
            }
            if (client_site >= 0) {
                site_client_bytes[static_cast<size_t>(client_site)] += bytes;
                const bool own =
                    served >= 0 && edges_[static_cast<size_t>(served)].site == client_site;
                if (!own) {
                    if (site_holds(static_cast<uint32_t>(client_site), f))
                        one.health_miss = bytes;
                    else
                        one.content_miss = bytes;
                }
                if (lru_site_[static_cast<size_t>(client_site)]) {
                    // The same session through an LRU cache on the site's edges: the edge by
                    // consistent hashing of the file, a miss fetched upstream.
                    const Site& cs = sites_[static_cast<size_t>(client_site)];
                    uint32_t pick = cs.edges[0];
                    uint64_t best = 0;
                    for (uint32_t e : cs.edges) {
                        const uint64_t sc =
                            steer::rendezvous_score(file_hash_[f], topo_.edges[e].hash);
                        if (sc >= best) {
                            best = sc;
                            pick = e;
                        }
                    }
                    lru_bytes += bytes;
                    if (lru_.at(pick).access(f, size_[f])) lru_hit += bytes;
                    if (own) lru_vcdn_own += bytes;
                }
            }
            seen_[r][f] += 1;
            day_bytes_[r][f] += static_cast<float>(bytes);
            ht.add(one);
        }
        // A minute's end: the health rule on every edge that could be anything but up.
        for (uint32_t ei = 0; ei < edges_.size(); ++ei) {
            Edge& e = edges_[ei];
            const double util = e.load / e.gbps;
            e.day_peak = std::max(e.day_peak, util);
            hour_peak[h] = std::max(hour_peak[h], util);
            if (!e.failed && e.up && util < s_.load_low) continue;
            control::HealthInput in;
            in.state = e.state;
            in.reason = e.reason;
            in.since_ms = e.since_ms;
            in.now_ms = minute * 60000;
            in.last_heartbeat_ms = e.failed ? std::max<int64_t>(1, in.now_ms - 60000) : in.now_ms;
            in.gbps_out = e.load;
            in.capacity_gbps = e.gbps;
            control::HealthVerdict v = control::evaluate_health(health_, in);
            if (v.state != e.state) {
                e.state = v.state;
                e.since_ms = in.now_ms;
                if (e.failed && v.state == "down") {
                    // Its sessions break off (their players fail over; not replayed here).
                    day_tally.interrupted += static_cast<uint64_t>(e.sessions);
                    e.sessions = 0;
                    sites_[e.site].load = std::max(0.0, sites_[e.site].load - e.load);
                    e.load = 0;
                    ++e.epoch;
                }
            }
            e.reason = v.reason;
            e.up = e.state == "up";
            topo_.edges[ei].eligible = e.state == "up";
        }
        if (m % 60 == 59) report_progress(day, "sessions", (m + 1) / 1440.0);
    }
    for (const Tally& t : hours)
        day_tally.add(t);
    total_.add(day_tally);
    // Peaks: the busiest edge, and the 99th percentile of the edges' own peaks.
    std::vector<double> peaks;
    for (const Edge& e : edges_)
        peaks.push_back(e.day_peak);
    std::sort(peaks.begin(), peaks.end());
    const double p99 =
        peaks.empty() ? 0 : peaks[std::min(peaks.size() - 1, peaks.size() * 99 / 100)];
    // The ideal static placement for this day: each embedded site holds the top files by
    // the day's true demand of its region that fit its storage (one copy each, no load
    // limit); its clients' bytes for those files would have stayed inside.
    double ideal = 0;
    for (uint32_t r = 0; r < s_.regions.size(); ++r) {
        std::vector<uint32_t> ord(paths_.size());
        std::iota(ord.begin(), ord.end(), 0u);
        const auto& db = day_bytes_[r];
        std::sort(ord.begin(), ord.end(), [&](uint32_t a, uint32_t b) { return db[a] > db[b]; });
        std::vector<double> cum_size, cum_bytes;
        double cs = 0, cb = 0, all = 0;
        for (uint32_t f : ord) {
            if (db[f] <= 0) break;
            cs += static_cast<double>(size_[f]);
            cb += db[f];
            cum_size.push_back(cs);
            cum_bytes.push_back(cb);
        }
        for (float b : db)
            all += b;
        for (uint32_t si : region_sites_[r]) {
            double storage = 0;
            for (uint32_t e : sites_[si].edges)
                storage += static_cast<double>(edges_[e].disk + edges_[e].flash);
            const size_t fit = static_cast<size_t>(
                std::upper_bound(cum_size.begin(), cum_size.end(), storage) - cum_size.begin());
            const double frac = fit == 0 || all <= 0 ? 0 : cum_bytes[fit - 1] / all;
            ideal += site_client_bytes[si] * frac;
        }
        std::fill(day_bytes_[r].begin(), day_bytes_[r].end(), 0.0f);
    }
    json d = day_tally.shares();
    for (auto& [k, v] : day_out->items())
        d[k] = v;
    d["day"] = day;
    d["offload_ideal"] = day_tally.bytes > 0 ? ideal / day_tally.bytes : 0;
    d["placement_vs_ideal"] = ideal > 0 ? (day_tally.embedded + day_tally.health_miss) / ideal : 0;
    d["offload_lru"] = lru_bytes > 0 ? lru_hit / lru_bytes : 0;
    d["offload_vcdn_on_lru_sample"] = lru_bytes > 0 ? lru_vcdn_own / lru_bytes : 0;
    d["lru_upstream_bytes"] = lru_bytes - lru_hit;
    d["peak_edge_utilisation"] = peaks.empty() ? 0 : peaks.back();
    double storage_use = 0;
    for (const Edge& e : edges_) {
        double held = 0;
        for (uint32_t f : e.files)
            held += static_cast<double>(size_[f]);
        storage_use = std::max(storage_use, held / static_cast<double>(e.disk + e.flash));
    }
    d["storage_use_max"] = storage_use; // the fullest edge's share of its storage
    d["p99_edge_utilisation"] = p99;
    json hj = json::array();
    for (int h = 0; h < 24; ++h) {
        json x = hours[static_cast<size_t>(h)].shares();
        x["hour"] = h;
        x["peak_edge_utilisation"] = hour_peak[static_cast<size_t>(h)];
        hj.push_back(std::move(x));
    }
    d["hours"] = std::move(hj);
    *day_out = std::move(d);
    lru_hit_ += lru_hit;
    lru_bytes_ += lru_bytes;
    lru_vcdn_own_ += lru_vcdn_own;
}

Result<json> Engine::run() {
    if (Status st = build_fleet(); !st) return st.error();
    build_catalog();
    json days = json::array();
    double ideal_bytes = 0, fill = 0, churn = 0, peak = 0, p99 = 0;
    for (uint32_t day = 0; day < s_.days; ++day) {
        json d = json::object();
        place_and_fill(day, &d);
        run_day(day, &d);
        ideal_bytes += d["offload_ideal"].get<double>() * d["bytes"].get<double>();
        fill += d["fill_bytes"].get<double>();
        churn += d["churn_bytes"].get<double>();
        peak = std::max(peak, d["peak_edge_utilisation"].get<double>());
        p99 = std::max(p99, d["p99_edge_utilisation"].get<double>());
        days.push_back(std::move(d));
    }
    json total = total_.shares();
    total["offload_ideal"] = total_.bytes > 0 ? ideal_bytes / total_.bytes : 0;
    total["placement_vs_ideal"] =
        ideal_bytes > 0 ? (total_.embedded + total_.health_miss) / ideal_bytes : 0;
    total["offload_lru"] = lru_bytes_ > 0 ? lru_hit_ / lru_bytes_ : 0;
    total["offload_vcdn_on_lru_sample"] = lru_bytes_ > 0 ? lru_vcdn_own_ / lru_bytes_ : 0;
    total["lru_upstream_bytes"] = lru_bytes_ - lru_hit_;
    total["fill_bytes"] = fill;
    total["churn_bytes"] = churn;
    total["peak_edge_utilisation"] = peak;
    total["p99_edge_utilisation"] = p99;
    size_t embedded_sites = 0;
    for (const Site& s : sites_)
        embedded_sites += !s.ix;
    return json{{"scenario", s_.name},
                {"seed", s_.seed},
                {"fleet",
                 {{"regions", s_.regions.size()},
                  {"sites", sites_.size()},
                  {"embedded_sites", embedded_sites},
                  {"edges", edges_.size()},
                  {"files", paths_.size()},
                  {"lru_sample_sites", lru_.empty() ? 0 : s_.lru_sample_sites}}},
                {"days", std::move(days)},
                {"total", std::move(total)},
                {"events", events_out_}};
}

} // namespace

Result<json> run(const Scenario& s, const std::function<void(const Progress&)>& progress) {
    Engine e(s, progress);
    return e.run();
}

std::string summary_table(const json& rep) {
    std::string out;
    auto it = std::back_inserter(out);
    const json& fl = rep["fleet"];
    fmt::format_to(it, "scenario {}: {} edges in {} sites ({} embedded), {} files\n",
                   rep["scenario"].get<std::string>(), fl["edges"].get<size_t>(),
                   fl["sites"].get<size_t>(), fl["embedded_sites"].get<size_t>(),
                   fl["files"].get<size_t>());
    fmt::format_to(
        it, "{:>4} {:>11} {:>9} {:>7} {:>7} {:>8} {:>8} {:>7} {:>7} {:>8} {:>8} {:>9} {:>9}\n",
        "day", "sessions", "embedded", "ix", "origin", "content", "health", "ideal", "lru", "peak",
        "p99", "fill PB", "churn PB");
    auto row = [&](const std::string& label, const json& d) {
        fmt::format_to(
            it,
            "{:>4} {:>11} {:>8.1f}% {:>6.1f}% {:>6.1f}% {:>7.2f}% {:>7.2f}% {:>6.1f}% "
            "{:>6.1f}% {:>7.0f}% {:>7.0f}% {:>9.3f} {:>9.3f}\n",
            label, d["sessions"].get<uint64_t>(), 100 * d["offload_embedded"].get<double>(),
            100 * d["offload_ix"].get<double>(), 100 * d["offload_origin"].get<double>(),
            100 * d["content_misses"].get<double>(), 100 * d["health_misses"].get<double>(),
            100 * d["offload_ideal"].get<double>(), 100 * d["offload_lru"].get<double>(),
            100 * d["peak_edge_utilisation"].get<double>(),
            100 * d["p99_edge_utilisation"].get<double>(), d["fill_bytes"].get<double>() / 1e15,
            d["churn_bytes"].get<double>() / 1e15);
    };
    for (const json& d : rep["days"])
        row(std::to_string(d["day"].get<uint32_t>()), d);
    row("all", rep["total"]);
    const json& t = rep["total"];
    fmt::format_to(it,
                   "placement vs ideal: {:.1f}% (embedded + health misses over the ideal static "
                   "placement's embedded share)\n",
                   100 * t["placement_vs_ideal"].get<double>());
    fmt::format_to(it,
                   "LRU comparison ({} sampled sites): LRU pull-through {:.1f}% of their clients' "
                   "bytes from the site, vcdn {:.1f}%\n",
                   rep["fleet"]["lru_sample_sites"].get<uint32_t>(),
                   100 * t["offload_lru"].get<double>(),
                   100 * t["offload_vcdn_on_lru_sample"].get<double>());
    for (const json& e : rep["events"])
        fmt::format_to(it, "event day {} {:05.2f}h {}: {}\n", e["day"].get<uint32_t>(),
                       e["hour"].get<double>(), e["kind"].get<std::string>(),
                       e.value("effect", std::string()));
    return out;
}

} // namespace vcdn::sim
