#include <vcdn/base/toml_util.h>

#include <algorithm>
#include <fmt/format.h>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace vcdn::toml_util {

void Diagnostics::add(const toml::node* at, const std::string& message) {
    if (errors.size() >= 100) return; // a file that bad: the first hundred say enough
    const uint32_t line = at ? static_cast<uint32_t>(at->source().begin.line) : 0;
    errors.emplace_back(line, line ? fmt::format("{}:{}: {}", source, line, message)
                                   : fmt::format("{}: {}", source, message));
}

Status Diagnostics::status() const {
    if (errors.empty()) return {};
    std::vector<std::pair<uint32_t, std::string>> sorted = errors;
    // By line; one without a line (a check of the whole) after those with one.
    std::stable_sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
        return (a.first ? a.first : UINT32_MAX) < (b.first ? b.first : UINT32_MAX);
    });
    std::string all;
    for (const auto& [line, e] : sorted)
        all += (all.empty() ? "" : "\n") + e;
    return Error{all};
}

void check_top_level(const toml::table& doc, std::initializer_list<std::string_view> sections,
                     Diagnostics* diag) {
    std::string known;
    for (std::string_view s : sections)
        known += fmt::format("{}[{}]", known.empty() ? "" : ", ", s);
    for (auto&& [k, v] : doc) {
        if (std::find(sections.begin(), sections.end(), k.str()) != sections.end()) {
            if (!v.is_table() && !v.is_array_of_tables())
                diag->add(&v, fmt::format("'{}' must be a table ([{}])", k.str(), k.str()));
            continue;
        }
        diag->add(
            &v, v.is_table() || v.is_array_of_tables()
                    ? fmt::format("unknown table [{}] (this file knows {})", k.str(), known)
                    : fmt::format("'{}' is outside any table: keys belong in {}", k.str(), known));
    }
}

TableReader::TableReader(const toml::table& table, std::string path, Diagnostics* diag)
    : table_(table), path_(std::move(path)), diag_(diag) {}

void TableReader::error(const toml::node* at, const std::string& message) const {
    if (!diag_) throw std::runtime_error(message);
    diag_->add(at, message);
}

std::optional<TableReader> TableReader::sub(std::string_view key) {
    const toml::table* t = subtable(key);
    if (!t) return std::nullopt;
    return TableReader(*t, fmt::format("{}.{}", path_, key), diag_);
}

const toml::node* TableReader::find(std::string_view key) {
    used_.emplace_back(key);
    return table_.get(key);
}

bool TableReader::type_error(std::string_view key, const char* want) const {
    error(table_.get(key), fmt::format("{}.{}: expected {}", path_, key, want));
    return false;
}

bool TableReader::get(std::string_view key, std::string* out) {
    const toml::node* n = find(key);
    if (!n) return false;
    auto v = n->value<std::string>();
    if (!n->is_string() || !v) return type_error(key, "a string");
    *out = *v;
    return true;
}

bool TableReader::get(std::string_view key, bool* out) {
    const toml::node* n = find(key);
    if (!n) return false;
    if (!n->is_boolean()) return type_error(key, "true or false");
    *out = *n->value<bool>();
    return true;
}

bool TableReader::get(std::string_view key, uint64_t* out, uint64_t min, uint64_t max) {
    const toml::node* n = find(key);
    if (!n) return false;
    if (!n->is_integer()) return type_error(key, "an integer");
    int64_t v = *n->value<int64_t>();
    if (v < 0 || static_cast<uint64_t>(v) < min || static_cast<uint64_t>(v) > max) {
        error(n, fmt::format("{}.{}: {} is out of range ({}..{})", path_, key, v, min, max));
        return false;
    }
    *out = static_cast<uint64_t>(v);
    return true;
}

bool TableReader::get(std::string_view key, uint32_t* out, uint64_t min, uint64_t max) {
    uint64_t v = 0;
    if (!get(key, &v, min, std::min<uint64_t>(max, UINT32_MAX))) return false;
    *out = static_cast<uint32_t>(v);
    return true;
}

bool TableReader::get(std::string_view key, double* out) {
    const toml::node* n = find(key);
    if (!n) return false;
    if (!n->is_number()) return type_error(key, "a number");
    *out = *n->value<double>();
    return true;
}

bool TableReader::get(std::string_view key, std::vector<std::string>* out) {
    const toml::node* n = find(key);
    if (!n) return false;
    const toml::array* arr = n->as_array();
    if (!arr) return type_error(key, "an array of strings");
    std::vector<std::string> got;
    for (const toml::node& e : *arr) {
        if (!e.is_string()) return type_error(key, "an array of strings");
        got.push_back(*e.value<std::string>());
    }
    *out = std::move(got);
    return true;
}

bool TableReader::get(std::string_view key, std::vector<uint32_t>* out, uint64_t min,
                      uint64_t max) {
    const toml::node* n = find(key);
    if (!n) return false;
    const toml::array* arr = n->as_array();
    if (!arr) return type_error(key, "an array of integers");
    std::vector<uint32_t> got;
    size_t i = 0;
    for (const toml::node& e : *arr) {
        if (!e.is_integer()) return type_error(key, "an array of integers");
        const int64_t v = *e.value<int64_t>();
        if (v < 0 || static_cast<uint64_t>(v) < min ||
            static_cast<uint64_t>(v) > std::min<uint64_t>(max, UINT32_MAX)) {
            error(&e, fmt::format("{}.{}[{}]: {} is out of range ({}..{})", path_, key, i, v, min,
                                  std::min<uint64_t>(max, UINT32_MAX)));
            return false;
        }
        got.push_back(static_cast<uint32_t>(v));
        ++i;
    }
    *out = std::move(got);
    return true;
}

bool TableReader::get_one_or_many(std::string_view key, std::vector<std::string>* out) {
    const toml::node* n = table_.get(key);
    if (n && n->is_string()) {
        used_.emplace_back(key);
        *out = {*n->value<std::string>()};
        return true;
    }
    return get(key, out);
}

const toml::table* TableReader::subtable(std::string_view key) {
    const toml::node* n = find(key);
    if (!n) return nullptr;
    if (!n->is_table()) {
        type_error(key, "a table");
        return nullptr;
    }
    return n->as_table();
}

void TableReader::finish() const {
    for (auto&& [k, v] : table_) {
        if (std::find(used_.begin(), used_.end(), k.str()) != used_.end()) continue;
        error(&v, v.is_table() ? fmt::format("unknown table [{}.{}]", path_, k.str())
                               : fmt::format("{}: unknown key '{}'", path_, k.str()));
    }
}

Error parse_error(std::string_view source, const toml::parse_error& e) {
    return Error{fmt::format("{}:{}:{}: {}", source, e.source().begin.line, e.source().begin.column,
                             e.description())};
}

Result<std::string> read_text_file(const std::string& path, std::string_view what) {
    std::ifstream in(path);
    if (!in) return Error::from_errno(fmt::format("{} {}", what, path));
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

} // namespace vcdn::toml_util
