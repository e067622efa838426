// The HTML report of `vcdn sim`: the page built from web/dashboard (uPlot inlined, as the
// dashboard), with the report's JSON in a non-executable <script type="application/json">.
#include <vcdn/sim/sim.h>

namespace vcdn::sim {

std::string_view sim_report_template(); // generated from web/dashboard (sim page)

std::string html_report(const nlohmann::json& report) {
    std::string data = report.dump();
    // Inside <script> the text ends at "</": write it as "<\/" (the same in JSON strings).
    std::string safe;
    safe.reserve(data.size());
    for (size_t i = 0; i < data.size(); ++i) {
        if (data[i] == '<' && i + 1 < data.size() && (data[i + 1] == '/' || data[i + 1] == '!'))
            safe += "\\u003c";
        else
            safe.push_back(data[i]);
    }
    std::string page(sim_report_template());
    const std::string marker = "@SIM_DATA@";
    const size_t at = page.find(marker);
    if (at != std::string::npos) page.replace(at, marker.size(), safe);
    return page;
}

} // namespace vcdn::sim
