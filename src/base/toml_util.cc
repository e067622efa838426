#include <vcdn/base/toml_util.h>

#include <algorithm>
#include <fmt/format.h>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace vcdn::toml_util {

TableReader::TableReader(const toml::table& table, std::string path)
    : table_(table), path_(std::move(path)) {}

const toml::node* TableReader::find(std::string_view key) {
    used_.emplace_back(key);
    return table_.get(key);
}

void TableReader::type_error(std::string_view key, const char* want) const {
    throw std::runtime_error(fmt::format("{}.{}: expected {}", path_, key, want));
}

bool TableReader::get(std::string_view key, std::string* out) {
    const toml::node* n = find(key);
    if (!n) return false;
    auto v = n->value<std::string>();
    if (!n->is_string() || !v) type_error(key, "a string");
    *out = *v;
    return true;
}

bool TableReader::get(std::string_view key, bool* out) {
    const toml::node* n = find(key);
    if (!n) return false;
    if (!n->is_boolean()) type_error(key, "true or false");
    *out = *n->value<bool>();
    return true;
}

bool TableReader::get(std::string_view key, uint64_t* out, uint64_t min, uint64_t max) {
    const toml::node* n = find(key);
    if (!n) return false;
    if (!n->is_integer()) type_error(key, "an integer");
    int64_t v = *n->value<int64_t>();
    if (v < 0 || static_cast<uint64_t>(v) < min || static_cast<uint64_t>(v) > max)
        throw std::runtime_error(
            fmt::format("{}.{}: {} is out of range ({}..{})", path_, key, v, min, max));
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
    if (!n->is_number()) type_error(key, "a number");
    *out = *n->value<double>();
    return true;
}

bool TableReader::get(std::string_view key, std::vector<std::string>* out) {
    const toml::node* n = find(key);
    if (!n) return false;
    const toml::array* arr = n->as_array();
    if (!arr) type_error(key, "an array of strings");
    out->clear();
    for (const toml::node& e : *arr) {
        if (!e.is_string()) type_error(key, "an array of strings");
        out->push_back(*e.value<std::string>());
    }
    return true;
}

bool TableReader::get(std::string_view key, std::vector<uint32_t>* out, uint64_t min,
                      uint64_t max) {
    const toml::node* n = find(key);
    if (!n) return false;
    const toml::array* arr = n->as_array();
    if (!arr) type_error(key, "an array of integers");
    out->clear();
    size_t i = 0;
    for (const toml::node& e : *arr) {
        if (!e.is_integer()) type_error(key, "an array of integers");
        const int64_t v = *e.value<int64_t>();
        if (v < 0 || static_cast<uint64_t>(v) < min ||
            static_cast<uint64_t>(v) > std::min<uint64_t>(max, UINT32_MAX))
            throw std::runtime_error(fmt::format("{}.{}[{}]: {} is out of range ({}..{})", path_,
                                                 key, i, v, min,
                                                 std::min<uint64_t>(max, UINT32_MAX)));
        out->push_back(static_cast<uint32_t>(v));
        ++i;
    }
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
    if (!n->is_table()) type_error(key, "a table");
    return n->as_table();
}

void TableReader::finish() const {
    for (auto&& [k, v] : table_) {
        (void)v;
        if (std::find(used_.begin(), used_.end(), k.str()) == used_.end())
            throw std::runtime_error(fmt::format("{}: unknown key '{}'", path_, k.str()));
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
