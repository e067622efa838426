#include <vcdn/control/store.h>

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <set>
#include <tuple>

#include <vcdn/base/sha256.h>

namespace vcdn::control {

namespace {

// Versioned schema migrations: append, never edit a released one. SQL both SQLite and
// PostgreSQL accept (BIGINT, DOUBLE PRECISION, TEXT; no autoincrement).
const char* const kMigrations[] = {
    // 1: the fleet, catalog, status, inventory, keys and events.
    R"sql(
CREATE TABLE sites (name TEXT PRIMARY KEY, tier TEXT NOT NULL, prefixes TEXT NOT NULL,
                    fallback TEXT NOT NULL, position BIGINT NOT NULL);
CREATE TABLE edges (id TEXT PRIMARY KEY, site TEXT NOT NULL, url TEXT NOT NULL,
                    https_url TEXT NOT NULL, token TEXT NOT NULL, storage_bytes BIGINT NOT NULL,
                    capacity_gbps DOUBLE PRECISION NOT NULL, drained BIGINT NOT NULL DEFAULT 0,
                    position BIGINT NOT NULL);
CREATE TABLE edge_status (edge_id TEXT PRIMARY KEY, state TEXT NOT NULL, reason TEXT NOT NULL,
                          since_ms BIGINT NOT NULL, last_heartbeat_ms BIGINT NOT NULL,
                          report TEXT NOT NULL, inventory_digest TEXT NOT NULL);
CREATE TABLE edge_files (edge_id TEXT NOT NULL, path TEXT NOT NULL, PRIMARY KEY (edge_id, path));
CREATE TABLE files (path TEXT PRIMARY KEY, size BIGINT NOT NULL, sha256 TEXT NOT NULL,
                    title BIGINT NOT NULL, bitrate_kbps BIGINT NOT NULL,
                    popularity DOUBLE PRECISION NOT NULL DEFAULT 0);
CREATE TABLE signing_keys (id TEXT PRIMARY KEY, secret_hex TEXT NOT NULL, created_ms BIGINT NOT NULL,
                           retired BIGINT NOT NULL DEFAULT 0);
CREATE TABLE events (seq BIGINT PRIMARY KEY, at_ms BIGINT NOT NULL, edge_id TEXT NOT NULL,
                     state TEXT NOT NULL, reason TEXT NOT NULL);
INSERT INTO meta (key, value) VALUES ('generation', '1');
INSERT INTO meta (key, value) VALUES ('origin_url', '');
)sql",
    // 2: the number of files an edge holds, kept with its status (counting edge_files on
    // every sync was the control plane's biggest database cost).
    R"sql(
ALTER TABLE edge_status ADD COLUMN files BIGINT NOT NULL DEFAULT 0;
UPDATE edge_status SET files = (SELECT COUNT(*) FROM edge_files WHERE edge_files.edge_id = edge_status.edge_id);
)sql",
    // 3: storage per tier: flash next to the disk bytes.
    R"sql(
ALTER TABLE edges ADD COLUMN flash_bytes BIGINT NOT NULL DEFAULT 0;
)sql",
    // 4: placement and fill. A site's fill settings (group, fill_from, escalation waits) as
    // JSON; the origin's mirrors and fill token; each edge's manifest version; demand per
    // popularity group (today's views and the smoothed history).
    R"sql(
ALTER TABLE sites ADD COLUMN fill TEXT NOT NULL DEFAULT '{}';
INSERT INTO meta (key, value) VALUES ('origin_extra', '{}');
INSERT INTO meta (key, value) VALUES ('demand_period', '0');
CREATE TABLE manifests (edge_id TEXT PRIMARY KEY, version BIGINT NOT NULL, digest TEXT NOT NULL,
                        generation BIGINT NOT NULL, updated_ms BIGINT NOT NULL);
CREATE TABLE demand (grp TEXT NOT NULL, path TEXT NOT NULL,
                     today DOUBLE PRECISION NOT NULL DEFAULT 0,
                     ewma DOUBLE PRECISION NOT NULL DEFAULT 0, PRIMARY KEY (grp, path));
)sql",
    // 5: BGP. Each edge's learned routes as one text (a line per route, wire::serialise): a
    // full table is written in one statement instead of a million.
    R"sql(
CREATE TABLE edge_bgp (edge_id TEXT PRIMARY KEY, version BIGINT NOT NULL, digest TEXT NOT NULL,
                       routes TEXT NOT NULL);
)sql",
};

std::vector<std::string> split_statements(const char* sql) {
    std::vector<std::string> out;
    std::string cur;
    for (const char* p = sql; *p; ++p) {
        if (*p == ';') {
            if (cur.find_first_not_of(" \n\t") != std::string::npos) out.push_back(cur);
            cur.clear();
        } else {
            cur += *p;
        }
    }
    if (cur.find_first_not_of(" \n\t") != std::string::npos) out.push_back(cur);
    return out;
}

std::string json_list(const std::vector<std::string>& v) {
    return nlohmann::json(v).dump();
}

std::vector<std::string> parse_list(const std::string& s) {
    try {
        return nlohmann::json::parse(s).get<std::vector<std::string>>();
    } catch (const std::exception&) {
        return {};
    }
}

#define VCDN_TRY(expr)                                                                             \
    do {                                                                                           \
        if (Status st_ = (expr); !st_) return st_;                                                 \
    } while (0)

} // namespace

Result<std::unique_ptr<Store>> Store::open(const std::string& db_url) {
    auto db = Db::open(db_url);
    if (!db) return db.error();
    auto s = std::make_unique<Store>(std::move(*db));
    if (Status st = s->migrate(); !st)
        return Error{
            fmt::format("database {}: migration failed: {}", s->describe(), st.error().message)};
    return s;
}

Store::Store(std::unique_ptr<Db> db) : db_(std::move(db)) {}

Status Store::run_in_transaction(const std::function<Status()>& body) {
    // Called with mu_ held.
    Transaction tx(db_.get());
    VCDN_TRY(tx.begin());
    VCDN_TRY(body());
    return tx.commit();
}

Status Store::bump_generation() {
    return db_->exec("UPDATE meta SET value = CAST(CAST(value AS BIGINT) + 1 AS TEXT) "
                     "WHERE key = 'generation'");
}

Status Store::migrate(int up_to) {
    std::lock_guard lock(mu_);
    VCDN_TRY(
        db_->exec("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"));
    const int newest = static_cast<int>(std::size(kMigrations));
    const int last = up_to > 0 && up_to < newest ? up_to : newest;
    for (int v = 1; v <= last; ++v) {
        Status s = run_in_transaction([&]() -> Status {
            // Read inside the transaction: another instance may be migrating at the same time.
            auto rows = db_->query("SELECT value FROM meta WHERE key = 'schema_version'");
            if (!rows) return rows.error();
            int have = rows->empty() ? 0 : static_cast<int>(db_int((*rows)[0][0]));
            if (have > newest)
                return Error{fmt::format("the database has schema version {}, newer than this "
                                         "vcdn knows ({}): upgrade vcdn",
                                         have, newest)};
            if (have >= v) return {};
            for (const std::string& stmt : split_statements(kMigrations[v - 1]))
                VCDN_TRY(db_->exec(stmt));
            if (have == 0)
                return db_->exec("INSERT INTO meta (key, value) VALUES ('schema_version', ?)",
                                 {std::to_string(v)});
            return db_->exec("UPDATE meta SET value = ? WHERE key = 'schema_version'",
                             {std::to_string(v)});
        });
        if (!s) return s;
    }
    return {};
}

int Store::schema_version() {
    std::lock_guard lock(mu_);
    auto rows = db_->query("SELECT value FROM meta WHERE key = 'schema_version'");
    return rows && !rows->empty() ? static_cast<int>(db_int((*rows)[0][0])) : 0;
}

Result<int64_t> Store::generation() {
    std::lock_guard lock(mu_);
    auto rows = db_->query("SELECT value FROM meta WHERE key = 'generation'");
    if (!rows) return rows.error();
    return rows->empty() ? int64_t{0} : db_int((*rows)[0][0]);
}

namespace {

Result<Fleet> read_fleet(Db* db, std::map<std::string, bool>* drained) {
    Fleet f;
    auto origin = db->query("SELECT value FROM meta WHERE key = 'origin_url'");
    if (!origin) return origin.error();
    if (!origin->empty()) f.origin_url = db_text((*origin)[0][0]);
    auto extra = db->query("SELECT value FROM meta WHERE key = 'origin_extra'");
    if (!extra) return extra.error();
    if (!extra->empty()) {
        auto j = nlohmann::json::parse(db_text((*extra)[0][0]), nullptr, false);
        if (j.is_object()) {
            f.origin_mirrors = j.value("mirrors", std::vector<std::string>{});
            if (auto k = j.find("signing_keys"); k != j.end()) {
                try {
                    f.origin_keys = keys_from_json(*k, "origin.signing_keys");
                } catch (const std::exception&) {
                    f.origin_keys.clear(); // a damaged row: the origin's URLs go unsigned
                }
            }
            if (auto p = j.find("players"); p != j.end() && p->is_boolean())
                f.origin_players = p->get<bool>();
        }
    }
    auto sites =
        db->query("SELECT name, tier, prefixes, fallback, fill FROM sites ORDER BY position");
    if (!sites) return sites.error();
    std::map<std::string, size_t> index;
    for (const DbRow& r : *sites) {
        SiteSpec s;
        s.name = db_text(r[0]);
        parse_tier(db_text(r[1]), &s.tier);
        s.prefixes = parse_list(db_text(r[2]));
        s.fallback = parse_list(db_text(r[3]));
        auto fill = nlohmann::json::parse(db_text(r[4]), nullptr, false);
        if (fill.is_object()) {
            s.group = fill.value("group", std::string());
            s.fill_from = fill.value("fill_from", std::vector<std::string>{});
            s.fill_peer_wait_s = fill.value("peer_wait_s", s.fill_peer_wait_s);
            s.fill_tier_wait_s = fill.value("tier_wait_s", s.fill_tier_wait_s);
            s.bgp_allowed = fill.value("bgp_allowed", std::vector<std::string>{});
            s.bgp_allowed_asns = fill.value("bgp_allowed_asns", std::vector<uint32_t>{});
            s.min_copies = fill.value("min_copies", 0u);
        }
        index[s.name] = f.sites.size();
        f.sites.push_back(std::move(s));
    }
    auto edges = db->query("SELECT id, site, url, https_url, token, storage_bytes, capacity_gbps, "
                           "drained, flash_bytes FROM edges ORDER BY position");
    if (!edges) return edges.error();
    for (const DbRow& r : *edges) {
        auto it = index.find(db_text(r[1]));
        if (it == index.end()) continue;
        EdgeSpec e;
        e.id = db_text(r[0]);
        e.url = db_text(r[2]);
        e.https_url = db_text(r[3]);
        // A JSON list of token hashes; a release before them stored the token itself.
        const std::string tok = db_text(r[4]);
        if (!tok.empty() && tok[0] == '[')
            e.token_sha256 = parse_list(tok);
        else if (!tok.empty())
            e.token_sha256 = {token_hash(tok)};
        e.storage_bytes = static_cast<uint64_t>(db_int(r[5]));
        e.capacity_gbps = db_double(r[6], 10);
        if (drained) (*drained)[e.id] = db_int(r[7]) != 0;
        e.flash_bytes = static_cast<uint64_t>(db_int(r[8]));
        f.sites[it->second].edges.push_back(std::move(e));
    }
    return f;
}

} // namespace

Result<Fleet> Store::fleet() {
    std::lock_guard lock(mu_);
    return read_fleet(db_.get(), nullptr);
}

Result<StoreSnapshot> Store::snapshot() {
    std::lock_guard lock(mu_);
    StoreSnapshot s;
    // One read transaction so that the parts agree with each other and the generation.
    Transaction tx(db_.get());
    if (Status st = tx.begin_snapshot(); !st) return st.error();
    auto gen = db_->query("SELECT value FROM meta WHERE key = 'generation'");
    if (!gen) return gen.error();
    s.generation = gen->empty() ? 0 : db_int((*gen)[0][0]);
    auto f = read_fleet(db_.get(), &s.drained);
    if (!f) return f.error();
    s.fleet = std::move(*f);
    auto files = db_->query("SELECT path, size, sha256, title, bitrate_kbps, popularity FROM files "
                            "ORDER BY path");
    if (!files) return files.error();
    for (const DbRow& r : *files)
        s.files.push_back(CatalogEntry{db_text(r[0]), static_cast<uint64_t>(db_int(r[1])),
                                       db_text(r[2]), static_cast<uint32_t>(db_int(r[3])),
                                       static_cast<uint32_t>(db_int(r[4])), db_double(r[5])});
    auto inv = db_->query("SELECT edge_id, path FROM edge_files");
    if (!inv) return inv.error();
    for (const DbRow& r : *inv)
        s.inventory[db_text(r[0])].push_back(db_text(r[1]));
    auto keys = db_->query(
        "SELECT id, secret_hex, created_ms, retired FROM signing_keys ORDER BY created_ms, id");
    if (!keys) return keys.error();
    for (const DbRow& r : *keys)
        s.keys.push_back(KeyRecord{db_text(r[0]), db_text(r[1]), db_int(r[2]), db_int(r[3]) != 0});
    auto demand = db_->query("SELECT grp, path, ewma FROM demand WHERE ewma > 0");
    if (!demand) return demand.error();
    for (const DbRow& r : *demand)
        s.demand[db_text(r[0])][db_text(r[1])] = db_double(r[2]);
    auto bgp = db_->query("SELECT edge_id, version FROM edge_bgp");
    if (!bgp) return bgp.error();
    for (const DbRow& r : *bgp) {
        auto e = bgp_at(db_text(r[0]), db_int(r[1]));
        if (!e) return e.error();
        s.bgp[db_text(r[0])] = **e;
    }
    if (Status st = tx.commit(); !st) return st.error();
    return s;
}

Result<EdgeBgp*> Store::bgp_at(const std::string& edge_id, int64_t version) {
    EdgeBgp& c = bgp_cache_[edge_id];
    if (c.version == version) return &c;
    c = EdgeBgp{};
    if (version == 0) return &c;
    auto rows = db_->query("SELECT routes FROM edge_bgp WHERE edge_id = ?", {edge_id});
    if (!rows) return rows.error();
    if (rows->empty()) return &c;
    auto t = wire::parse_serialised(db_text((*rows)[0][0]));
    if (!t) return Error{fmt::format("edge_bgp of {}: {}", edge_id, t.error().message)};
    c.digest = wire::table_digest(*t);
    c.routes = std::make_shared<const wire::RouteMap>(std::move(*t));
    c.version = version;
    return &c;
}

Result<bool> Store::record_bgp(const std::string& edge_id, const wire::BgpChanges& u,
                               size_t max_routes, bool* too_many) {
    std::lock_guard lock(mu_);
    bool matches = false;
    if (too_many) *too_many = false;
    Status s = run_in_transaction([&]() -> Status {
        auto row = db_->query("SELECT version FROM edge_bgp WHERE edge_id = ?", {edge_id});
        if (!row) return row.error();
        const bool exists = !row->empty();
        const int64_t version = exists ? db_int((*row)[0][0]) : 0;
        auto cur = bgp_at(edge_id, version);
        if (!cur) return cur.error();
        EdgeBgp& c = **cur;
        const bool changed = u.full || u.diff.size() > 0 || !exists;
        if (changed) {
            // Copy on write: views hold the previous table.
            auto next = u.full ? std::make_shared<wire::RouteMap>()
                               : std::make_shared<wire::RouteMap>(*c.routes);
            uint64_t digest = u.full ? 0 : c.digest;
            wire::apply(next.get(), u.diff, &digest);
            if (next->size() > max_routes) { // one edge's token must not fill the database
                if (too_many) *too_many = true;
                return {};
            }
            const std::string text = wire::serialise(*next);
            VCDN_TRY(db_->exec("INSERT INTO edge_bgp (edge_id, version, digest, routes) VALUES "
                               "(?, ?, ?, ?) ON CONFLICT (edge_id) DO UPDATE SET version = "
                               "excluded.version, digest = excluded.digest, routes = "
                               "excluded.routes",
                               {edge_id, to_db(version + 1), wire::digest_hex(digest), text}));
            VCDN_TRY(bump_generation());
            c.routes = std::move(next);
            c.digest = digest;
            c.version = version + 1;
        }
        matches = wire::digest_hex(c.digest) == u.digest;
        return {};
    });
    if (!s) {
        bgp_cache_.erase(edge_id); // the database did not take it: reload from there
        return s.error();
    }
    return matches;
}

Status Store::save_fleet(const Fleet& f) {
    return update_fleet([&](Fleet* current) -> Status {
        *current = f;
        return {};
    });
}

Status Store::update_fleet(const std::function<Status(Fleet*)>& change) {
    std::lock_guard lock(mu_);
    return run_in_transaction([&]() -> Status {
        std::map<std::string, bool> drained;
        auto old = read_fleet(db_.get(), &drained);
        if (!old) return old.error();
        Fleet f = *old;
        VCDN_TRY(change(&f));
        VCDN_TRY(validate_fleet(f));
        std::set<std::string> keep;
        for (const SiteSpec& s : f.sites)
            for (const EdgeSpec& e : s.edges)
                keep.insert(e.id);
        for (const SiteSpec& s : old->sites)
            for (const EdgeSpec& e : s.edges)
                if (!keep.count(e.id)) {
                    VCDN_TRY(db_->exec("DELETE FROM edge_status WHERE edge_id = ?", {e.id}));
                    VCDN_TRY(db_->exec("DELETE FROM edge_files WHERE edge_id = ?", {e.id}));
                    VCDN_TRY(db_->exec("DELETE FROM edge_bgp WHERE edge_id = ?", {e.id}));
                    VCDN_TRY(db_->exec("DELETE FROM manifests WHERE edge_id = ?", {e.id}));
                }
        VCDN_TRY(db_->exec("DELETE FROM edges"));
        VCDN_TRY(db_->exec("DELETE FROM sites"));
        int64_t pos = 0;
        for (const SiteSpec& s : f.sites) {
            const nlohmann::json fill = {{"group", s.group},
                                         {"fill_from", s.fill_from},
                                         {"peer_wait_s", s.fill_peer_wait_s},
                                         {"tier_wait_s", s.fill_tier_wait_s},
                                         {"bgp_allowed", s.bgp_allowed},
                                         {"bgp_allowed_asns", s.bgp_allowed_asns},
                                         {"min_copies", s.min_copies}};
            VCDN_TRY(db_->exec("INSERT INTO sites (name, tier, prefixes, fallback, position, fill) "
                               "VALUES (?, ?, ?, ?, ?, ?)",
                               {s.name, tier_name(s.tier), json_list(s.prefixes),
                                json_list(s.fallback), to_db(pos++), fill.dump()}));
        }
        pos = 0;
        for (const SiteSpec& s : f.sites)
            for (const EdgeSpec& e : s.edges)
                VCDN_TRY(
                    db_->exec("INSERT INTO edges (id, site, url, https_url, token, storage_bytes, "
                              "capacity_gbps, drained, position, flash_bytes) "
                              "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                              {e.id, s.name, e.url, e.https_url, json_list(e.token_sha256),
                               to_db(static_cast<int64_t>(e.storage_bytes)),
                               fmt::format("{}", e.capacity_gbps), to_db(drained[e.id] ? 1 : 0),
                               to_db(pos++), to_db(static_cast<int64_t>(e.flash_bytes))}));
        VCDN_TRY(db_->exec("UPDATE meta SET value = ? WHERE key = 'origin_url'", {f.origin_url}));
        nlohmann::json extra = {{"mirrors", f.origin_mirrors},
                                {"signing_keys", keys_to_json(f.origin_keys)}};
        if (f.origin_players) extra["players"] = *f.origin_players;
        VCDN_TRY(db_->exec("UPDATE meta SET value = ? WHERE key = 'origin_extra'", {extra.dump()}));
        return bump_generation();
    });
}

Status Store::set_drained(const std::string& edge_id, bool drained) {
    std::lock_guard lock(mu_);
    return run_in_transaction([&]() -> Status {
        VCDN_TRY(db_->exec("UPDATE edges SET drained = ? WHERE id = ?",
                           {to_db(drained ? 1 : 0), edge_id}));
        if (db_->changes() == 0) return Error{fmt::format("no edge '{}'", edge_id)};
        return bump_generation();
    });
}

Status Store::import_catalog(const std::vector<catalog::CatalogFile>& files) {
    std::lock_guard lock(mu_);
    return run_in_transaction([&]() -> Status {
        for (const catalog::CatalogFile& f : files)
            VCDN_TRY(db_->exec(
                "INSERT INTO files (path, size, sha256, title, bitrate_kbps, popularity) "
                "VALUES (?, ?, ?, ?, ?, 0) ON CONFLICT (path) DO UPDATE SET size = excluded.size, "
                "sha256 = excluded.sha256, title = excluded.title, "
                "bitrate_kbps = excluded.bitrate_kbps",
                {f.path, to_db(static_cast<int64_t>(f.size)), f.sha256, to_db(f.title),
                 to_db(f.bitrate_kbps)}));
        return bump_generation();
    });
}

Status Store::add_demand(const std::map<std::pair<std::string, std::string>, double>& views) {
    if (views.empty()) return {};
    std::lock_guard lock(mu_);
    return run_in_transaction([&]() -> Status {
        for (const auto& [key, n] : views)
            VCDN_TRY(db_->exec("INSERT INTO demand (grp, path, today, ewma) VALUES (?, ?, ?, 0) "
                               "ON CONFLICT (grp, path) DO UPDATE SET today = demand.today + "
                               "excluded.today",
                               {key.first, key.second, fmt::format("{}", n)}));
        return {};
    });
}

Result<bool> Store::roll_demand(int64_t period, double alpha) {
    std::lock_guard lock(mu_);
    bool rolled = false;
    Status s = run_in_transaction([&]() -> Status {
        auto rows = db_->query("SELECT value FROM meta WHERE key = 'demand_period'");
        if (!rows) return rows.error();
        const int64_t have = rows->empty() ? 0 : db_int((*rows)[0][0]);
        if (have >= period) return {};
        VCDN_TRY(db_->exec("UPDATE meta SET value = ? WHERE key = 'demand_period'",
                           {std::to_string(period)}));
        if (have == 0) return {}; // the first period: nothing to roll yet
        // Periods with no demand at all decay the history too.
        const int64_t skipped = std::min<int64_t>(period - have - 1, 1000);
        const double keep = (1 - alpha) * std::pow(1 - alpha, static_cast<double>(skipped));
        const double add = alpha * std::pow(1 - alpha, static_cast<double>(skipped));
        VCDN_TRY(db_->exec("UPDATE demand SET ewma = ? * ewma + ? * today, today = 0",
                           {fmt::format("{}", keep), fmt::format("{}", add)}));
        VCDN_TRY(db_->exec("DELETE FROM demand WHERE ewma < 0.001 AND today = 0"));
        rolled = true;
        return bump_generation();
    });
    if (!s) return s.error();
    return rolled;
}

Result<std::vector<std::tuple<std::string, double, double>>>
Store::demand(const std::string& group) {
    std::lock_guard lock(mu_);
    auto rows =
        db_->query("SELECT path, today, ewma FROM demand WHERE grp = ? ORDER BY path", {group});
    if (!rows) return rows.error();
    std::vector<std::tuple<std::string, double, double>> out;
    for (const DbRow& r : *rows)
        out.emplace_back(db_text(r[0]), db_double(r[1]), db_double(r[2]));
    return out;
}

Result<std::map<std::string, ManifestVersion>>
Store::record_manifests(int64_t generation, const std::map<std::string, std::string>& digests,
                        int64_t now_ms) {
    std::lock_guard lock(mu_);
    std::map<std::string, ManifestVersion> out;
    Status s = run_in_transaction([&]() -> Status {
        auto rows = db_->query("SELECT edge_id, version, digest, generation FROM manifests");
        if (!rows) return rows.error();
        std::map<std::string, std::tuple<int64_t, std::string, int64_t>> have;
        for (const DbRow& r : *rows)
            have[db_text(r[0])] = {db_int(r[1]), db_text(r[2]), db_int(r[3])};
        for (const auto& [edge, digest] : digests) {
            auto it = have.find(edge);
            if (it == have.end()) {
                VCDN_TRY(db_->exec("INSERT INTO manifests (edge_id, version, digest, generation, "
                                   "updated_ms) VALUES (?, 1, ?, ?, ?)",
                                   {edge, digest, to_db(generation), to_db(now_ms)}));
                out[edge] = {1, digest};
                continue;
            }
            auto& [version, stored, stored_gen] = it->second;
            if (stored != digest && stored_gen <= generation) {
                VCDN_TRY(db_->exec(
                    "UPDATE manifests SET version = ?, digest = ?, generation = ?, "
                    "updated_ms = ? WHERE edge_id = ?",
                    {to_db(version + 1), digest, to_db(generation), to_db(now_ms), edge}));
                out[edge] = {version + 1, digest};
            } else {
                out[edge] = {version, stored};
            }
        }
        return {};
    });
    if (!s) return s.error();
    return out;
}

Status Store::set_popularity(const std::vector<std::pair<std::string, double>>& values) {
    std::lock_guard lock(mu_);
    return run_in_transaction([&]() -> Status {
        for (const auto& [path, value] : values) {
            VCDN_TRY(db_->exec("UPDATE files SET popularity = ? WHERE path = ?",
                               {fmt::format("{}", value), path}));
            if (db_->changes() == 0)
                return Error{fmt::format("popularity: '{}' is not in the catalog", path)};
        }
        return bump_generation();
    });
}

Result<bool> Store::record_heartbeat(const std::string& edge_id, int64_t now_ms,
                                     const wire::EdgeReport& report,
                                     const wire::InventoryChanges& inv) {
    const std::string report_text = wire::encode_report(report);
    std::lock_guard lock(mu_);
    bool matches = false;
    Status s = run_in_transaction([&]() -> Status {
        auto known =
            db_->query("SELECT inventory_digest FROM edge_status WHERE edge_id = ?", {edge_id});
        if (!known) return known.error();
        std::string stored_digest;
        if (known->empty()) {
            VCDN_TRY(db_->exec("INSERT INTO edge_status (edge_id, state, reason, since_ms, "
                               "last_heartbeat_ms, report, inventory_digest) VALUES "
                               "(?, 'unknown', 'first-heartbeat', ?, ?, ?, '')",
                               {edge_id, to_db(now_ms), to_db(now_ms), report_text}));
        } else {
            stored_digest = db_text((*known)[0][0]);
        }
        bool changed = inv.full || !inv.added.empty() || !inv.removed.empty();
        if (inv.full) VCDN_TRY(db_->exec("DELETE FROM edge_files WHERE edge_id = ?", {edge_id}));
        for (const std::string& p : inv.removed)
            VCDN_TRY(
                db_->exec("DELETE FROM edge_files WHERE edge_id = ? AND path = ?", {edge_id, p}));
        for (const std::string& p : inv.added)
            VCDN_TRY(db_->exec("INSERT INTO edge_files (edge_id, path) VALUES (?, ?) "
                               "ON CONFLICT (edge_id, path) DO NOTHING",
                               {edge_id, p}));
        std::string digest = stored_digest;
        if (changed || stored_digest.empty()) {
            auto rows = db_->query("SELECT path FROM edge_files WHERE edge_id = ?", {edge_id});
            if (!rows) return rows.error();
            std::vector<std::string> paths;
            paths.reserve(rows->size());
            for (const DbRow& r : *rows)
                paths.push_back(db_text(r[0]));
            VCDN_TRY(db_->exec("UPDATE edge_status SET files = ? WHERE edge_id = ?",
                               {to_db(static_cast<int64_t>(paths.size())), edge_id}));
            digest = wire::inventory_digest(std::move(paths));
        }
        matches = digest == inv.digest;
        VCDN_TRY(db_->exec("UPDATE edge_status SET last_heartbeat_ms = ?, report = ?, "
                           "inventory_digest = ? WHERE edge_id = ?",
                           {to_db(now_ms), report_text, digest, edge_id}));
        if (changed) VCDN_TRY(bump_generation());
        return {};
    });
    if (!s) return s.error();
    return matches;
}

Result<std::map<std::string, EdgeStatus>> Store::statuses() {
    std::lock_guard lock(mu_);
    auto rows = db_->query("SELECT edge_id, state, reason, since_ms, last_heartbeat_ms, report, "
                           "inventory_digest, files FROM edge_status");
    if (!rows) return rows.error();
    std::map<std::string, EdgeStatus> out;
    for (const DbRow& r : *rows) {
        EdgeStatus s;
        s.state = db_text(r[1]);
        s.reason = db_text(r[2]);
        s.since_ms = db_int(r[3]);
        s.last_heartbeat_ms = db_int(r[4]);
        s.report = wire::decode_report(db_text(r[5]));
        s.inventory_digest = db_text(r[6]);
        s.files = static_cast<uint64_t>(db_int(r[7]));
        out[db_text(r[0])] = std::move(s);
    }
    return out;
}

Result<bool> Store::change_state(const std::string& edge_id, const std::string& from,
                                 const std::string& to, const std::string& reason, int64_t now_ms) {
    std::lock_guard lock(mu_);
    bool changed = false;
    Status s = run_in_transaction([&]() -> Status {
        auto rows = db_->query("SELECT state FROM edge_status WHERE edge_id = ?", {edge_id});
        if (!rows) return rows.error();
        if (rows->empty()) {
            if (from != "unknown") return {};
            VCDN_TRY(db_->exec("INSERT INTO edge_status (edge_id, state, reason, since_ms, "
                               "last_heartbeat_ms, report, inventory_digest) VALUES "
                               "(?, ?, ?, ?, 0, '{}', '')",
                               {edge_id, to, reason, to_db(now_ms)}));
        } else {
            if (db_text((*rows)[0][0]) != from) return {};
            VCDN_TRY(db_->exec("UPDATE edge_status SET state = ?, reason = ?, since_ms = ? "
                               "WHERE edge_id = ?",
                               {to, reason, to_db(now_ms), edge_id}));
        }
        auto seq = db_->query("SELECT COALESCE(MAX(seq), 0) + 1 FROM events");
        if (!seq) return seq.error();
        const int64_t next = db_int((*seq)[0][0]);
        VCDN_TRY(db_->exec("INSERT INTO events (seq, at_ms, edge_id, state, reason) "
                           "VALUES (?, ?, ?, ?, ?)",
                           {to_db(next), to_db(now_ms), edge_id, to, reason}));
        // Bounded: the newest events_kept_ events stay (a flapping edge cannot grow the table
        // forever); older ones go in one range delete on the key every 1000 events (or every
        // tenth of the bound, when it is small).
        const int64_t every = std::clamp<int64_t>(events_kept_ / 10, 1, 1000);
        if (next % every == 0 && next > events_kept_)
            VCDN_TRY(db_->exec("DELETE FROM events WHERE seq <= ?", {to_db(next - events_kept_)}));
        changed = true;
        return {};
    });
    if (!s) return s.error();
    return changed;
}

Result<std::vector<EventRecord>> Store::events(size_t limit, const std::string& edge_id) {
    std::lock_guard lock(mu_);
    auto rows = edge_id.empty()
                    ? db_->query("SELECT seq, at_ms, edge_id, state, reason FROM events "
                                 "ORDER BY seq DESC LIMIT ?",
                                 {std::to_string(limit)})
                    : db_->query("SELECT seq, at_ms, edge_id, state, reason FROM events "
                                 "WHERE edge_id = ? ORDER BY seq DESC LIMIT ?",
                                 {edge_id, std::to_string(limit)});
    if (!rows) return rows.error();
    std::vector<EventRecord> out;
    for (const DbRow& r : *rows)
        out.push_back(
            EventRecord{db_int(r[0]), db_int(r[1]), db_text(r[2]), db_text(r[3]), db_text(r[4])});
    return out;
}

Status Store::add_key(const std::string& id, const std::string& secret_hex, int64_t now_ms) {
    std::lock_guard lock(mu_);
    return run_in_transaction([&]() -> Status {
        auto rows = db_->query("SELECT id FROM signing_keys WHERE id = ?", {id});
        if (!rows) return rows.error();
        if (!rows->empty()) return Error{fmt::format("key '{}' exists already", id)};
        VCDN_TRY(db_->exec("INSERT INTO signing_keys (id, secret_hex, created_ms, retired) "
                           "VALUES (?, ?, ?, 0)",
                           {id, secret_hex, to_db(now_ms)}));
        return bump_generation();
    });
}

Result<std::vector<std::string>> Store::rotate_key(const std::string& id,
                                                   const std::string& secret_hex, int64_t now_ms) {
    std::lock_guard lock(mu_);
    std::vector<std::string> retired;
    Status s = run_in_transaction([&]() -> Status {
        auto rows = db_->query("SELECT id FROM signing_keys WHERE retired = 0 "
                               "ORDER BY created_ms, id");
        if (!rows) return rows.error();
        for (const DbRow& r : *rows)
            if (db_text(r[0]) == id) return Error{fmt::format("key '{}' exists already", id)};
        auto dup = db_->query("SELECT id FROM signing_keys WHERE id = ?", {id});
        if (!dup) return dup.error();
        if (!dup->empty()) return Error{fmt::format("key '{}' exists already", id)};
        // Keep the order even if the clock stepped back: never older than the newest.
        int64_t created = now_ms;
        auto newest = db_->query("SELECT MAX(created_ms) FROM signing_keys");
        if (!newest) return newest.error();
        if (!newest->empty()) created = std::max(created, db_int((*newest)[0][0]) + 1);
        VCDN_TRY(db_->exec("INSERT INTO signing_keys (id, secret_hex, created_ms, retired) "
                           "VALUES (?, ?, ?, 0)",
                           {id, secret_hex, to_db(created)}));
        for (size_t i = 0; i + 1 < rows->size(); ++i) {
            VCDN_TRY(db_->exec("UPDATE signing_keys SET retired = 1 WHERE id = ?",
                               {db_text((*rows)[i][0])}));
            retired.push_back(db_text((*rows)[i][0]));
        }
        return bump_generation();
    });
    if (!s) return s.error();
    return retired;
}

Status Store::retire_key(const std::string& id) {
    std::lock_guard lock(mu_);
    return run_in_transaction([&]() -> Status {
        VCDN_TRY(db_->exec("UPDATE signing_keys SET retired = 1 WHERE id = ?", {id}));
        if (db_->changes() == 0) return Error{fmt::format("no key '{}'", id)};
        return bump_generation();
    });
}

Result<std::vector<KeyRecord>> Store::keys() {
    std::lock_guard lock(mu_);
    auto rows = db_->query(
        "SELECT id, secret_hex, created_ms, retired FROM signing_keys ORDER BY created_ms, id");
    if (!rows) return rows.error();
    std::vector<KeyRecord> out;
    for (const DbRow& r : *rows)
        out.push_back(KeyRecord{db_text(r[0]), db_text(r[1]), db_int(r[2]), db_int(r[3]) != 0});
    return out;
}

} // namespace vcdn::control
