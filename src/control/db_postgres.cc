// PostgreSQL driver for the control plane's Db (libpq, text protocol). '?' placeholders are
// renumbered to $1, $2, ... outside quoted strings.
#include <libpq-fe.h>

#include <fmt/format.h>

#include <vcdn/control/db.h>

namespace vcdn::control {

namespace {

std::string renumber(std::string_view sql) {
    std::string out;
    out.reserve(sql.size() + 16);
    int n = 0;
    bool quoted = false;
    for (char c : sql) {
        if (c == '\'') quoted = !quoted;
        if (c == '?' && !quoted) {
            out += fmt::format("${}", ++n);
            continue;
        }
        out += c;
    }
    return out;
}

// Strips the password from a connection URL for logs.
std::string redact(const std::string& url) {
    size_t scheme = url.find("://");
    size_t at = url.find('@');
    if (scheme == std::string::npos || at == std::string::npos) return url;
    size_t colon = url.find(':', scheme + 3);
    if (colon == std::string::npos || colon > at) return url;
    return url.substr(0, colon) + ":***" + url.substr(at);
}

class PgDb final : public Db {
public:
    ~PgDb() override {
        if (conn_) PQfinish(conn_);
    }

    static Result<std::unique_ptr<Db>> open(const std::string& url) {
        auto d = std::make_unique<PgDb>();
        d->desc_ = redact(url);
        // A database that does not answer must not hang the control plane at start or on
        // a reconnect: bound the connect unless the URL says otherwise.
        std::string conninfo = url;
        if (conninfo.find("connect_timeout=") == std::string::npos)
            conninfo += (conninfo.find('?') == std::string::npos ? "?" : "&") +
                        std::string("connect_timeout=5");
        // Nor a statement that does not finish (a lock held elsewhere, a stuck server): every
        // statement is cancelled by the server after 10 s and fails as an error.
        if (conninfo.find("statement_timeout") == std::string::npos)
            conninfo += "&options=-c%20statement_timeout%3D10000";
        d->conn_ = PQconnectdb(conninfo.c_str());
        if (!d->conn_ || PQstatus(d->conn_) != CONNECTION_OK) {
            std::string msg = d->conn_ ? PQerrorMessage(d->conn_) : "out of memory";
            while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' '))
                msg.pop_back();
            for (char& c : msg)
                if (c == '\n') c = ' ';
            return Error{fmt::format("database {}: {}", d->desc_, msg)};
        }
        // Notices (e.g. "relation already exists, skipping") are not errors: keep them quiet.
        PQsetNoticeProcessor(
            d->conn_, [](void*, const char*) {}, nullptr);
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

    int64_t changes() override { return changes_; }
    const char* dialect() const override { return "postgres"; }
    std::string describe() const override { return desc_; }

private:
    Result<bool> run(std::string_view sql, const std::vector<DbValue>& params,
                     std::vector<DbRow>* rows) {
        std::string text = renumber(sql);
        std::vector<const char*> values;
        values.reserve(params.size());
        for (const DbValue& v : params)
            values.push_back(v ? v->c_str() : nullptr);
        const bool idle = PQtransactionStatus(conn_) == PQTRANS_IDLE;
        PGresult* res = PQexecParams(conn_, text.c_str(), static_cast<int>(values.size()), nullptr,
                                     values.data(), nullptr, nullptr, 0);
        ExecStatusType st = PQresultStatus(res);
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && PQstatus(conn_) == CONNECTION_BAD) {
            // The server restarted or the connection broke: reconnect, and repeat the
            // statement if it was not inside a transaction (which died with the connection;
            // its caller sees the error and the next call starts afresh).
            PQclear(res);
            PQreset(conn_);
            if (!idle || PQstatus(conn_) != CONNECTION_OK)
                return Error{fmt::format("SQL: connection to {} lost", desc_)};
            res = PQexecParams(conn_, text.c_str(), static_cast<int>(values.size()), nullptr,
                               values.data(), nullptr, nullptr, 0);
            st = PQresultStatus(res);
        }
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
            std::string msg = PQresultErrorMessage(res);
            PQclear(res);
            while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' '))
                msg.pop_back();
            for (char& c : msg)
                if (c == '\n') c = ' ';
            return Error{fmt::format("SQL: {}", msg)};
        }
        const char* affected = PQcmdTuples(res);
        changes_ = affected && *affected ? std::atoll(affected) : 0;
        if (rows && st == PGRES_TUPLES_OK) {
            int nr = PQntuples(res), nc = PQnfields(res);
            rows->reserve(static_cast<size_t>(nr));
            for (int r = 0; r < nr; ++r) {
                DbRow row(static_cast<size_t>(nc));
                for (int c = 0; c < nc; ++c)
                    if (!PQgetisnull(res, r, c))
                        row[static_cast<size_t>(c)] = std::string(
                            PQgetvalue(res, r, c), static_cast<size_t>(PQgetlength(res, r, c)));
                rows->push_back(std::move(row));
            }
        }
        PQclear(res);
        return true;
    }

    PGconn* conn_ = nullptr;
    std::string desc_;
    int64_t changes_ = 0;
};

} // namespace

Result<std::unique_ptr<Db>> open_postgres(const std::string& url) {
    return PgDb::open(url);
}

} // namespace vcdn::control
