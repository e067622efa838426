#pragma once
// Small string helpers shared by the parsers. All are pure and allocation-free unless the
// return type says otherwise.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vcdn {

inline char ascii_lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
}

inline bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
    return true;
}

inline std::string_view trim_ows(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

// Parses a non-empty run of decimal digits into a uint64_t. Fails on anything else,
// including a sign, spaces or a value that does not fit.
bool parse_u64(std::string_view s, uint64_t* out);

// Splits on a single character; keeps empty fields.
std::vector<std::string_view> split(std::string_view s, char sep);

// Lower-case hex of bytes.
std::string to_hex(const unsigned char* data, size_t n);

// "1.5 GiB"-style rendering for people.
std::string human_bytes(double bytes);

} // namespace vcdn
