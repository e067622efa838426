#include "edge_fixture.h"

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

namespace vcdn::test {

std::unique_ptr<TempDir> EdgeTest::content_dir_;
catalog::Catalog EdgeTest::catalog_;

void EdgeTest::SetUpTestSuite() {
    content_dir_ = std::make_unique<TempDir>();
    const std::string r = root();
    catalog::MakeOptions mo;
    mo.out_dir = r;
    mo.titles = 2;
    mo.bitrates_kbps = {235, 3000};
    mo.seconds = 4; // 117,500 and 1,500,000 bytes
    mo.seed = 7;
    auto cat = catalog::make_catalog(mo);
    ASSERT_TRUE(cat.ok()) << cat.error().message;
    catalog_ = *cat;
    // Hostile and odd entries.
    write_file(r + "/empty.bin", "");
    write_file(r + "/.hidden", "secret");
    write_file(r + "/a b.txt", "space in name\n");
    ::mkdir((r + "/dir").c_str(), 0755);
    write_file(r + "/dir/x.bin", "in a dir");
    EXPECT_EQ(::symlink("t/1/v-235k.mp4", (r + "/inside.mp4").c_str()), 0);
    EXPECT_EQ(::symlink("/etc/passwd", (r + "/escape").c_str()), 0);
    EXPECT_EQ(::symlink("/etc", (r + "/escape-dir").c_str()), 0);
    EXPECT_EQ(::symlink("../outside.txt", (r + "/escape-rel").c_str()), 0);
    write_file(content_dir_->path() + "/outside.txt", "outside the root");
    EXPECT_EQ(::mkfifo((r + "/fifo").c_str(), 0644), 0);
}

void EdgeTest::TearDownTestSuite() {
    content_dir_.reset();
}

std::string EdgeTest::file_bytes(const std::string& rel) {
    return read_file(root() + "/" + rel);
}

void EdgeTest::start_edge(const EdgeOptions& opt) {
    work_ = std::make_unique<TempDir>();
    ASSERT_TRUE(edge_.start(root(), work_->path(), opt)) << edge_.proc.stderr_text();
}

bool EdgeProcess::start(const std::vector<std::string>& roots, const std::string& work,
                        const EdgeOptions& opt) {
    std::string cfg = work + "/edge.toml";
    access_log_path = work + "/access.log";
    std::ostringstream toml;
    toml << "[edge]\n"
         << "root = " << nlohmann::json(roots).dump() << "\n"
         << "listen = [\"127.0.0.1:0\"]\n"
         << "admin = \"127.0.0.1:0\"\n"
         << "workers = " << opt.workers << "\n"
         << "access_log = \"" << (opt.access_log ? access_log_path : std::string("off")) << "\"\n"
         << opt.toml << "\n";
    write_file(cfg, toml.str());
    std::vector<std::string> argv = {vcdn_binary(), "edge", "--config", cfg};
    argv.insert(argv.end(), opt.args.begin(), opt.args.end());
    SpawnOptions so;
    so.nofile_limit = opt.nofile_limit;
    so.env = opt.env;
    if (!proc.start(argv, so)) return false;
    auto m = proc.wait_for_line(std::regex(R"(listening http://127\.0\.0\.1:(\d+))"), 10000);
    if (!m) return false;
    port = static_cast<uint16_t>(std::stoi((*m)[1]));
    auto a = proc.wait_for_line(std::regex(R"(admin http://127\.0\.0\.1:(\d+))"), 5000);
    if (!a) return false;
    admin_port = static_cast<uint16_t>(std::stoi((*a)[1]));
    return true;
}

std::vector<nlohmann::json> EdgeProcess::access_log(size_t min_lines, int timeout_ms) {
    std::vector<nlohmann::json> out;
    for (int waited = 0;; waited += 20) {
        out.clear();
        std::istringstream in(read_file(access_log_path));
        std::string line;
        while (std::getline(in, line)) {
            if (!line.empty()) out.push_back(nlohmann::json::parse(line));
        }
        if (out.size() >= min_lines || waited >= timeout_ms) return out;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

std::string EdgeProcess::metrics() {
    RawResponse r = fetch(admin_port, "GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n");
    return r.ok ? r.body : std::string();
}

double EdgeProcess::metric(const std::string& name, const std::string& filter) {
    std::istringstream in(metrics());
    std::string line;
    double sum = 0;
    while (std::getline(in, line)) {
        if (line.rfind(name, 0) != 0) continue;
        char next = line.size() > name.size() ? line[name.size()] : ' ';
        if (next != '{' && next != ' ') continue;
        if (!filter.empty() && line.find(filter) == std::string::npos) continue;
        sum += std::stod(line.substr(line.rfind(' ') + 1));
    }
    return sum;
}

} // namespace vcdn::test

namespace vcdn::test {

double EdgeProcess::wait_metric(const std::string& name, const std::string& filter, double expected,
                                int timeout_ms) {
    double v = metric(name, filter);
    for (int waited = 0; v != expected && waited < timeout_ms; waited += 10) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        v = metric(name, filter);
    }
    return v;
}

} // namespace vcdn::test
