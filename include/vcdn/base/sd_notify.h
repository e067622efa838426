#pragma once
// The systemd notify protocol (sd_notify(3)): a service of Type=notify tells its manager when it
// is ready, reloading and stopping, and feeds the watchdog. Every call is a no-op when the
// process was not started with NOTIFY_SOCKET (not under systemd, or Type=simple).
#include <cstdint>
#include <string_view>

namespace vcdn::sd {

// Sends `state` (newline-separated "KEY=value" lines) to $NOTIFY_SOCKET. False when there is no
// socket or the send failed (the caller has nothing to do about either: it is logged once).
bool notify(std::string_view state);
// While muted nothing is sent: a process started by an upgrade is not the service's main
// process until the old one hands over (and sends MAINPID= for it).
void set_muted(bool muted);

// READY=1 (with a STATUS= line when `status` is not empty).
void ready(std::string_view status = {});
// RELOADING=1 with MONOTONIC_USEC= now, as systemd ≥ 253's Type=notify-reload requires (252
// takes it too); follow with ready() when the reload is done.
void reloading();
// STOPPING=1: a drain has begun.
void stopping(std::string_view status = {});

// The watchdog interval the manager asked for ($WATCHDOG_USEC, for this pid when $WATCHDOG_PID
// names one), or 0 when there is none.
uint64_t watchdog_usec();
// WATCHDOG=1.
void watchdog();

} // namespace vcdn::sd
