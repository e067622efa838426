#pragma once
// Helpers for strict TOML config parsing (toml++ underneath). Only config code includes this.
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

#include <vcdn/base/result.h>

namespace vcdn::toml_util {

// Every problem of one config file, one line each: "<source>:<line>: <message>" (the line of
// the key or table at fault, where TOML knows it). Config readers collect them all, so that
// an operator fixes a file in one pass (`--check-config`).
struct Diagnostics {
    std::string source;
    std::vector<std::pair<uint32_t, std::string>> errors; // (line or 0, the whole line)
    void add(const toml::node* at, const std::string& message);
    // All of them as one Error, in the file's order (lines joined by '\n'); success when
    // there are none.
    Status status() const;
};

// The top level of a config file: tables other than `sections` (a typo such as [egde], or
// [egde.limits]) and bare keys (a `workers = 4` above any table) are errors.
void check_top_level(const toml::table& doc, std::initializer_list<std::string_view> sections,
                     Diagnostics* diag);

// Reads typed values out of one TOML table and remembers which keys it used, so that
// finish() can report unknown keys. A wrong type, an out-of-range value or an unknown key is
// added to `diag` (the getter then returns false), or, without one, thrown as
// std::runtime_error with a one-line message.
class TableReader {
public:
    TableReader(const toml::table& table, std::string path, Diagnostics* diag = nullptr);
    // The reader of a subtable, collecting into the same diagnostics; `key` is marked used.
    // Null when the subtable is absent (or is not a table: an error).
    std::optional<TableReader> sub(std::string_view key);
    // A problem the caller found itself, at `at` (a key's node, or null).
    void error(const toml::node* at, const std::string& message) const;
    const std::string& path() const { return path_; }
    Diagnostics* diagnostics() const { return diag_; }

    bool get(std::string_view key, std::string* out);
    bool get(std::string_view key, bool* out);
    bool get(std::string_view key, uint32_t* out, uint64_t min = 0, uint64_t max = UINT32_MAX);
    bool get(std::string_view key, uint64_t* out, uint64_t min = 0, uint64_t max = UINT64_MAX);
    bool get(std::string_view key, double* out);
    bool get(std::string_view key, std::vector<std::string>* out);
    bool get(std::string_view key, std::vector<uint32_t>* out, uint64_t min = 0,
             uint64_t max = UINT32_MAX);
    // A string or an array of strings.
    bool get_one_or_many(std::string_view key, std::vector<std::string>* out);
    const toml::table* subtable(std::string_view key);
    // Marks a key as handled by the caller itself (arrays of tables, other shapes).
    void mark_used(std::string_view key) { used_.emplace_back(key); }

    // Throws when a key was present but never asked for.
    void finish() const;

private:
    const toml::node* find(std::string_view key);
    // Records (or throws) "path.key: expected <want>"; always false.
    bool type_error(std::string_view key, const char* want) const;

    const toml::table& table_;
    std::string path_;
    Diagnostics* diag_;
    std::vector<std::string> used_;
};

// "source:line:column: description" for a toml++ parse error: every config reader's message.
Error parse_error(std::string_view source, const toml::parse_error& e);

// A whole config file; the error is "<what> <path>: <reason>".
Result<std::string> read_text_file(const std::string& path, std::string_view what);

} // namespace vcdn::toml_util
