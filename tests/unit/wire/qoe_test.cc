// QoE reports (wire/qoe.h), which anyone may send: bounded, strict, versioned.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <vcdn/wire/qoe.h>

namespace vcdn::wire {
namespace {

using nlohmann::json;

TEST(Qoe, RoundTripsAndRefusesByField) {
    QoeReport r;
    r.samples = {QoeSample{"a1", "/t/1/v.mp4", 120, 1, 3000}, QoeSample{"x1", "", 0, 0, 0}};
    auto back = decode_qoe(encode(r));
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(*back, r);
    auto err = [](const json& j) {
        auto q = decode_qoe(j.dump());
        return q ? std::string() : q.error().message;
    };
    json j = json::parse(encode(r));
    json k = j;
    k.erase("samples");
    EXPECT_EQ(err(k), "qoe: samples: missing");
    k = j;
    k["samples"][1].erase("edge");
    EXPECT_EQ(err(k), "qoe: samples[1].edge: missing");
    k = j;
    k["samples"][0]["mood"] = "happy";
    EXPECT_EQ(err(k), "qoe: samples[0].mood: unknown field");
    k = j;
    k["samples"][0]["stalls"] = -1;
    EXPECT_NE(err(k).find("samples[0].stalls: out of range"), std::string::npos);
    k = j;
    k["samples"][0]["edge"] = std::string(65, 'e');
    EXPECT_EQ(err(k), "qoe: samples[0].edge: longer than 64 bytes");
    k = j;
    k["samples"] = json::array();
    for (size_t i = 0; i <= kMaxQoeSamples; ++i)
        k["samples"].push_back({{"edge", "a1"}});
    EXPECT_NE(err(k).find("more than 10000 entries"), std::string::npos) << err(k);
    EXPECT_NE(decode_qoe(std::string(kMaxQoeBytes + 1, ' ')).error().message.find("over"),
              std::string::npos);
    // The schema rule: one version either side; a newer sender's extra fields are skipped.
    k = j;
    k["schema"] = 2;
    k["samples"][0]["mood"] = "happy";
    EXPECT_TRUE(decode_qoe(k.dump()));
    k["schema"] = 3;
    EXPECT_NE(err(k).find("schema 3 is not supported"), std::string::npos);
}

} // namespace
} // namespace vcdn::wire
