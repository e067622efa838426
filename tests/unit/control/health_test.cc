#include <gtest/gtest.h>

#include <vcdn/control/health.h>

namespace vcdn::control {
namespace {

HealthInput fine(int64_t now = 100000) {
    HealthInput in;
    in.state = "up";
    in.reason = "ok";
    in.since_ms = 0;
    in.now_ms = now;
    in.last_heartbeat_ms = now - 500;
    in.capacity_gbps = 10;
    in.gbps_out = 1;
    return in;
}

TEST(Health, FreshHeartbeatIsUp) {
    HealthConfig cfg;
    auto v = evaluate_health(cfg, fine());
    EXPECT_EQ(v.state, "up");
    EXPECT_EQ(v.reason, "ok");
}

TEST(Health, NeverHeardIsUnknownAndDrainedIsDraining) {
    HealthConfig cfg;
    HealthInput in = fine();
    in.last_heartbeat_ms = 0;
    EXPECT_EQ(evaluate_health(cfg, in).state, "unknown");
    in = fine();
    in.drained = true;
    EXPECT_EQ(evaluate_health(cfg, in).state, "draining");
    EXPECT_EQ(evaluate_health(cfg, in).reason, "drained");
}

TEST(Health, MissedHeartbeatsTakeItDownAfterExactlyN) {
    HealthConfig cfg; // 3 × 1000 ms
    HealthInput in = fine();
    in.last_heartbeat_ms = in.now_ms - 3000;
    EXPECT_EQ(evaluate_health(cfg, in).state, "up");
    in.last_heartbeat_ms = in.now_ms - 3001;
    auto v = evaluate_health(cfg, in);
    EXPECT_EQ(v.state, "down");
    EXPECT_EQ(v.reason, "heartbeat-missed");
}

TEST(Health, ReportedUnhealthyCarriesTheEdgesReason) {
    HealthConfig cfg;
    HealthInput in = fine();
    in.reported_healthy = false;
    in.reported_reason = "every content root failed";
    auto v = evaluate_health(cfg, in);
    EXPECT_EQ(v.state, "down");
    EXPECT_EQ(v.reason, "reported-unhealthy: every content root failed");
}

TEST(Health, OverloadHasHysteresis) {
    HealthConfig cfg; // high 0.9, low 0.75
    HealthInput in = fine();
    in.gbps_out = 9.5;
    auto v = evaluate_health(cfg, in);
    EXPECT_EQ(v.state, "down");
    EXPECT_EQ(v.reason, "overloaded");
    // Between low and high: stays out while it was overloaded, stays in while it was not.
    in.state = "down";
    in.reason = "overloaded";
    in.since_ms = in.now_ms - 10000;
    in.gbps_out = 8.0;
    EXPECT_EQ(evaluate_health(cfg, in).state, "down");
    in.state = "up";
    in.reason = "ok";
    EXPECT_EQ(evaluate_health(cfg, in).state, "up");
    // Below low: returns.
    in.state = "down";
    in.reason = "overloaded";
    in.gbps_out = 7.0;
    EXPECT_EQ(evaluate_health(cfg, in).state, "up");
}

TEST(Health, TheLowWaterMarkHoldsWhateverTookItDown) {
    HealthConfig cfg;
    HealthInput in = fine();
    in.state = "down";
    in.reason = "reported-unhealthy: maintenance"; // not "overloaded"
    in.since_ms = in.now_ms - 10000;
    in.gbps_out = 8.0; // between low (7.5) and high (9)
    auto v = evaluate_health(cfg, in);
    EXPECT_EQ(v.state, "down");
    EXPECT_EQ(v.reason, "overloaded");
    in.gbps_out = 7.0;
    EXPECT_EQ(evaluate_health(cfg, in).state, "up");
}

TEST(Health, ComingBackWaitsForTheHoldDown) {
    HealthConfig cfg; // hold_down 3000 ms
    HealthInput in = fine();
    in.state = "down";
    in.reason = "heartbeat-missed";
    in.since_ms = in.now_ms - 1000;
    auto v = evaluate_health(cfg, in);
    EXPECT_EQ(v.state, "down");
    EXPECT_EQ(v.reason, "heartbeat-missed");
    in.since_ms = in.now_ms - 3000;
    EXPECT_EQ(evaluate_health(cfg, in).state, "up");
    // From unknown (a first verdict) there is nothing to hold.
    in.state = "unknown";
    in.since_ms = in.now_ms;
    EXPECT_EQ(evaluate_health(cfg, in).state, "up");
}

} // namespace
} // namespace vcdn::control
