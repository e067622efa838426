#include <vcdn/wire/json.h>

#include <algorithm>
#include <cmath>
#include <fmt/format.h>

namespace vcdn::wire {

using nlohmann::json;

uint32_t json_depth(std::string_view text, uint32_t max_depth) {
    uint32_t depth = 0, deepest = 0;
    bool in_string = false;
    for (size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (in_string) {
            if (c == '\\')
                ++i; // the escaped byte cannot end the string
            else if (c == '"')
                in_string = false;
            continue;
        }
        if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > deepest) {
                deepest = depth;
                if (deepest > max_depth) return deepest;
            }
        } else if ((c == ']' || c == '}') && depth > 0) {
            --depth;
        }
    }
    return deepest;
}

Result<json> parse_json(std::string_view text, const JsonLimits& limits) {
    if (text.size() > limits.max_bytes)
        return Error{fmt::format("the body is over {} bytes", limits.max_bytes)};
    if (text.empty()) return Error{"the body is empty (JSON expected)"};
    if (json_depth(text, limits.max_depth) > limits.max_depth)
        return Error{fmt::format("the JSON is nested deeper than {} levels", limits.max_depth)};
    json j = json::parse(text, nullptr, false);
    if (j.is_discarded()) return Error{"the body is not valid JSON"};
    return j;
}

std::string dump(const json& j) {
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Fields::Fields(const json& j, std::string where) : Fields(j, std::move(where), nullptr) {}

Fields::Fields(const json& j, std::string where, std::string* shared_error)
    : j_(j), where_(std::move(where)), error_(shared_error ? shared_error : &own_error_) {
    if (ok() && !j_.is_object())
        *error_ = where_.empty() ? "expected a JSON object" : where_ + ": expected a JSON object";
}

std::string Fields::path(const char* key) const {
    return where_.empty() ? std::string(key) : where_ + "." + key;
}

void Fields::fail(std::string message) {
    if (ok()) *error_ = where_.empty() ? std::move(message) : where_ + ": " + message;
}

void Fields::fail_field(const char* key, std::string_view message) {
    if (ok()) *error_ = fmt::format("{}: {}", path(key), message);
}

const json* Fields::find(const char* key, bool required) {
    if (!ok()) return nullptr;
    seen_.emplace_back(key);
    auto it = j_.find(key);
    if (it == j_.end() || it->is_null()) {
        if (required) fail_field(key, "missing");
        return nullptr;
    }
    return &*it;
}

bool Fields::has(const char* key) {
    if (!ok()) return false;
    seen_.emplace_back(key);
    auto it = j_.find(key);
    return it != j_.end() && !it->is_null();
}

Fields& Fields::skip(const char* key) {
    seen_.emplace_back(key);
    return *this;
}

Fields& Fields::boolean(const char* key, bool* out, bool required) {
    const json* v = find(key, required);
    if (!v) return *this;
    if (!v->is_boolean())
        fail_field(key, "expected true or false");
    else
        *out = v->get<bool>();
    return *this;
}

Fields& Fields::string(const char* key, std::string* out, size_t max_len, bool required) {
    const json* v = find(key, required);
    if (!v) return *this;
    if (!v->is_string()) {
        fail_field(key, "expected a string");
        return *this;
    }
    const auto& s = v->get_ref<const std::string&>();
    if (s.size() > max_len)
        fail_field(key, fmt::format("longer than {} bytes", max_len));
    else
        *out = s;
    return *this;
}

template <class T> Fields& Fields::integer(const char* key, T* out, T lo, T hi, bool required) {
    const json* v = find(key, required);
    if (!v) return *this;
    // Only JSON integers: get<> of a float out of range would be undefined behaviour.
    bool in_range = false;
    T value{};
    if (v->is_number_unsigned()) {
        const uint64_t u = v->get<uint64_t>();
        if (u <= static_cast<uint64_t>(std::numeric_limits<T>::max())) {
            value = static_cast<T>(u);
            in_range = value >= lo && value <= hi;
        }
    } else if (v->is_number_integer()) {
        const int64_t s = v->get<int64_t>();
        if (std::numeric_limits<T>::is_signed || s >= 0) {
            value = static_cast<T>(s);
            in_range = static_cast<int64_t>(value) == s && value >= lo && value <= hi;
        }
    } else {
        fail_field(key, "expected an integer");
        return *this;
    }
    if (!in_range)
        fail_field(key, fmt::format("out of range ({} to {})", lo, hi));
    else
        *out = value;
    return *this;
}

Fields& Fields::number(const char* key, double* out, double lo, double hi, bool required) {
    const json* v = find(key, required);
    if (!v) return *this;
    if (!v->is_number()) {
        fail_field(key, "expected a number");
        return *this;
    }
    const double d = v->get<double>();
    if (!std::isfinite(d) || d < lo || d > hi)
        fail_field(key, fmt::format("out of range ({} to {})", lo, hi));
    else
        *out = d;
    return *this;
}

Fields& Fields::strings(const char* key, std::vector<std::string>* out, size_t max_items,
                        size_t max_len, bool required) {
    const json* v = find(key, required);
    if (!v) return *this;
    if (!v->is_array()) {
        fail_field(key, "expected an array of strings");
        return *this;
    }
    if (v->size() > max_items) {
        fail_field(key, fmt::format("more than {} entries", max_items));
        return *this;
    }
    std::vector<std::string> list;
    list.reserve(v->size());
    for (size_t i = 0; i < v->size(); ++i) {
        const json& e = (*v)[i];
        if (!e.is_string()) {
            fail_field(key, fmt::format("[{}]: expected a string", i));
            return *this;
        }
        const auto& s = e.get_ref<const std::string&>();
        if (s.size() > max_len) {
            fail_field(key, fmt::format("[{}]: longer than {} bytes", i, max_len));
            return *this;
        }
        list.push_back(s);
    }
    *out = std::move(list);
    return *this;
}

Fields& Fields::object(const char* key, const std::function<void(Fields&)>& read, bool required) {
    const json* v = find(key, required);
    if (!v) return *this;
    Fields inner(*v, path(key), error_);
    if (ok()) read(inner);
    return *this;
}

Fields& Fields::objects(const char* key, size_t max_items,
                        const std::function<void(Fields&, size_t)>& read, bool required) {
    const json* v = find(key, required);
    if (!v) return *this;
    if (!v->is_array()) {
        fail_field(key, "expected an array of objects");
        return *this;
    }
    if (v->size() > max_items) {
        fail_field(key, fmt::format("more than {} entries", max_items));
        return *this;
    }
    for (size_t i = 0; i < v->size() && ok(); ++i) {
        Fields inner((*v)[i], fmt::format("{}[{}]", path(key), i), error_);
        if (ok()) read(inner, i);
    }
    return *this;
}

Fields& Fields::done(bool allow_unknown) {
    if (!ok() || allow_unknown) return *this;
    for (auto it = j_.begin(); it != j_.end(); ++it) {
        if (std::find(seen_.begin(), seen_.end(), it.key()) != seen_.end()) continue;
        // The key came from the peer: bounded and printable in the message.
        std::string k;
        for (char c : it.key().substr(0, 64))
            k += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
        *error_ = fmt::format("{}: unknown field", path(k.c_str()));
        break;
    }
    return *this;
}

Fields& Fields::req(const char* key, bool* out) {
    return boolean(key, out, true);
}
Fields& Fields::opt(const char* key, bool* out) {
    return boolean(key, out, false);
}
Fields& Fields::req(const char* key, std::string* out, size_t max_len) {
    return string(key, out, max_len, true);
}
Fields& Fields::opt(const char* key, std::string* out, size_t max_len) {
    return string(key, out, max_len, false);
}
Fields& Fields::req(const char* key, int64_t* out, int64_t lo, int64_t hi) {
    return integer<int64_t>(key, out, lo, hi, true);
}
Fields& Fields::opt(const char* key, int64_t* out, int64_t lo, int64_t hi) {
    return integer<int64_t>(key, out, lo, hi, false);
}
Fields& Fields::req(const char* key, uint64_t* out, uint64_t hi) {
    return integer<uint64_t>(key, out, 0, hi, true);
}
Fields& Fields::opt(const char* key, uint64_t* out, uint64_t hi) {
    return integer<uint64_t>(key, out, 0, hi, false);
}
Fields& Fields::req(const char* key, uint32_t* out, uint32_t hi) {
    return integer<uint32_t>(key, out, 0, hi, true);
}
Fields& Fields::opt(const char* key, uint32_t* out, uint32_t hi) {
    return integer<uint32_t>(key, out, 0, hi, false);
}
Fields& Fields::req(const char* key, double* out, double lo, double hi) {
    return number(key, out, lo, hi, true);
}
Fields& Fields::opt(const char* key, double* out, double lo, double hi) {
    return number(key, out, lo, hi, false);
}
Fields& Fields::req(const char* key, std::vector<std::string>* out, size_t max_items,
                    size_t max_len) {
    return strings(key, out, max_items, max_len, true);
}
Fields& Fields::opt(const char* key, std::vector<std::string>* out, size_t max_items,
                    size_t max_len) {
    return strings(key, out, max_items, max_len, false);
}
Fields& Fields::req_object(const char* key, const std::function<void(Fields&)>& read) {
    return object(key, read, true);
}
Fields& Fields::opt_object(const char* key, const std::function<void(Fields&)>& read) {
    return object(key, read, false);
}
Fields& Fields::req_objects(const char* key, size_t max_items,
                            const std::function<void(Fields&, size_t)>& read) {
    return objects(key, max_items, read, true);
}
Fields& Fields::opt_objects(const char* key, size_t max_items,
                            const std::function<void(Fields&, size_t)>& read) {
    return objects(key, max_items, read, false);
}

} // namespace vcdn::wire
