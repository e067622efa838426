#include <vcdn/wire/names.h>

namespace vcdn::wire {

bool valid_name(std::string_view s) {
    if (s.empty() || s.size() > 64 || s.front() == '.') return false;
    for (char c : s) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_' || c == '.';
        if (!ok) return false;
    }
    return true;
}

} // namespace vcdn::wire
