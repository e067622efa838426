#include <vcdn/control/db.h>

#include <cstdlib>
#include <fmt/format.h>

namespace vcdn::control {

Result<std::unique_ptr<Db>> Db::open(const std::string& url) {
    if (url.rfind("sqlite:", 0) == 0) {
        std::string path = url.substr(7);
        if (path.empty()) return Error{"--db sqlite:PATH: the path is empty"};
        return open_sqlite(path);
    }
    if (url.rfind("postgres://", 0) == 0 || url.rfind("postgresql://", 0) == 0)
        return open_postgres(url);
    return Error{fmt::format("--db '{}': use sqlite:PATH or postgres://...", url)};
}

Transaction::Transaction(Db* db) : db_(db) {}

Transaction::~Transaction() {
    if (open_) (void)db_->exec("ROLLBACK");
}

Status Transaction::begin() {
    const bool sqlite = std::string_view(db_->dialect()) == "sqlite";
    // SQLite: take the write lock now, so that two writers wait instead of failing to upgrade.
    Status s = db_->exec(sqlite ? "BEGIN IMMEDIATE" : "BEGIN");
    open_ = s.ok();
    if (s && !sqlite) {
        // PostgreSQL's READ COMMITTED lets two instances interleave a read-then-write (a
        // compare-and-set, MAX(seq)+1, a migration): one transaction-scoped lock orders them.
        s = db_->exec("SELECT pg_advisory_xact_lock(7270010)");
    }
    return s;
}

Status Transaction::begin_snapshot() {
    const bool sqlite = std::string_view(db_->dialect()) == "sqlite";
    Status s = db_->exec(sqlite ? "BEGIN" : "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    open_ = s.ok();
    return s;
}

Status Transaction::commit() {
    Status s = db_->exec("COMMIT");
    if (s) open_ = false;
    return s;
}

int64_t db_int(const DbValue& v, int64_t fallback) {
    if (!v || v->empty()) return fallback;
    return std::strtoll(v->c_str(), nullptr, 10);
}

double db_double(const DbValue& v, double fallback) {
    if (!v || v->empty()) return fallback;
    return std::strtod(v->c_str(), nullptr);
}

const std::string& db_text(const DbValue& v) {
    static const std::string kEmpty;
    return v ? *v : kEmpty;
}

} // namespace vcdn::control
