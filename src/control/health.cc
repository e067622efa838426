#include <vcdn/control/health.h>

namespace vcdn::control {

HealthVerdict evaluate_health(const HealthConfig& cfg, const HealthInput& in) {
    if (in.drained) return {"draining", "drained"};
    if (in.last_heartbeat_ms == 0) return {"unknown", "no-heartbeat-yet"};
    const int64_t silent_ms = in.now_ms - in.last_heartbeat_ms;
    if (silent_ms > int64_t{cfg.missed_heartbeats} * cfg.heartbeat_interval_ms)
        return {"down", "heartbeat-missed"};
    if (!in.reported_healthy)
        return {"down", "reported-unhealthy" +
                            (in.reported_reason.empty() ? "" : ": " + in.reported_reason)};
    const double load = in.capacity_gbps > 0 ? in.gbps_out / in.capacity_gbps : 0;
    // Any way back from down passes the low-water mark, not only from "overloaded": an
    // overloaded edge that also missed a heartbeat must not return at a load above it.
    const bool was_down = in.state == "down";
    if (load > cfg.load_high || (was_down && load >= cfg.load_low)) return {"down", "overloaded"};
    // Fine now. From up (or a first verdict) stay/go up at once; from down, only after the
    // hold-down time, so that an edge whose heartbeats come and go does not flap.
    if (in.state == "down" && in.now_ms - in.since_ms < int64_t{cfg.hold_down_ms})
        return {in.state, in.reason};
    return {"up", "ok"};
}

} // namespace vcdn::control
