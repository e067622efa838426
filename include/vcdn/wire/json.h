#pragma once
// Strict JSON for bytes that cross a trust boundary: the wire messages between edge and
// control plane, and the control plane's request bodies.
//
// parse_json() decides a document's cost before it builds anything: a size limit, then one
// linear pass over the bytes that bounds the nesting depth (strings and escapes respected),
// then nlohmann's parser *without* a callback. (The callback form is quadratic on arrays of
// objects in nlohmann 3.11, the version Debian 12 ships: a 256 KiB body took 2.2 s.)
//
// Fields walks one JSON object strictly: every field is looked up by name and type-checked,
// required fields must be there, and done() refuses any field nobody asked for. Errors name the
// field with its path ("load.gbps_out: expected a number"). The first error sticks: later
// calls do nothing, so a decoder reads straight through and checks once at the end.
//
// Pure; any thread.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

#include <vcdn/base/result.h>

namespace vcdn::wire {

struct JsonLimits {
    size_t max_bytes = 1u << 20;
    uint32_t max_depth = 16;
};

// The deepest nesting of arrays and objects in `text` (0 for a scalar), or max_depth + 1 as
// soon as it goes deeper; a linear scan that does not validate the JSON.
uint32_t json_depth(std::string_view text, uint32_t max_depth);

// One line of error: "the body is over N bytes", "nested deeper than N levels", "not valid JSON".
Result<nlohmann::json> parse_json(std::string_view text, const JsonLimits& limits);

class Fields {
public:
    // `where` prefixes every error ("heartbeat", "manifest.files[3]"); `j` must outlive this.
    Fields(const nlohmann::json& j, std::string where);
    Fields(nlohmann::json&&, std::string) = delete; // a temporary would not outlive it

    // Required (`req`) or optional (`opt`: absent or null leaves *out alone) fields.
    Fields& req(const char* key, bool* out);
    Fields& opt(const char* key, bool* out);
    Fields& req(const char* key, std::string* out, size_t max_len = 4096);
    Fields& opt(const char* key, std::string* out, size_t max_len = 4096);
    // Integers: JSON integers only (no 1.0, no 1e3), within [lo, hi].
    Fields& req(const char* key, int64_t* out, int64_t lo = 0,
                int64_t hi = std::numeric_limits<int64_t>::max());
    Fields& opt(const char* key, int64_t* out, int64_t lo = 0,
                int64_t hi = std::numeric_limits<int64_t>::max());
    Fields& req(const char* key, uint64_t* out, uint64_t hi = std::numeric_limits<uint64_t>::max());
    Fields& opt(const char* key, uint64_t* out, uint64_t hi = std::numeric_limits<uint64_t>::max());
    Fields& req(const char* key, uint32_t* out, uint32_t hi = std::numeric_limits<uint32_t>::max());
    Fields& opt(const char* key, uint32_t* out, uint32_t hi = std::numeric_limits<uint32_t>::max());
    // Finite numbers within [lo, hi].
    Fields& req(const char* key, double* out, double lo = 0,
                double hi = std::numeric_limits<double>::max());
    Fields& opt(const char* key, double* out, double lo = 0,
                double hi = std::numeric_limits<double>::max());
    // Arrays of strings: at most max_items, each at most max_len bytes.
    Fields& req(const char* key, std::vector<std::string>* out, size_t max_items,
                size_t max_len = 4096);
    Fields& opt(const char* key, std::vector<std::string>* out, size_t max_items,
                size_t max_len = 4096);
    // A nested object: `read` gets a Fields for it (its errors carry the path).
    Fields& req_object(const char* key, const std::function<void(Fields&)>& read);
    Fields& opt_object(const char* key, const std::function<void(Fields&)>& read);
    // An array of objects: `read` is called for each, with its index in the path.
    Fields& req_objects(const char* key, size_t max_items,
                        const std::function<void(Fields&, size_t)>& read);
    Fields& opt_objects(const char* key, size_t max_items,
                        const std::function<void(Fields&, size_t)>& read);
    // Whether a field is there (and not null); counts as asked for.
    bool has(const char* key);
    // Marks a field as known without reading it (a field a newer schema may carry).
    Fields& skip(const char* key);

    // Records a semantic error of this object ("where: message") unless one is there.
    void fail(std::string message);
    void fail_field(const char* key, std::string_view message);
    // Refuses fields nobody asked for (unless `allow_unknown`: a newer sender's fields).
    Fields& done(bool allow_unknown = false);
    bool ok() const { return error_->empty(); }
    const std::string& error() const { return *error_; }
    const std::string& where() const { return where_; }

private:
    Fields(const nlohmann::json& j, std::string where, std::string* shared_error);
    const nlohmann::json* find(const char* key, bool required);
    std::string path(const char* key) const;
    template <class T> Fields& integer(const char* key, T* out, T lo, T hi, bool required);
    Fields& string(const char* key, std::string* out, size_t max_len, bool required);
    Fields& strings(const char* key, std::vector<std::string>* out, size_t max_items,
                    size_t max_len, bool required);
    Fields& number(const char* key, double* out, double lo, double hi, bool required);
    Fields& boolean(const char* key, bool* out, bool required);
    Fields& object(const char* key, const std::function<void(Fields&)>& read, bool required);
    Fields& objects(const char* key, size_t max_items,
                    const std::function<void(Fields&, size_t)>& read, bool required);

    const nlohmann::json& j_;
    std::string where_;
    std::string own_error_;
    std::string* error_; // shared with the Fields of nested objects: the first error sticks
    std::vector<std::string> seen_;
};

// A JSON value as T, exactly, without throwing: an integer type takes only JSON integers
// within its range (nlohmann's get<uint32_t>() truncates 2^32+1 to 1, and converting a float
// out of range is undefined behaviour); a double must be finite (1e999 parses as infinity);
// a vector applies this to each element; anything else is get<T>() with its type check.
template <class T> bool json_exact(const nlohmann::json& v, T* out);

template <class T> bool json_exact(const nlohmann::json& v, T* out) {
    if constexpr (std::is_same_v<T, bool>) {
        if (!v.is_boolean()) return false;
        *out = v.get<bool>();
        return true;
    } else if constexpr (std::is_integral_v<T>) {
        if (v.is_number_unsigned()) {
            const uint64_t u = v.get<uint64_t>();
            if (u > static_cast<uint64_t>(std::numeric_limits<T>::max())) return false;
            *out = static_cast<T>(u);
            return true;
        }
        if (v.is_number_integer()) {
            const int64_t s = v.get<int64_t>();
            if (s < static_cast<int64_t>(std::numeric_limits<T>::min()) ||
                (s > 0 &&
                 static_cast<uint64_t>(s) > static_cast<uint64_t>(std::numeric_limits<T>::max())))
                return false;
            *out = static_cast<T>(s);
            return true;
        }
        return false;
    } else if constexpr (std::is_floating_point_v<T>) {
        if (!v.is_number()) return false;
        const double d = v.get<double>();
        if (!std::isfinite(d)) return false;
        *out = static_cast<T>(d);
        return true;
    } else if constexpr (std::is_same_v<T, std::vector<typename T::value_type>> &&
                         !std::is_same_v<T, std::string>) {
        if (!v.is_array()) return false;
        T items;
        items.reserve(v.size());
        for (const nlohmann::json& e : v) {
            typename T::value_type x{};
            if (!json_exact(e, &x)) return false;
            items.push_back(std::move(x));
        }
        *out = std::move(items);
        return true;
    } else {
        try {
            *out = v.get<T>();
            return true;
        } catch (const nlohmann::json::exception&) {
            return false;
        }
    }
}

// Serialises with invalid UTF-8 replaced (bytes from a peer need not be UTF-8), never throwing.
std::string dump(const nlohmann::json& j);

} // namespace vcdn::wire
