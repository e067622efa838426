#pragma once
// Edge health as the control plane judges it: a pure function of what the database says
// (last heartbeat, the edge's own report, operator drain) and the current state, so that
// several control instances reach the same verdict. Going down is immediate; coming back
// needs the edge to be fine and the down state to have lasted hold_down_ms, and an
// overloaded edge returns only below load_low (hysteresis: no flapping at a threshold).
#include <cstdint>
#include <string>

namespace vcdn::control {

struct HealthConfig {
    uint32_t heartbeat_interval_ms = 1000; // what edges are told to use
    uint32_t missed_heartbeats = 3;        // down after this many intervals without one
    double load_high = 0.90;               // of capacity_gbps: above -> overloaded
    double load_low = 0.75;                // back under this -> may return
    uint32_t hold_down_ms = 3000;          // shortest time down before returning to up
};

struct HealthInput {
    std::string state = "unknown"; // current: up, down, draining, unknown
    std::string reason;            // current reason
    int64_t since_ms = 0;          // when the current state began
    int64_t now_ms = 0;
    int64_t last_heartbeat_ms = 0; // 0 = never
    bool drained = false;
    bool reported_healthy = true;
    std::string reported_reason; // the edge's own words when unhealthy
    double gbps_out = 0;
    double capacity_gbps = 10;
};

struct HealthVerdict {
    std::string state;
    std::string reason;
};

HealthVerdict evaluate_health(const HealthConfig& cfg, const HealthInput& in);

} // namespace vcdn::control
