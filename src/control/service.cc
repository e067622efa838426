// The control plane's sync loop: read the database, judge every edge's health, publish a new
// View when anything steering or the API shows has changed.
#include <chrono>
#include <fmt/format.h>
#include <set>
#include <thread>
#include <unordered_set>

#include <vcdn/base/log.h>
#include <vcdn/base/time.h>

#include "service.h"

namespace vcdn::control {

namespace {
// IPv4 by address, IPv6 by its /64: one subscriber line usually has a whole /64, so counting
// single IPv6 addresses would let one guesser use 2^64 of them.
std::string addr_key(const io::IpAddress& a) {
    const size_t n = a.family == AF_INET6 ? 8 : 16;
    return std::string(reinterpret_cast<const char*>(a.bytes), n) + static_cast<char>(a.family);
}
} // namespace

bool last_resort(const HealthConfig& cfg, const EdgeStatus& st, int64_t now_ms) {
    return st.state == "draining" && st.last_heartbeat_ms > 0 &&
           now_ms - st.last_heartbeat_ms <=
               int64_t{cfg.missed_heartbeats} * cfg.heartbeat_interval_ms &&
           st.report.healthy;
}

SoleCopies sole_copies(const View& v, const std::set<std::string>& leaving, size_t sample_max) {
    SoleCopies out;
    const steer::Topology& t = *v.topo;
    // Per topology edge: 1 leaving, 2 another edge that is up, 0 neither.
    std::vector<uint8_t> role(t.edges.size(), 0);
    bool any = false;
    for (size_t i = 0; i < t.edges.size(); ++i) {
        if (leaving.count(t.edges[i].id)) {
            role[i] = 1;
            any = true;
        } else if (auto it = v.status->find(t.edges[i].id);
                   it != v.status->end() && it->second.state == "up") {
            role[i] = 2;
        }
    }
    if (!any) return out;
    for (const auto& [path, tf] : t.files) {
        bool theirs = false, elsewhere = false;
        for (uint32_t h : tf.holders) {
            theirs = theirs || role[h] == 1;
            elsewhere = elsewhere || role[h] == 2;
        }
        if (!theirs || elsewhere) continue;
        ++out.files;
        out.bytes += tf.size;
        if (out.sample.size() < sample_max) out.sample.push_back(path);
    }
    std::sort(out.sample.begin(), out.sample.end());
    return out;
}

nlohmann::json SoleCopies::to_json() const {
    return {{"files", files}, {"bytes", bytes}, {"sample", sample}};
}

int64_t AuthLimiter::blocked_for(const io::IpAddress& client, int64_t now) {
    std::lock_guard lk(mu_);
    auto it = by_addr_.find(addr_key(client));
    if (it == by_addr_.end() || it->second.count < kMaxFailures) return 0;
    const int64_t left = it->second.window_start + kWindowMs - now;
    if (left <= 0) {
        by_addr_.erase(it);
        return 0;
    }
    refusals_.fetch_add(1, std::memory_order_relaxed);
    return left;
}

void AuthLimiter::failed(const io::IpAddress& client, int64_t now) {
    failures_.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard lk(mu_);
    if (by_addr_.size() >= kMaxAddresses) {
        // Drop the windows that are over; if none is, every window. Either way the next scan is
        // at least kMaxAddresses failures away, so the work per failure stays constant on
        // average. (Forgetting all windows helps a guesser only once it commands kMaxAddresses
        // addresses or /64s, and then only for one window.)
        for (auto it = by_addr_.begin(); it != by_addr_.end();)
            it = now - it->second.window_start >= kWindowMs ? by_addr_.erase(it) : std::next(it);
        if (by_addr_.size() > kMaxAddresses / 2) {
            by_addr_.clear();
            resets_.fetch_add(1, std::memory_order_relaxed);
        }
    }
    Entry& e = by_addr_[addr_key(client)];
    if (now - e.window_start >= kWindowMs) e = Entry{now, 0};
    ++e.count;
}

void Service::wake_sync() {
    {
        std::lock_guard lk(sync_mu);
        sync_now = true;
    }
    sync_cv.notify_all();
}

void Service::sync_loop() {
    pthread_setname_np(pthread_self(), "control-sync");
    std::unique_lock lk(sync_mu);
    while (!stopping) {
        sync_cv.wait_for(lk, std::chrono::milliseconds(cfg.sync_interval_ms),
                         [&] { return stopping || sync_now; });
        if (stopping) break;
        sync_now = false;
        lk.unlock();
        sync_once(true);
        sync_turn_ms.store(monotonic_ms(), std::memory_order_relaxed);
        lk.lock();
    }
}

bool Service::sync_once(bool coalesce) {
    std::lock_guard serial(sync_once_mu);
    auto fail = [&](const Error& e) {
        sync_errors.fetch_add(1, std::memory_order_relaxed);
        static log::RateLimit rl(5000);
        uint64_t suppressed = 0;
        if (rl.allow(monotonic_ms(), &suppressed))
            log::error("control: database {}: {} ({} similar suppressed)", store->describe(),
                       e.message, suppressed);
        return false;
    };
    auto old = current();
    auto gen = store->generation();
    if (!gen) return fail(gen.error());
    auto statuses = store->statuses();
    if (!statuses) return fail(statuses.error());

    StoreSnapshot snap;
    bool structural = !old || *gen != old->generation;
    if (structural && old && coalesce) {
        const int64_t t = monotonic_ms();
        rebuild_tokens =
            std::min(kRebuildBurst, rebuild_tokens + static_cast<double>(t - rebuild_tokens_ms) /
                                                         kRebuildSpacingMs);
        rebuild_tokens_ms = t;
        if (rebuild_tokens < 1) {
            structural = false; // a later round, once a token has come back
            rebuilds_deferred.fetch_add(1, std::memory_order_relaxed);
        } else {
            rebuild_tokens -= 1;
        }
    }
    if (structural) {
        auto s = store->snapshot();
        if (!s) return fail(s.error());
        snap = std::move(*s);
    }
    const Fleet& fleet = structural ? snap.fleet : *old->fleet;
    const auto& drained = structural ? snap.drained : old->drained;

    // Judge every edge; a change is written with compare-and-set (another instance may have
    // made it already, then ours is a no-op and we read theirs next time).
    const int64_t now = wall_ms();
    bool changed_state = false;
    for (const SiteSpec& site : fleet.sites) {
        for (const EdgeSpec& e : site.edges) {
            EdgeStatus& st = (*statuses)[e.id];
            HealthInput in;
            in.state = st.state;
            in.reason = st.reason;
            in.since_ms = st.since_ms;
            in.now_ms = now;
            in.last_heartbeat_ms = st.last_heartbeat_ms;
            auto dit = drained.find(e.id);
            in.drained = dit != drained.end() && dit->second;
            in.reported_healthy = st.report.healthy;
            in.reported_reason = st.report.reason;
            in.gbps_out = st.report.load.gbps_out;
            in.capacity_gbps = e.capacity_gbps;
            HealthVerdict v = evaluate_health(cfg.health, in);
            if (v.state == st.state && v.reason == st.reason) continue;
            auto r = store->change_state(e.id, st.state, v.state, v.reason, now);
            if (!r) return fail(r.error());
            if (*r) {
                state_changes.fetch_add(1, std::memory_order_relaxed);
                log::info("control: edge {} ({}) {} -> {}: {}", e.id, site.name, st.state, v.state,
                          v.reason);
                st.state = v.state;
                st.reason = v.reason;
                st.since_ms = now;
                changed_state = true;
            }
        }
    }
    if (changed_state) {
        auto again = store->statuses();
        if (!again) return fail(again.error());
        *statuses = std::move(*again);
        // Files kept for make-before-break are let go when their new holders are up: an edge
        // coming up is a new plan (rare; no rebuild token needed).
        if (!structural && old && old->plan->retained > 0) {
            auto s = store->snapshot();
            if (!s) return fail(s.error());
            snap = std::move(*s);
            structural = true;
        }
    }

    // Throughput history for the dashboard: one point per new heartbeat.
    {
        std::lock_guard lk(stats_mu);
        for (const auto& [id, st] : *statuses) {
            if (st.last_heartbeat_ms == 0 || history_last_hb[id] == st.last_heartbeat_ms) continue;
            history_last_hb[id] = st.last_heartbeat_ms;
            HistoryPoint p;
            p.t = st.last_heartbeat_ms / 1000;
            p.gbps_out = st.report.load.gbps_out;
            p.connections = st.report.load.connections;
            auto& h = history[id];
            h.push_back(p);
            while (h.size() > 300)
                h.pop_front();
        }
    }

    // Publish when anything steering or the API shows has changed.
    std::shared_ptr<View> next;
    if (structural) {
        next = build_view(std::move(snap), std::move(*statuses));
    } else {
        // Same structure: new statuses; a new topology only if eligibility changed.
        next = std::make_shared<View>(*old);
        auto status =
            std::make_shared<const std::map<std::string, EdgeStatus>>(std::move(*statuses));
        next->status = status;
        std::shared_ptr<steer::Topology> topo;
        for (size_t i = 0; i < old->topo->edges.size(); ++i) {
            const auto& te = old->topo->edges[i];
            auto it = status->find(te.id);
            const bool eligible = it != status->end() && it->second.state == "up";
            const bool resort = it != status->end() && last_resort(cfg.health, it->second, now);
            if (eligible == te.eligible && resort == te.last_resort) continue;
            if (!topo) topo = std::make_shared<steer::Topology>(*old->topo);
            topo->edges[i].eligible = eligible;
            topo->edges[i].last_resort = resort;
        }
        if (topo) next->topo = std::move(topo);
        choose_signing_key(next.get(), now); // a rotated key starts signing on time
    }
    if (structural) {
        // Versions: a manifest whose content changed gets the next number (one instance
        // writes it; the others read it).
        std::map<std::string, std::string> digests;
        for (const auto& [id, m] : next->plan->edges)
            digests[id] = m.digest;
        auto versions = store->record_manifests(next->generation, digests, now);
        if (!versions) return fail(versions.error());
        for (const auto& [id, mv] : *versions) {
            int64_t before = 0;
            if (old)
                if (auto it = old->manifest_versions.find(id); it != old->manifest_versions.end())
                    before = it->second.version;
            if (before != mv.version)
                log::info("control: manifest of {} is version {} ({} files, {} bytes)", id,
                          mv.version, next->plan->edges.at(id).files.size(),
                          next->plan->edges.at(id).bytes);
        }
        next->manifest_versions = std::move(*versions);
    }
    publish(std::move(next));
    flush_demand(now);
    return true;
}

void Service::count_served(const View& v, const EdgeSpec& edge,
                           const std::vector<wire::Served>& served, int64_t now_ms) {
    // What this edge could have sent since its last report of served bytes (edges report
    // every served_interval_ms, not with every heartbeat; the first: a minute's worth). A
    // claim covers at most a minute, so the claims together never exceed what the edge's
    // capacity could have sent in the time they span.
    if (served.empty()) return;
    int64_t since_ms = 60000;
    {
        std::lock_guard lk(served_demand.mu);
        int64_t& last = served_demand.last_ms[edge.id];
        if (last > 0) since_ms = std::clamp<int64_t>(now_ms - last, 1, 60000);
        last = now_ms;
    }
    const steer::Topology& topo = *v.topo;
    auto ei = v.edge_index.find(edge.id);
    if (ei == v.edge_index.end() || ei->second >= topo.edges.size()) return;
    const uint32_t own_site = topo.edges[ei->second].site;
    if (own_site >= v.site_group.size()) return;
    since_ms = std::max<int64_t>(since_ms, cfg.health.heartbeat_interval_ms);
    const double cap =
        std::max(0.0, edge.capacity_gbps) * 1e9 / 8 * static_cast<double>(since_ms) / 1000 * 1.25 +
        double(64u << 20);
    double in_catalog = 0;
    uint64_t foreign = 0;
    for (const wire::Served& x : served) {
        auto f = topo.files.find(std::string_view(x.path));
        if (f == topo.files.end() || f->second.size == 0)
            foreign += x.bytes;
        else
            in_catalog += static_cast<double>(x.bytes);
    }
    served_foreign_bytes.fetch_add(foreign, std::memory_order_relaxed);
    double scale = 1;
    if (in_catalog > cap) {
        scale = cap / in_catalog;
        served_over_capacity_bytes.fetch_add(static_cast<uint64_t>(in_catalog - cap),
                                             std::memory_order_relaxed);
        static thread_local log::RateLimit rl(60000); // heartbeats arrive on every API thread
        uint64_t suppressed = 0;
        if (rl.allow(monotonic_ms(), &suppressed))
            log::warn("control: edge {} says it served {:.0f} MB in {} ms, more than its "
                      "capacity_gbps {} allows: counted as {:.0f} MB ({} similar suppressed)",
                      edge.id, in_catalog / 1e6, since_ms, edge.capacity_gbps, cap / 1e6,
                      suppressed);
    }
    served_bytes.fetch_add(static_cast<uint64_t>(std::min(in_catalog, cap)),
                           std::memory_order_relaxed);
    std::map<std::pair<std::string, std::string>, double> mine;
    double views = 0;
    for (const wire::Served& x : served) {
        auto f = topo.files.find(std::string_view(x.path));
        if (f == topo.files.end() || f->second.size == 0) continue;
        // The clients' own site by their network (so a site learns what its clients watch
        // even while another site serves them), else the serving edge's.
        uint32_t site = own_site;
        if (x.client)
            if (const steer::PrefixTable::Entry* m = topo.prefixes->lookup(x.client->addr);
                m && m->value < topo.prefix_sites->size() &&
                !(*topo.prefix_sites)[m->value].empty())
                site = (*topo.prefix_sites)[m->value][0].site;
        if (site >= v.site_group.size()) site = own_site;
        const double n = static_cast<double>(x.bytes) * scale / static_cast<double>(f->second.size);
        mine[{v.site_group[site], x.path}] += n;
        views += n;
    }
    double before = served_views.load(std::memory_order_relaxed);
    while (!served_views.compare_exchange_weak(before, before + views))
        ;
    std::lock_guard lk(served_demand.mu);
    for (auto& [k, n] : mine)
        served_demand.views[k] += n;
}

void Service::flush_demand(int64_t now) {
    std::map<std::pair<std::string, std::string>, double> all;
    {
        std::lock_guard lk(served_demand.mu);
        all.swap(served_demand.views);
    }
    if (Status s = store->add_demand(all); !s) {
        sync_errors.fetch_add(1, std::memory_order_relaxed);
        log::warn("control: demand not recorded: {}", s.error().message);
    }
    const int64_t period = now / (int64_t{cfg.popularity_period_s} * 1000);
    auto rolled = store->roll_demand(period, cfg.popularity_alpha);
    if (!rolled) {
        sync_errors.fetch_add(1, std::memory_order_relaxed);
        log::warn("control: demand period not rolled: {}", rolled.error().message);
    } else if (*rolled) {
        log::info("control: popularity period {} begins: placement runs on the smoothed demand",
                  period);
        wake_sync();
    }
}

// Each site's client prefixes: what its edges hear over BGP when any of them reports BGP
// (best MED / AS path over the edges, filtered as SiteBgp says), else the fleet's config.
// Rebuilt only when the config prefixes or an edge's routes changed (a full table takes a
// second to index).
void Service::index_site_prefixes(View* v, steer::Topology* topo, const View* old) {
    const Fleet& fleet = *v->fleet;
    steer::Topology& t = *topo;
    std::string key = fmt::format("min{}/{}:", cfg.bgp.min_length_v4, cfg.bgp.min_length_v6);
    for (const SiteSpec& s : fleet.sites) {
        key += s.name + "[" + (s.tier == Tier::kIx ? "ix" : "em") + "]:";
        for (const std::string& p : s.prefixes)
            key += p + ",";
        key += "allowed:";
        for (const std::string& p : s.bgp_allowed)
            key += p + ",";
        key += "asns:";
        for (uint32_t as : s.bgp_allowed_asns)
            key += fmt::format("{},", as);
        for (const EdgeSpec& e : s.edges)
            if (auto it = v->bgp_edges.find(e.id); it != v->bgp_edges.end())
                key += fmt::format("{}@{},", e.id, it->second.version);
        key += ";";
    }
    v->prefix_key = key;
    if (old && old->topo && old->prefix_key == key) {
        t.prefixes = old->topo->prefixes;
        t.prefix_sites = old->topo->prefix_sites;
        v->bgp_sites = old->bgp_sites;
        return;
    }
    const int64_t t0 = monotonic_ms();
    std::vector<std::vector<steer::SitePrefix>> prefixes(fleet.sites.size());
    auto sites = std::make_shared<std::vector<SiteBgp>>();
    size_t learned = 0;
    for (size_t si = 0; si < fleet.sites.size(); ++si) {
        const SiteSpec& s = fleet.sites[si];
        SiteBgp sb;
        sb.site = s.name;
        std::vector<io::IpPrefix> config;
        for (const std::string& p : s.prefixes)
            if (auto pr = io::IpPrefix::parse(p); pr) config.push_back(*pr);
        std::vector<std::pair<const std::string*, const wire::RouteMap*>> tables;
        for (const EdgeSpec& e : s.edges)
            if (auto it = v->bgp_edges.find(e.id); it != v->bgp_edges.end()) {
                tables.emplace_back(&e.id, it->second.routes.get());
                sb.edges.emplace_back(e.id, it->second.routes->size());
            }
        sb.bgp = !tables.empty();
        if (!sb.bgp) {
            for (const io::IpPrefix& p : config)
                prefixes[si].push_back(steer::SitePrefix{p, 0, 0, false});
            sites->push_back(std::move(sb));
            continue;
        }
        std::vector<io::IpPrefix> allowed;
        for (const std::string& p : s.bgp_allowed)
            if (auto pr = io::IpPrefix::parse(p); pr) allowed.push_back(*pr);
        if (s.bgp_allowed.empty()) allowed = config;
        std::vector<uint32_t> asns = s.bgp_allowed_asns;
        std::sort(asns.begin(), asns.end());
        // A short list of the ISP's blocks (validated: at most 10000), checked linearly; the
        // ASNs (at most 10000) by binary search.
        auto refusal = [&](const io::IpPrefix& p, const wire::RouteAttrs& a) -> const char* {
            const bool v4 = p.addr.family == AF_INET;
            if (p.bits < (v4 ? cfg.bgp.min_length_v4 : cfg.bgp.min_length_v6))
                return "shorter than the minimum length";
            for (const io::IpPrefix& b : allowed)
                if (b.bits <= p.bits && b.contains(p.addr)) return nullptr;
            if (a.origin_as != 0 && std::binary_search(asns.begin(), asns.end(), a.origin_as))
                return nullptr;
            return asns.empty()
                       ? "outside the site's bgp_allowed"
                       : "outside the site's bgp_allowed, from an AS not in bgp_allowed_asns";
        };
        auto refuse = [&](const io::IpPrefix& p, const std::string& edge, const char* why) {
            ++sb.refused;
            if (sb.refusals.size() < SiteBgp::kMaxRefusals)
                sb.refusals.push_back(BgpRefusal{p.to_string(), edge, why});
        };
        if (tables.size() == 1) { // one edge: its table is the union, nothing to compare
            prefixes[si].reserve(tables[0].second->size());
            for (const auto& [p, a] : *tables[0].second) {
                if (const char* why = refusal(p, a))
                    refuse(p, *tables[0].first, why);
                else
                    prefixes[si].push_back(steer::SitePrefix{p, a.med, a.path_len, true});
            }
            sb.heard = sb.prefixes = prefixes[si].size();
            learned += sb.prefixes;
            report_site_bgp(s.name, sb, old);
            sites->push_back(std::move(sb));
            continue;
        }
        // The union, the best attributes over the edges, and who hears each prefix: every
        // accepted (prefix, edge) sorted by prefix (a flat sort beats a 1M-node map).
        struct Heard {
            io::IpPrefix prefix;
            const wire::RouteAttrs* attrs;
            uint32_t edge;
        };
        std::vector<Heard> all;
        size_t total = 0, voters = 0;
        for (const auto& tb : tables) {
            total += tb.second->size();
            voters += !tb.second->empty();
        }
        all.reserve(total);
        for (size_t i = 0; i < tables.size(); ++i)
            for (const auto& [p, a] : *tables[i].second) {
                if (const char* why = refusal(p, a))
                    refuse(p, *tables[i].first, why);
                else
                    all.push_back(Heard{p, &a, static_cast<uint32_t>(i)});
            }
        std::sort(all.begin(), all.end(), [](const Heard& a, const Heard& b) {
            if (a.prefix.addr.family != b.prefix.addr.family)
                return a.prefix.addr.family < b.prefix.addr.family;
            const int c = std::memcmp(a.prefix.addr.bytes, b.prefix.addr.bytes, 16);
            if (c != 0) return c < 0;
            return a.prefix.bits != b.prefix.bits ? a.prefix.bits < b.prefix.bits : a.edge < b.edge;
        });
        prefixes[si].reserve(all.size() / std::max<size_t>(1, voters));
        std::vector<uint8_t> heard(tables.size());
        for (size_t i = 0; i < all.size();) {
            const wire::RouteAttrs* best = all[i].attrs;
            std::fill(heard.begin(), heard.end(), 0);
            size_t j = i, count = 0;
            for (; j < all.size() && all[j].prefix == all[i].prefix; ++j) {
                if (all[j].attrs->better_than(*best)) best = all[j].attrs;
                count += !heard[all[j].edge];
                heard[all[j].edge] = 1;
            }
            ++sb.heard;
            if (2 * count > voters)
                prefixes[si].push_back(
                    steer::SitePrefix{all[i].prefix, best->med, best->path_len, true});
            else
                ++sb.minority;
            if (count < tables.size()) {
                ++sb.differing;
                if (sb.differences.size() < SiteBgp::kMaxDifferences) {
                    BgpDifference d;
                    d.prefix = all[i].prefix.to_string();
                    for (size_t k = 0; k < tables.size(); ++k)
                        (heard[k] ? d.heard_by : d.missing_from).push_back(*tables[k].first);
                    sb.differences.push_back(std::move(d));
                }
            }
            i = j;
        }
        sb.prefixes = prefixes[si].size();
        learned += sb.prefixes;
        report_site_bgp(s.name, sb, old);
        sites->push_back(std::move(sb));
    }
    t.index_prefixes(prefixes);
    v->bgp_sites = std::move(sites);
    if (learned > 0)
        log::info("control: steering by {} BGP-learned site prefixes (indexed in {} ms)", learned,
                  monotonic_ms() - t0);
}

// Says so when the edges of a site start or stop disagreeing (or disagree differently), and
// when routes are refused.
void Service::report_site_bgp(const std::string& site, const SiteBgp& sb, const View* old) {
    const SiteBgp* before = nullptr;
    if (old)
        for (const SiteBgp& ob : *old->bgp_sites)
            if (ob.site == site) before = &ob;
    const size_t was = before ? before->differing : 0;
    if (sb.differing != was) {
        if (sb.differing == 0) {
            log::info("control: bgp: the edges of site {} hear the same {} prefixes again", site,
                      sb.prefixes);
        } else {
            std::string sample;
            for (size_t i = 0; i < sb.differences.size() && i < 3; ++i) {
                const BgpDifference& d = sb.differences[i];
                std::string missing;
                for (const std::string& m : d.missing_from)
                    missing += (missing.empty() ? "" : ",") + m;
                sample += fmt::format("{}{} not heard by {}", i ? "; " : "", d.prefix, missing);
            }
            log::warn("control: bgp: the edges of site {} disagree on {} of {} prefixes ({}{}); "
                      "{} heard by half of them or fewer do not steer",
                      site, sb.differing, sb.heard, sample, sb.differing > 3 ? "; ..." : "",
                      sb.minority);
        }
    }
    const size_t refused_before = before ? before->refused : 0;
    if (sb.refused != refused_before && sb.refused > 0) {
        std::string sample;
        for (size_t i = 0; i < sb.refusals.size() && i < 3; ++i)
            sample += fmt::format("{}{} from {}: {}", i ? "; " : "", sb.refusals[i].prefix,
                                  sb.refusals[i].edge, sb.refusals[i].reason);
        log::warn("control: bgp: site {}: {} route(s) refused ({}{})", site, sb.refused, sample,
                  sb.refused > 3 ? "; ..." : "");
    }
}

std::shared_ptr<View> Service::build_view(StoreSnapshot snap,
                                          std::map<std::string, EdgeStatus> st) {
    const std::shared_ptr<const View> old_view = current();
    auto v = std::make_shared<View>();
    v->generation = snap.generation;
    auto fleet = std::make_shared<const Fleet>(std::move(snap.fleet));
    v->fleet = fleet;
    v->drained = std::move(snap.drained);
    auto status = std::make_shared<const std::map<std::string, EdgeStatus>>(std::move(st));
    v->status = status;
    v->catalog_files = snap.files.size();
    auto files = std::make_shared<const std::vector<CatalogEntry>>(std::move(snap.files));
    v->files = files;
    v->titles = index_titles(*files);
    // Make-before-break: drained edges are placed nothing, and an edge keeps what it loses
    // until the file's new holders are up and have it.
    FleetState fs;
    for (const auto& [id, d] : v->drained)
        if (d) fs.drained.insert(id);
    for (const auto& [id, es] : *status)
        if (es.state == "up") fs.up.insert(id);
    fs.inventory = &snap.inventory;
    v->plan = std::make_shared<const FleetPlan>(plan_fleet(*fleet, *files, snap.demand, {}, &fs));
    const int64_t now = wall_ms();
    auto topo = std::make_shared<steer::Topology>();
    steer::Topology& t = *topo;
    // Steering's last resort; placement and fill read the fleet's origin themselves.
    t.origin_url = fleet->origin_serves_players() ? fleet->origin_url : std::string();
    std::map<std::string, uint32_t> site_index;
    for (const SiteSpec& s : fleet->sites) {
        site_index[s.name] = static_cast<uint32_t>(t.sites.size());
        v->site_group.push_back(s.group_name());
        steer::TopoSite ts;
        ts.name = s.name;
        ts.tier = s.tier == Tier::kIx ? steer::SiteTier::kIx : steer::SiteTier::kEmbedded;
        t.sites.push_back(std::move(ts));
    }
    v->bgp_edges = std::move(snap.bgp);
    for (size_t si = 0; si < fleet->sites.size(); ++si) {
        const SiteSpec& s = fleet->sites[si];
        for (const std::string& fb : s.fallback)
            if (auto it = site_index.find(fb); it != site_index.end())
                t.sites[si].fallback.push_back(it->second);
        if (s.tier == Tier::kIx) t.ix_sites.push_back(static_cast<uint32_t>(si));
        for (const EdgeSpec& e : s.edges) {
            steer::TopoEdge te;
            te.id = e.id;
            te.url = e.url;
            te.https_url = e.https_url;
            te.site = static_cast<uint32_t>(si);
            te.hash = steer::hash64(e.id);
            auto it = status->find(e.id);
            te.eligible = it != status->end() && it->second.state == "up";
            te.last_resort = it != status->end() && last_resort(cfg.health, it->second, now);
            v->edge_index[e.id] = static_cast<uint32_t>(t.edges.size());
            t.sites[si].edges.push_back(static_cast<uint32_t>(t.edges.size()));
            t.edges.push_back(std::move(te));
            v->edge_specs.push_back(&e);
        }
    }
    index_site_prefixes(v.get(), &t, old_view.get());
    t.files.reserve(files->size());
    const std::vector<uint64_t> groups = title_groups(*files);
    for (size_t i = 0; i < files->size(); ++i)
        t.files.emplace((*files)[i].path, steer::TopoFile{{}, (*files)[i].size, groups[i]});
    for (const auto& [edge_id, paths] : snap.inventory) {
        auto ei = v->edge_index.find(edge_id);
        if (ei == v->edge_index.end()) continue;
        // An edge that fills by its manifest deletes what the manifest no longer lists: from
        // the moment a manifest drops a file, players are no longer sent there for it (the
        // edge deletes it only after this version is acknowledged).
        std::unordered_set<std::string_view> listed;
        const EdgeManifest* m = nullptr;
        if (auto it = status->find(edge_id); it != status->end() && follows_manifest(it->second))
            if (auto mi = v->plan->edges.find(edge_id); mi != v->plan->edges.end()) m = &mi->second;
        if (m) {
            v->steered_by_manifest.insert(edge_id);
            for (const ManifestEntry& me : m->files)
                listed.insert((*files)[me.file].path);
        }
        for (const std::string& p : paths) {
            if (m && !listed.count(p)) continue;
            if (auto fi = t.files.find(p); fi != t.files.end())
                fi->second.holders.push_back(ei->second);
        }
    }
    for (auto& [path, tf] : t.files) // rank() relies on ascending holders (contiguous by site)
        std::sort(tf.holders.begin(), tf.holders.end());
    v->topo = std::move(topo);
    for (const KeyRecord& k : snap.keys)
        if (!k.retired) v->keys.push_back(k);
    choose_signing_key(v.get(), wall_ms());
    return v;
}

void Service::choose_signing_key(View* v, int64_t now) const {
    // The newest valid key that has had time to reach the edges; a lone key signs at once.
    const KeyRecord* pick = nullptr;
    for (const KeyRecord& k : v->keys)
        if (!pick || k.created_ms + key_propagation_ms() <= now) pick = &k;
    v->origin_key.reset();
    if (!v->fleet->origin_keys.empty()) v->origin_key = v->fleet->origin_keys.back();
    if (pick && v->have_signing_key && v->signing_key.id == pick->id &&
        v->edge_keys.size() == v->topo->edges.size())
        return; // unchanged
    v->have_signing_key = false;
    v->edge_keys.clear();
    if (!pick) return;
    auth::SigningKey sk;
    sk.id = pick->id;
    if (auth::decode_hex(pick->secret_hex, &sk.secret) &&
        sk.secret.size() >= auth::kMinSecretBytes) {
        v->signing_key = std::move(sk);
        v->have_signing_key = true;
        v->edge_keys.reserve(v->topo->edges.size());
        for (const steer::TopoEdge& te : v->topo->edges)
            v->edge_keys.push_back(auth::derive_key(v->signing_key, te.id));
    }
}

} // namespace vcdn::control
