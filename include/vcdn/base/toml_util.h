#pragma once
// Helpers for strict TOML config parsing (toml++ underneath). Only config code includes this.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

#include <vcdn/base/result.h>

namespace vcdn::toml_util {

// Reads typed values out of one TOML table and remembers which keys it used, so that
// finish() can report the first unknown key. Throws std::runtime_error with a one-line
// message on a wrong type or an out-of-range value.
class TableReader {
public:
    TableReader(const toml::table& table, std::string path);

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
    [[noreturn]] void type_error(std::string_view key, const char* want) const;

    const toml::table& table_;
    std::string path_;
    std::vector<std::string> used_;
};

// "source:line:column: description" for a toml++ parse error: every config reader's message.
Error parse_error(std::string_view source, const toml::parse_error& e);

// A whole config file; the error is "<what> <path>: <reason>".
Result<std::string> read_text_file(const std::string& path, std::string_view what);

} // namespace vcdn::toml_util
