// Scenario files for `vcdn sim` (TOML) and the two presets.
#include <fmt/format.h>
#include <toml++/toml.h>

#include <vcdn/base/toml_util.h>
#include <vcdn/sim/sim.h>

namespace vcdn::sim {

namespace {

template <class T>
std::vector<T> number_array(const toml::table& t, const char* key, const std::string& where) {
    std::vector<T> out;
    const toml::node* n = t.get(key);
    if (!n) return out;
    const toml::array* a = n->as_array();
    if (!a)
        throw std::runtime_error(fmt::format("{}.{}: expected an array of numbers", where, key));
    for (const toml::node& v : *a) {
        if (auto i = v.value<int64_t>(); i && v.is_integer()) {
            if (*i < 0) throw std::runtime_error(fmt::format("{}.{}: negative", where, key));
            out.push_back(static_cast<T>(*i));
        } else if (auto d = v.value<double>(); d && v.is_floating_point()) {
            if (*d < 0) throw std::runtime_error(fmt::format("{}.{}: negative", where, key));
            out.push_back(static_cast<T>(*d));
        } else {
            throw std::runtime_error(fmt::format("{}.{}: expected numbers", where, key));
        }
    }
    return out;
}

} // namespace

Status validate(const Scenario& s) {
    if (s.days < 1 || s.days > 60) return Error{"days: 1 to 60"};
    if (s.titles < 1 || s.titles > 10000000) return Error{"catalog.titles: 1 to 10,000,000"};
    if (s.ladder_kbps.empty() || s.ladder_kbps.size() > 32)
        return Error{"catalog.ladder_kbps: 1 to 32 bitrates"};
    for (uint32_t k : s.ladder_kbps)
        if (k == 0) return Error{"catalog.ladder_kbps: bitrates above 0"};
    if (s.rung_weights.size() != s.ladder_kbps.size())
        return Error{"catalog.rung_weights: one weight per bitrate of ladder_kbps"};
    double rw = 0;
    for (double w : s.rung_weights)
        rw += w;
    if (rw <= 0) return Error{"catalog.rung_weights: some weight above 0"};
    if (s.min_minutes < 1 || s.max_minutes < s.min_minutes || s.max_minutes > 1440)
        return Error{"catalog: 1 <= min_minutes <= max_minutes <= 1440"};
    if (s.zipf_alpha < 0 || s.zipf_alpha > 3) return Error{"catalog.zipf_alpha: 0 to 3"};
    if (uint64_t{s.new_titles_per_day} * s.days >= s.titles)
        return Error{"catalog.new_titles_per_day x days must be below titles"};
    if (s.sessions_per_day < 0 || s.sessions_per_day > 1e9)
        return Error{"demand.sessions_per_day: 0 to 1e9"};
    if (s.watch_minutes <= 0 || s.watch_minutes > 1440)
        return Error{"demand.watch_minutes: (0, 1440]"};
    if (!s.diurnal.empty() && s.diurnal.size() != 24)
        return Error{"demand.diurnal: 24 hourly weights"};
    if (s.fill_window_hours < 0 || s.fill_window_hours > 24)
        return Error{"fill.window_hours: 0-24"};
    if (s.fill_rate_gbps < 0) return Error{"fill.rate_gbps: >= 0"};
    if (s.popularity_alpha <= 0 || s.popularity_alpha > 1)
        return Error{"control.popularity_alpha: (0, 1]"};
    if (!(s.load_low > 0 && s.load_low < s.load_high && s.load_high <= 1))
        return Error{"control: 0 < load_low < load_high <= 1"};
    if (s.max_urls < 1 || s.max_urls > 16) return Error{"control.max_urls: 1-16"};
    if (s.regions.empty()) return Error{"at least one [[region]]"};
    for (size_t i = 0; i < s.regions.size(); ++i) {
        const RegionSpec& r = s.regions[i];
        if (r.name.empty()) return Error{fmt::format("region[{}]: a name", i)};
        for (size_t j = 0; j < i; ++j)
            if (s.regions[j].name == r.name) return Error{fmt::format("region '{}' twice", r.name)};
        if (r.weight <= 0) return Error{fmt::format("region {}: weight above 0", r.name)};
        if (r.ix_only_share < 0 || r.ix_only_share > 1 || r.variation < 0 || r.variation > 1)
            return Error{fmt::format("region {}: ix_only_share and variation in [0, 1]", r.name)};
    }
    if (s.sites.empty()) return Error{"at least one [[site]]"};
    uint64_t edges = 0, embedded = 0;
    for (const SiteGen& g : s.sites) {
        if (g.name.empty()) return Error{"site: a name"};
        if (g.tier != "embedded" && g.tier != "ix")
            return Error{fmt::format("site {}: tier embedded or ix", g.name)};
        bool known = false;
        for (const RegionSpec& r : s.regions)
            known = known || r.name == g.region;
        if (!known) return Error{fmt::format("site {}: no region '{}'", g.name, g.region)};
        if (g.count < 1 || g.edges_min < 1 || g.edges_max < g.edges_min || g.edges_max > 256)
            return Error{
                fmt::format("site {}: count >= 1, 1 <= edges_min <= edges_max <= 256", g.name)};
        if (g.edge_gbps <= 0) return Error{fmt::format("site {}: edge_gbps above 0", g.name)};
        if (g.disk_bytes + g.flash_bytes == 0)
            return Error{fmt::format("site {}: some storage (disk_bytes, flash_bytes)", g.name)};
        edges += uint64_t{g.count} * g.edges_max;
        if (g.tier == "embedded") embedded += g.count;
    }
    if (edges > 200000) return Error{"at most 200,000 edges"};
    if (embedded > 60000)
        return Error{"at most 60,000 embedded sites (a /16 of client space each)"};
    for (const EventSpec& e : s.events) {
        if (e.kind != "edge-fail" && e.kind != "bgp-loss" && e.kind != "launch" &&
            e.kind != "feed-error")
            return Error{
                fmt::format("event '{}': edge-fail, bgp-loss, launch or feed-error", e.kind)};
        if (e.day >= s.days || e.hour < 0 || e.hour >= 24)
            return Error{fmt::format("event {}: day below days, hour 0-24", e.kind)};
        if ((e.kind == "edge-fail" || e.kind == "bgp-loss") && e.target.empty())
            return Error{fmt::format("event {}: a target (an edge id or a site name)", e.kind)};
    }
    return {};
}

namespace {} // namespace

Result<Scenario> parse_scenario_toml(std::string_view text, std::string_view source) {
    Scenario s;
    try {
        toml::table doc = toml::parse(text, source);
        const std::string src(source);
        toml_util::TableReader top(doc, src);
        top.get("name", &s.name);
        uint64_t seed = s.seed;
        top.get("seed", &seed);
        s.seed = seed;
        top.get("days", &s.days, 1, 60);
        if (const toml::table* t = top.subtable("catalog")) {
            toml_util::TableReader r(*t, "catalog");
            r.get("titles", &s.titles, 1);
            r.mark_used("ladder_kbps");
            r.mark_used("rung_weights");
            if (t->contains("ladder_kbps"))
                s.ladder_kbps = number_array<uint32_t>(*t, "ladder_kbps", "catalog");
            if (t->contains("rung_weights"))
                s.rung_weights = number_array<double>(*t, "rung_weights", "catalog");
            r.get("min_minutes", &s.min_minutes, 1, 1440);
            r.get("max_minutes", &s.max_minutes, 1, 1440);
            r.get("zipf_alpha", &s.zipf_alpha);
            r.get("new_titles_per_day", &s.new_titles_per_day);
            r.get("launch_boost", &s.launch_boost);
            r.get("launch_decay", &s.launch_decay);
            r.finish();
        }
        if (const toml::table* t = top.subtable("demand")) {
            toml_util::TableReader r(*t, "demand");
            r.get("sessions_per_day", &s.sessions_per_day);
            r.get("watch_minutes", &s.watch_minutes);
            r.mark_used("diurnal");
            if (t->contains("diurnal")) s.diurnal = number_array<double>(*t, "diurnal", "demand");
            r.finish();
        }
        if (const toml::table* t = top.subtable("fill")) {
            toml_util::TableReader r(*t, "fill");
            r.get("window_hours", &s.fill_window_hours);
            r.get("rate_gbps", &s.fill_rate_gbps);
            r.finish();
        }
        if (const toml::table* t = top.subtable("control")) {
            toml_util::TableReader r(*t, "control");
            r.get("copies_factor", &s.copies_factor);
            r.get("popularity_alpha", &s.popularity_alpha);
            r.get("load_high", &s.load_high);
            r.get("load_low", &s.load_low);
            r.get("hold_down_minutes", &s.hold_down_minutes, 0, 1440);
            r.get("max_urls", &s.max_urls, 1, 16);
            r.finish();
        }
        if (const toml::table* t = top.subtable("compare")) {
            toml_util::TableReader r(*t, "compare");
            r.get("lru_sample_sites", &s.lru_sample_sites, 0, 10000);
            r.finish();
        }
        auto tables = [&](const char* key, auto fn) {
            const toml::node* n = doc.get(key);
            if (!n) return;
            top.mark_used(key);
            const toml::array* a = n->as_array();
            if (!a) throw std::runtime_error(fmt::format("{}: expected [[{}]] tables", key, key));
            size_t i = 0;
            for (const toml::node& e : *a) {
                const toml::table* t = e.as_table();
                const std::string where = fmt::format("{}[{}]", key, i++);
                if (!t) throw std::runtime_error(where + ": expected a table");
                toml_util::TableReader r(*t, where);
                fn(r);
                r.finish();
            }
        };
        tables("region", [&](toml_util::TableReader& r) {
            RegionSpec g;
            r.get("name", &g.name);
            r.get("weight", &g.weight);
            r.get("ix_only_share", &g.ix_only_share);
            r.get("variation", &g.variation);
            s.regions.push_back(g);
        });
        tables("site", [&](toml_util::TableReader& r) {
            SiteGen g;
            r.get("name", &g.name);
            r.get("count", &g.count, 1, 1000000);
            r.get("tier", &g.tier);
            r.get("region", &g.region);
            uint32_t edges = 0;
            if (r.get("edges", &edges, 1, 256)) g.edges_min = g.edges_max = edges;
            r.get("edges_min", &g.edges_min, 1, 256);
            r.get("edges_max", &g.edges_max, 1, 256);
            r.get("edge_gbps", &g.edge_gbps);
            r.get("disk_bytes", &g.disk_bytes);
            r.get("flash_bytes", &g.flash_bytes);
            r.get("uplink_gbps", &g.uplink_gbps);
            r.get("client_weight", &g.client_weight);
            s.sites.push_back(g);
        });
        tables("event", [&](toml_util::TableReader& r) {
            EventSpec e;
            r.get("day", &e.day);
            r.get("hour", &e.hour);
            r.get("kind", &e.kind);
            r.get("target", &e.target);
            r.get("hours", &e.hours);
            s.events.push_back(e);
        });
        top.finish();
    } catch (const toml::parse_error& e) {
        return toml_util::parse_error(source, e);
    } catch (const std::exception& e) {
        return Error{fmt::format("{}: {}", source, e.what())};
    }
    if (Status st = validate(s); !st)
        return Error{fmt::format("{}: {}", source, st.error().message)};
    return s;
}

Result<Scenario> load_scenario(const std::string& path) {
    auto text = toml_util::read_text_file(path, "scenario");
    if (!text) return text.error();
    return parse_scenario_toml(*text, path);
}

Result<Scenario> preset(std::string_view name) {
    if (name == "small")
        return parse_scenario_toml(R"(
name = "small"
seed = 1
days = 3
[catalog]
titles = 300
ladder_kbps = [750, 1750, 3000]
rung_weights = [0.2, 0.4, 0.4]
min_minutes = 20
max_minutes = 60
zipf_alpha = 0.9
new_titles_per_day = 5
[demand]
sessions_per_day = 200000
watch_minutes = 25
[fill]
window_hours = 6
rate_gbps = 2
[[region]]
name = "eu"
weight = 0.6
[[region]]
name = "us"
weight = 0.4
variation = 0.2
[[site]]
name = "eu-isp"
count = 4
region = "eu"
edges_min = 1
edges_max = 3
edge_gbps = 1.5
disk_bytes = 40000000000
[[site]]
name = "us-isp"
count = 3
region = "us"
edges_min = 1
edges_max = 2
edge_gbps = 1.5
disk_bytes = 40000000000
[[site]]
name = "eu-ix"
tier = "ix"
region = "eu"
edges = 2
edge_gbps = 8
disk_bytes = 200000000000
[[site]]
name = "us-ix"
tier = "ix"
region = "us"
edges = 2
edge_gbps = 8
disk_bytes = 200000000000
[[event]]
day = 1
hour = 20
kind = "edge-fail"
target = "eu-isp-0001-e1"
hours = 4
[[event]]
day = 2
hour = 12
kind = "bgp-loss"
target = "us-isp-0001"
hours = 6
[[event]]
day = 2
hour = 0
kind = "launch"
)",
                                   "preset small");
    if (name == "internet")
        return parse_scenario_toml(R"(
# 10,000 edges (2,000 ISP sites of 1-8 edges, 40 exchange sites of 25), 1M files (100,000 titles
# x 10 bitrates), 100M sessions over 7 days in 6 regions. The demand is a tenth of a large
# streaming service's, so the edges are sized down (0.5 Gbit/s embedded, 5 Gbit/s exchange) to
# run loaded at the evening peak.
name = "internet"
seed = 1
days = 7
[catalog]
titles = 100000
ladder_kbps = [235, 375, 560, 750, 1050, 1750, 2350, 3000, 4300, 5800]
rung_weights = [0.01, 0.02, 0.03, 0.05, 0.07, 0.12, 0.15, 0.2, 0.17, 0.18]
min_minutes = 10
max_minutes = 60
zipf_alpha = 0.9
new_titles_per_day = 20
[demand]
sessions_per_day = 14285715
watch_minutes = 30
[fill]
window_hours = 8
rate_gbps = 2
[[region]]
name = "na"
weight = 0.3
[[region]]
name = "eu"
weight = 0.25
variation = 0.15
[[region]]
name = "latam"
weight = 0.15
variation = 0.2
[[region]]
name = "apac"
weight = 0.15
variation = 0.3
[[region]]
name = "india"
weight = 0.1
variation = 0.4
[[region]]
name = "africa"
weight = 0.05
variation = 0.3
ix_only_share = 0.3
[[site]]
name = "na-isp"
count = 600
region = "na"
edges_min = 1
edges_max = 8
edge_gbps = 0.5
disk_bytes = 8000000000000
flash_bytes = 1000000000000
[[site]]
name = "eu-isp"
count = 500
region = "eu"
edges_min = 1
edges_max = 8
edge_gbps = 0.5
disk_bytes = 8000000000000
flash_bytes = 1000000000000
[[site]]
name = "latam-isp"
count = 300
region = "latam"
edges_min = 1
edges_max = 8
edge_gbps = 0.5
disk_bytes = 8000000000000
flash_bytes = 1000000000000
[[site]]
name = "apac-isp"
count = 300
region = "apac"
edges_min = 1
edges_max = 8
edge_gbps = 0.5
disk_bytes = 8000000000000
flash_bytes = 1000000000000
[[site]]
name = "india-isp"
count = 200
region = "india"
edges_min = 1
edges_max = 8
edge_gbps = 0.5
disk_bytes = 8000000000000
flash_bytes = 1000000000000
[[site]]
name = "africa-isp"
count = 100
region = "africa"
edges_min = 1
edges_max = 8
edge_gbps = 0.5
disk_bytes = 8000000000000
flash_bytes = 1000000000000
[[site]]
name = "na-ix"
count = 10
tier = "ix"
region = "na"
edges = 25
edge_gbps = 5
disk_bytes = 40000000000000
[[site]]
name = "eu-ix"
count = 10
tier = "ix"
region = "eu"
edges = 25
edge_gbps = 5
disk_bytes = 40000000000000
[[site]]
name = "latam-ix"
count = 5
tier = "ix"
region = "latam"
edges = 25
edge_gbps = 5
disk_bytes = 40000000000000
[[site]]
name = "apac-ix"
count = 6
tier = "ix"
region = "apac"
edges = 25
edge_gbps = 5
disk_bytes = 40000000000000
[[site]]
name = "india-ix"
count = 5
tier = "ix"
region = "india"
edges = 25
edge_gbps = 5
disk_bytes = 40000000000000
[[site]]
name = "africa-ix"
count = 4
tier = "ix"
region = "africa"
edges = 25
edge_gbps = 5
disk_bytes = 40000000000000
[[event]]
day = 2
hour = 20
kind = "edge-fail"
target = "na-isp-0001-e1"
hours = 24
[[event]]
day = 3
hour = 18
kind = "bgp-loss"
target = "eu-isp-0002"
hours = 6
[[event]]
day = 4
hour = 0
kind = "launch"
[[event]]
day = 5
hour = 0
kind = "feed-error"
)",
                                   "preset internet");
    return Error{fmt::format("no preset '{}' (small, internet)", name)};
}

} // namespace vcdn::sim
