#pragma once
// Integration fixture: a content root with a small catalog and some hostile entries, and a
// real `vcdn edge` process on 127.0.0.1 with ports chosen by the kernel.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/socket.h>

#include <memory>
#include <string>
#include <vector>

#include <vcdn/catalog/catalog.h>

#include "process.h"
#include "raw_client.h"
#include "temp_dir.h"

namespace vcdn::test {

struct EdgeOptions {
    unsigned workers = 1;
    std::string toml;              // extra lines inside [edge] / subsections
    std::vector<std::string> args; // extra flags
    long nofile_limit = -1;
    bool access_log = true;
    std::vector<std::string> env; // extra "K=V" for the process
};

class EdgeProcess {
public:
    // Starts the edge on `root`; false (with a gtest failure) when it does not come up.
    bool start(const std::string& root, const std::string& work_dir, const EdgeOptions& opt = {}) {
        return start(std::vector<std::string>{root}, work_dir, opt);
    }
    // Several roots: "PATH" or "PATH:flash".
    bool start(const std::vector<std::string>& roots, const std::string& work_dir,
               const EdgeOptions& opt = {});
    uint16_t port = 0;
    uint16_t admin_port = 0;
    std::string access_log_path;
    Process proc;

    // The access log's lines as JSON, waiting until at least `min_lines` are there.
    std::vector<nlohmann::json> access_log(size_t min_lines = 1, int timeout_ms = 3000);
    std::string metrics();
    // Sum of a metric's samples whose label text contains `label_filter`.
    double metric(const std::string& name, const std::string& label_filter = "");
    // Metrics are updated as a response completes, which the client may see first: poll
    // until the metric has the expected value (or the timeout passes) and return it.
    double wait_metric(const std::string& name, const std::string& label_filter, double expected,
                       int timeout_ms = 2000);
};

class EdgeTest : public ::testing::Test {
protected:
    static void SetUpTestSuite();
    static void TearDownTestSuite();
    void start_edge(const EdgeOptions& opt = {});

    // Bytes of a content file, from disk.
    static std::string file_bytes(const std::string& rel_path);

    static std::unique_ptr<TempDir> content_dir_;
    static catalog::Catalog catalog_;
    std::unique_ptr<TempDir> work_;
    EdgeProcess edge_;

    static std::string root() { return content_dir_->path() + "/root"; }
    uint16_t port() const { return edge_.port; }
};

} // namespace vcdn::test
