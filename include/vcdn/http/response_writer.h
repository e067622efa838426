#pragma once
// Builds a response head into a caller-owned fixed buffer: no allocation, bounded size.
// Hand-written for the hot path; every append checks the remaining space and the writer
// reports overflow once at the end.
#include <charconv>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace vcdn::http {

const char* status_reason(uint16_t status);

class ResponseWriter {
public:
    ResponseWriter(char* buf, size_t cap) : buf_(buf), cap_(cap) {}

    void status_line(uint16_t status) {
        append("HTTP/1.1 ");
        append_u64(status);
        append(" ");
        append(status_reason(status));
        append("\r\n");
    }
    void header(std::string_view name, std::string_view value) {
        append(name);
        append(": ");
        append(value);
        append("\r\n");
    }
    void header_u64(std::string_view name, uint64_t value) {
        append(name);
        append(": ");
        append_u64(value);
        append("\r\n");
    }
    // "Content-Range: bytes first-last/size"
    void content_range(uint64_t first, uint64_t last, uint64_t size) {
        append("Content-Range: bytes ");
        append_u64(first);
        append("-");
        append_u64(last);
        append("/");
        append_u64(size);
        append("\r\n");
    }
    void content_range_unsatisfied(uint64_t size) {
        append("Content-Range: bytes */");
        append_u64(size);
        append("\r\n");
    }
    void end() { append("\r\n"); }

    void append(std::string_view s) {
        if (s.empty()) return; // an empty view may have no data: memcpy(nullptr) is undefined
        if (s.size() > cap_ - len_) {
            overflow_ = true;
            return;
        }
        std::memcpy(buf_ + len_, s.data(), s.size());
        len_ += s.size();
    }
    void append_u64(uint64_t v) {
        char tmp[24];
        auto r = std::to_chars(tmp, tmp + sizeof tmp, v);
        append(std::string_view(tmp, static_cast<size_t>(r.ptr - tmp)));
    }

    size_t size() const { return len_; }
    bool overflow() const { return overflow_; }
    std::string_view view() const { return std::string_view(buf_, len_); }

private:
    char* buf_;
    size_t cap_;
    size_t len_ = 0;
    bool overflow_ = false;
};

} // namespace vcdn::http
