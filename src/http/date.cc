#include <vcdn/http/date.h>

#include <cstdio>
#include <cstring>
#include <ctime>

namespace vcdn::http {
namespace {

const char kDays[7][4] = {"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"}; // 1970-01-01 = Thu
const char kMonths[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                             "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

void put2(char* p, unsigned v) {
    p[0] = static_cast<char>('0' + v / 10);
    p[1] = static_cast<char>('0' + v % 10);
}

bool digits(std::string_view s, size_t pos, size_t n, unsigned* out) {
    if (pos + n > s.size()) return false;
    unsigned v = 0;
    for (size_t i = 0; i < n; ++i) {
        char c = s[pos + i];
        if (c < '0' || c > '9') return false;
        v = v * 10 + static_cast<unsigned>(c - '0');
    }
    *out = v;
    return true;
}

int month_index(std::string_view s, size_t pos) {
    if (pos + 3 > s.size()) return -1;
    for (int i = 0; i < 12; ++i)
        if (std::memcmp(s.data() + pos, kMonths[i], 3) == 0) return i;
    return -1;
}

bool time_of_day(std::string_view s, size_t pos, unsigned* h, unsigned* mi, unsigned* sec) {
    return digits(s, pos, 2, h) && pos + 8 <= s.size() && s[pos + 2] == ':' &&
           digits(s, pos + 3, 2, mi) && s[pos + 5] == ':' && digits(s, pos + 6, 2, sec) &&
           *h < 24 && *mi < 60 && *sec < 61;
}

std::optional<int64_t> make(int64_t y, int mon, unsigned d, unsigned h, unsigned mi, unsigned s) {
    if (mon < 0 || d < 1 || d > 31) return std::nullopt;
    return days_from_civil(y, static_cast<unsigned>(mon + 1), d) * 86400 + h * 3600 + mi * 60 + s;
}

} // namespace

void civil_from_days(int64_t z, int64_t* y, unsigned* m, unsigned* d) {
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = static_cast<unsigned>(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const int64_t yy = static_cast<int64_t>(yoe) + era * 400;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = yy + (*m <= 2);
}

int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void format_http_date(int64_t t, char* out) {
    int64_t days = t >= 0 ? t / 86400 : (t - 86399) / 86400;
    int64_t secs = t - days * 86400;
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    int wd = static_cast<int>(((days % 7) + 7) % 7);
    std::memcpy(out, kDays[wd], 3);
    out[3] = ',';
    out[4] = ' ';
    put2(out + 5, d);
    out[7] = ' ';
    std::memcpy(out + 8, kMonths[m - 1], 3);
    out[11] = ' ';
    unsigned yy = static_cast<unsigned>(y < 0 ? 0 : (y > 9999 ? 9999 : y));
    put2(out + 12, yy / 100);
    put2(out + 14, yy % 100);
    out[16] = ' ';
    put2(out + 17, static_cast<unsigned>(secs / 3600));
    out[19] = ':';
    put2(out + 20, static_cast<unsigned>(secs / 60 % 60));
    out[22] = ':';
    put2(out + 23, static_cast<unsigned>(secs % 60));
    std::memcpy(out + 25, " GMT", 4);
}

std::string http_date(int64_t t) {
    char buf[kHttpDateLen];
    format_http_date(t, buf);
    return std::string(buf, kHttpDateLen);
}

std::optional<int64_t> parse_http_date(std::string_view s) {
    unsigned d, y, h, mi, sec;
    size_t comma = s.find(',');
    if (comma == 3) {
        // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
        if (s.size() != 29 || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' ||
            s.substr(25) != " GMT")
            return std::nullopt;
        if (!digits(s, 5, 2, &d) || !digits(s, 12, 4, &y) || !time_of_day(s, 17, &h, &mi, &sec))
            return std::nullopt;
        return make(y, month_index(s, 8), d, h, mi, sec);
    }
    if (comma != std::string_view::npos && comma >= 6) {
        // RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"
        size_t p = comma + 2;
        if (s.size() != p + 22 || s[p - 1] != ' ' || s[p + 2] != '-' || s[p + 6] != '-' ||
            s[p + 9] != ' ' || s.substr(p + 18) != " GMT")
            return std::nullopt;
        if (!digits(s, p, 2, &d) || !digits(s, p + 7, 2, &y) ||
            !time_of_day(s, p + 10, &h, &mi, &sec))
            return std::nullopt;
        y += y < 70 ? 2000 : 1900;
        return make(y, month_index(s, p + 3), d, h, mi, sec);
    }
    if (comma == std::string_view::npos && s.size() == 24) {
        // asctime: "Sun Nov  6 08:49:37 1994"
        if (s[3] != ' ' || s[7] != ' ' || s[10] != ' ' || s[19] != ' ') return std::nullopt;
        unsigned d1 = 0;
        if (s[8] == ' ') {
            if (!digits(s, 9, 1, &d1)) return std::nullopt;
        } else if (!digits(s, 8, 2, &d1)) {
            return std::nullopt;
        }
        if (!time_of_day(s, 11, &h, &mi, &sec) || !digits(s, 20, 4, &y)) return std::nullopt;
        return make(y, month_index(s, 4), d1, h, mi, sec);
    }
    return std::nullopt;
}

} // namespace vcdn::http

namespace vcdn::http {

std::string iso8601_ms(int64_t unix_ms) {
    time_t secs = static_cast<time_t>(unix_ms / 1000);
    struct tm tm {};
    gmtime_r(&secs, &tm);
    char buf[96];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(unix_ms % 1000));
    return buf;
}

} // namespace vcdn::http
