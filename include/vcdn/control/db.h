#pragma once
// The control plane's SQL connection: SQLite (one file, the default) or PostgreSQL (a fleet
// with several control instances). Statements are written once with '?' placeholders in the
// SQL both understand (the PostgreSQL driver renumbers them $1, $2, ...); values travel as
// text, NULL as nullopt. One Db is used by one thread at a time (the Store serialises).
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <vcdn/base/result.h>

namespace vcdn::control {

using DbValue = std::optional<std::string>;
using DbRow = std::vector<DbValue>;

class Db {
public:
    virtual ~Db() = default;
    // "sqlite:PATH" or "postgres://..." / "postgresql://...".
    static Result<std::unique_ptr<Db>> open(const std::string& url);

    virtual Status exec(std::string_view sql, const std::vector<DbValue>& params = {}) = 0;
    virtual Result<std::vector<DbRow>> query(std::string_view sql,
                                             const std::vector<DbValue>& params = {}) = 0;
    // Rows changed by the last exec (UPDATE/DELETE/INSERT).
    virtual int64_t changes() = 0;
    virtual const char* dialect() const = 0; // "sqlite" or "postgres"
    // Statements that differ between the two: e.g. DDL types (none so far besides these).
    virtual std::string describe() const = 0; // for logs, without passwords
};

Result<std::unique_ptr<Db>> open_sqlite(const std::string& path);
Result<std::unique_ptr<Db>> open_postgres(const std::string& conninfo);

// BEGIN ... COMMIT, or ROLLBACK when it goes out of scope uncommitted.
class Transaction {
public:
    explicit Transaction(Db* db);
    ~Transaction();
    // A writer: serialised against every other writer, in this process and (PostgreSQL: an
    // advisory lock) in other control instances on the same database.
    Status begin();
    // A reader that sees one consistent state of the whole database.
    Status begin_snapshot();
    Status commit();

private:
    Db* db_;
    bool open_ = false;
};

inline std::string to_db(int64_t v) {
    return std::to_string(v);
}
int64_t db_int(const DbValue& v, int64_t fallback = 0);
double db_double(const DbValue& v, double fallback = 0);
const std::string& db_text(const DbValue& v);

} // namespace vcdn::control
