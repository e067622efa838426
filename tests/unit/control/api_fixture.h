#pragma once
// The control plane's API without a socket: a Service on a fresh SQLite file with a small
// fleet, and requests made by hand for the handlers of src/control/api.h.
#include <gtest/gtest.h>

#include <deque>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <vcdn/wire/heartbeat.h>

#include "control/api.h"
#include "temp_dir.h"

namespace vcdn::control::test {

inline constexpr const char* kAdmin = "admin-secret-0123456789";
inline constexpr const char* kRead = "read-secret-0123456789";

// isp-a (10.1.0.0/16; a1, a2 with storage) and ix-1 (x1).
inline const char* kFleetToml = R"([origin]
url = "http://127.0.0.1:8000"
[[site]]
name = "isp-a"
prefixes = ["10.1.0.0/16", "2001:db8:1::/48"]
[[site.edge]]
id = "a1"
url = "http://127.0.0.1:8081"
token = "edge-secret-0123-a1"
storage_bytes = 100000000
[[site.edge]]
id = "a2"
url = "http://127.0.0.1:8082"
token = "edge-secret-0123-a2"
storage_bytes = 100000000
[[site]]
name = "ix-1"
tier = "ix"
[[site.edge]]
id = "x1"
url = "http://127.0.0.1:8091"
token = "edge-secret-0123-x1"
)";

inline const char* kCatalog = R"({"files":[
 {"path":"/t/1/v-235k.mp4","size":1000,"sha256":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","title":1,"bitrate_kbps":235},
 {"path":"/t/1/v-750k.mp4","size":3000,"sha256":"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb","title":1,"bitrate_kbps":750}]})";

class ApiTest : public ::testing::Test {
protected:
    void SetUp() override {
        {
            std::FILE* f = std::fopen((dir_.path() + "/fleet.toml").c_str(), "w");
            ASSERT_TRUE(f);
            std::fputs(kFleetToml, f);
            std::fclose(f);
        }
        cfg_.db = "sqlite:" + dir_.path() + "/control.db";
        cfg_.fleet = dir_.path() + "/fleet.toml";
        cfg_.admin_token = kAdmin;
        cfg_.read_token = kRead;
        cfg_.threads = 1;
        cfg_.steering_log = "off";
        cfg_.limits.trusted = {"10.1.2.3/32"}; // the requests' default address: a front end
        auto s = Service::open(cfg_);
        ASSERT_TRUE(s) << s.error().message;
        svc_ = std::move(*s);
    }

    // A request as the HTTP service would hand it over (token: "" none, "admin", "read", or a
    // token); the fixture keeps the strings it points into.
    ApiRequest request(http::Method m, std::string path, std::string query = {},
                       std::string body = {}, const std::string& token = {}) {
        ApiRequest r;
        r.method = m;
        r.path = own(std::move(path));
        r.query = own(std::move(query));
        r.body = own(std::move(body));
        const std::string t = token == "admin"  ? std::string(kAdmin)
                              : token == "read" ? std::string(kRead)
                                                : token;
        r.authorization = own(t.empty() ? "" : "Bearer " + t);
        r.client = *io::IpAddress::parse("10.1.2.3");
        return r;
    }
    ApiRequest with(ApiRequest r, std::string p0, std::string p1 = {}) {
        r.params[0] = own(std::move(p0));
        r.param_count = 1;
        if (!p1.empty()) {
            r.params[1] = own(std::move(p1));
            r.param_count = 2;
        }
        return r;
    }
    std::string_view own(std::string s) { return owned_.emplace_back(std::move(s)); }
    static nlohmann::json body(const ApiResponse& r) {
        return nlohmann::json::parse(r.body, nullptr, false);
    }
    static std::string code(const ApiResponse& r) {
        auto j = body(r);
        return j.is_object() && j.contains("error") ? j["error"].value("code", "") : "";
    }
    // A heartbeat of an edge that holds `files`, through the handler.
    ApiResponse beat(const std::string& edge, std::vector<std::string> files, bool healthy = true,
                     std::vector<wire::Served> served = {}) {
        wire::Heartbeat h;
        h.served = std::move(served);
        h.report.healthy = healthy;
        h.report.reason = healthy ? "ok" : "maintenance";
        h.report.load = wire::Load{1.0, 10, 0.1};
        h.report.version = "0.1.0";
        h.report.build = "0.1.0+gtest";
        h.inventory = wire::InventoryChanges{wire::inventory_digest(files), true, files, {}};
        return post_heartbeat(
            with(request(http::Method::kPost, "/api/v1/edges/" + edge + "/heartbeat", {},
                         wire::encode(h), "edge-secret-0123-" + edge),
                 edge),
            *svc_);
    }
    void import_catalog() {
        ApiResponse r = post_catalog(
            request(http::Method::kPost, "/api/v1/catalog", {}, kCatalog, "admin"), *svc_);
        ASSERT_EQ(r.status, 200) << r.body;
    }

    vcdn::test::TempDir dir_;
    ControlConfig cfg_;
    std::unique_ptr<Service> svc_;
    std::deque<std::string> owned_;
};

} // namespace vcdn::control::test
