#include <vcdn/base/prometheus.h>

#include <cmath>
#include <fmt/format.h>

namespace vcdn {

std::string prom_escape(std::string_view v) {
    std::string out;
    out.reserve(v.size());
    for (char c : v) {
        if (c == '\\' || c == '"') {
            out += '\\';
            out += c;
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
    return out;
}

PromText& PromText::family(std::string_view name, std::string_view type, std::string_view help) {
    std::string h;
    for (char c : help)
        h += c == '\n' ? ' ' : c;
    fmt::format_to(std::back_inserter(out_), "# HELP {} {}\n# TYPE {} {}\n", name, h, name, type);
    return *this;
}

void PromText::labels(Labels l, std::string_view extra_key, std::string_view extra_value) {
    if (l.size() == 0 && extra_key.empty()) return;
    out_ += '{';
    bool first = true;
    for (const Label& x : l) {
        if (!first) out_ += ',';
        first = false;
        fmt::format_to(std::back_inserter(out_), "{}=\"{}\"", x.key, prom_escape(x.value));
    }
    if (!extra_key.empty())
        fmt::format_to(std::back_inserter(out_), "{}{}=\"{}\"", first ? "" : ",", extra_key,
                       extra_value);
    out_ += '}';
}

PromText& PromText::sample(std::string_view name, Labels l, double value) {
    out_ += name;
    labels(l);
    if (std::isnan(value))
        out_ += " NaN\n";
    else if (std::isinf(value))
        out_ += value > 0 ? " +Inf\n" : " -Inf\n";
    else
        fmt::format_to(std::back_inserter(out_), " {}\n", value);
    return *this;
}

PromText& PromText::sample(std::string_view name, Labels l, uint64_t value) {
    out_ += name;
    labels(l);
    fmt::format_to(std::back_inserter(out_), " {}\n", value);
    return *this;
}

PromText& PromText::sample(std::string_view name, Labels l, int64_t value) {
    out_ += name;
    labels(l);
    fmt::format_to(std::back_inserter(out_), " {}\n", value);
    return *this;
}

PromText& PromText::histogram(std::string_view name, Labels l, std::span<const double> bounds,
                              std::span<const uint64_t> counts, double sum) {
    uint64_t cum = 0;
    for (size_t b = 0; b < bounds.size() && b < counts.size(); ++b) {
        cum += counts[b];
        fmt::format_to(std::back_inserter(out_), "{}_bucket", name);
        labels(l, "le", fmt::format("{}", bounds[b]));
        fmt::format_to(std::back_inserter(out_), " {}\n", cum);
    }
    if (counts.size() > bounds.size()) cum += counts[bounds.size()];
    fmt::format_to(std::back_inserter(out_), "{}_bucket", name);
    labels(l, "le", "+Inf");
    fmt::format_to(std::back_inserter(out_), " {}\n", cum);
    fmt::format_to(std::back_inserter(out_), "{}_sum", name);
    labels(l);
    fmt::format_to(std::back_inserter(out_), " {:.6f}\n", sum);
    fmt::format_to(std::back_inserter(out_), "{}_count", name);
    labels(l);
    fmt::format_to(std::back_inserter(out_), " {}\n", cum);
    return *this;
}

} // namespace vcdn
