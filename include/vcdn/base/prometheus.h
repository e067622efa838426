#pragma once
// Prometheus text exposition (format 0.0.4), the one writer behind every /metrics: the edge's
// admin listener (with its fill and BGP parts) and the control plane. A family is HELP + TYPE
// once, then its samples; label values are escaped (\\, ", newline); histograms are written
// cumulative with `le`, _sum and _count from non-cumulative bucket counts.
//
// Not thread-safe (one writer per scrape); metrics rendering is off the serving path.
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

namespace vcdn {

struct Label {
    std::string_view key;
    std::string value;
    Label(std::string_view k, std::string_view v) : key(k), value(v) {}
    Label(std::string_view k, const char* v) : key(k), value(v) {}
    Label(std::string_view k, const std::string& v) : key(k), value(v) {}
    template <class T, std::enable_if_t<std::is_integral_v<T>, int> = 0>
    Label(std::string_view k, T v) : key(k), value(std::to_string(v)) {}
};
using Labels = std::initializer_list<Label>;

class PromText {
public:
    PromText& family(std::string_view name, std::string_view type, std::string_view help);
    PromText& sample(std::string_view name, Labels labels, double value);
    PromText& sample(std::string_view name, Labels labels, uint64_t value);
    PromText& sample(std::string_view name, Labels labels, int64_t value);
    template <class T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, uint64_t> &&
                                            !std::is_same_v<T, int64_t>,
                                        int> = 0>
    PromText& sample(std::string_view name, Labels labels, T value) {
        if constexpr (std::is_signed_v<T>)
            return sample(name, labels, static_cast<int64_t>(value));
        else
            return sample(name, labels, static_cast<uint64_t>(value));
    }
    template <class T> PromText& sample(std::string_view name, T value) {
        return sample(name, Labels{}, value);
    }
    // `counts` has bounds.size() + 1 entries (the last is +Inf), not cumulative; `sum` in the
    // unit of the bounds.
    PromText& histogram(std::string_view name, Labels labels, std::span<const double> bounds,
                        std::span<const uint64_t> counts, double sum);
    const std::string& text() const { return out_; }
    std::string take() { return std::move(out_); }

private:
    void labels(Labels l, std::string_view extra_key = {}, std::string_view extra_value = {});
    std::string out_;
};

// A label value escaped for the exposition format.
std::string prom_escape(std::string_view v);

} // namespace vcdn
