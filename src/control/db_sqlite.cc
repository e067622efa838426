// SQLite driver for the control plane's Db: one connection in WAL mode with a busy timeout.
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <vcdn/base/log.h>
#include <vcdn/control/db.h>

namespace vcdn::control {

namespace {

class SqliteDb final : public Db {
public:
    ~SqliteDb() override {
        if (db_) sqlite3_close_v2(db_);
    }

    static Result<std::unique_ptr<Db>> open(const std::string& path) {
        auto d = std::make_unique<SqliteDb>();
        d->path_ = path;
        // The database holds the fleet's signing keys: only its owner reads it (SQLite gives
        // its -wal and -shm files the same mode). Created so; an older, wider file is narrowed.
        if (path != ":memory:") {
            const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
            if (fd < 0) return Error::from_errno("database sqlite:" + path);
            struct stat st {};
            if (::fstat(fd, &st) == 0 && (st.st_mode & 077)) {
                if (::fchmod(fd, st.st_mode & 0700) == 0)
                    log::warn("control: {} was readable by others: now 0{:o}", path,
                              st.st_mode & 0700);
            }
            ::close(fd);
            for (const char* suffix : {"-wal", "-shm"})
                ::chmod((path + suffix).c_str(), 0600); // absent: nothing to do
        }
        int rc = sqlite3_open_v2(path.c_str(), &d->db_,
                                 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                                 nullptr);
        if (rc != SQLITE_OK) {
            std::string msg = d->db_ ? sqlite3_errmsg(d->db_) : sqlite3_errstr(rc);
            return Error{fmt::format("database sqlite:{}: {}", path, msg)};
        }
        sqlite3_busy_timeout(d->db_, 5000);
        for (const char* pragma :
             {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA foreign_keys=ON"}) {
            if (Status s = d->exec(pragma, {}); !s)
                return Error{fmt::format("database sqlite:{}: {}", path, s.error().message)};
        }
        return std::unique_ptr<Db>(std::move(d));
    }

    Status exec(std::string_view sql, const std::vector<DbValue>& params) override {
        auto r = run(sql, params, nullptr);
        if (!r) return r.error();
        return {};
    }

    Result<std::vector<DbRow>> query(std::string_view sql,
                                     const std::vector<DbValue>& params) override {
        std::vector<DbRow> rows;
        auto r = run(sql, params, &rows);
        if (!r) return r.error();
        return rows;
    }

    int64_t changes() override { return sqlite3_changes64(db_); }
    const char* dialect() const override { return "sqlite"; }
    std::string describe() const override { return "sqlite:" + path_; }

private:
    Result<bool> run(std::string_view sql, const std::vector<DbValue>& params,
                     std::vector<DbRow>* rows) {
        sqlite3_stmt* st = nullptr;
        const char* tail = nullptr;
        int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &st, &tail);
        if (rc != SQLITE_OK) return Error{fmt::format("SQL: {} in: {}", sqlite3_errmsg(db_), sql)};
        if (!st) return true; // whitespace or a comment
        for (size_t i = 0; i < params.size(); ++i) {
            const DbValue& v = params[i];
            if (v)
                sqlite3_bind_text(st, static_cast<int>(i + 1), v->data(),
                                  static_cast<int>(v->size()), SQLITE_TRANSIENT);
            else
                sqlite3_bind_null(st, static_cast<int>(i + 1));
        }
        for (;;) {
            rc = sqlite3_step(st);
            if (rc == SQLITE_ROW) {
                if (rows) {
                    int n = sqlite3_column_count(st);
                    DbRow row(static_cast<size_t>(n));
                    for (int c = 0; c < n; ++c) {
                        if (sqlite3_column_type(st, c) == SQLITE_NULL) continue;
                        const unsigned char* t = sqlite3_column_text(st, c);
                        row[static_cast<size_t>(c)] =
                            std::string(reinterpret_cast<const char*>(t),
                                        static_cast<size_t>(sqlite3_column_bytes(st, c)));
                    }
                    rows->push_back(std::move(row));
                }
                continue;
            }
            break;
        }
        if (rc != SQLITE_DONE) {
            std::string msg = sqlite3_errmsg(db_);
            sqlite3_finalize(st);
            return Error{fmt::format("SQL: {}", msg)};
        }
        sqlite3_finalize(st);
        return true;
    }

    sqlite3* db_ = nullptr;
    std::string path_;
};

} // namespace

Result<std::unique_ptr<Db>> open_sqlite(const std::string& path) {
    return SqliteDb::open(path);
}

} // namespace vcdn::control
