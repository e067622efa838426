#include <vcdn/wire/heartbeat.h>

#include <algorithm>
#include <fmt/format.h>

#include <vcdn/base/sha256.h>
#include <vcdn/wire/json.h>

#include "schema.h"

namespace vcdn::wire {

using nlohmann::json;

namespace {

json to_json(const Load& l) {
    return {{"gbps_out", l.gbps_out}, {"connections", l.connections}, {"cpu", l.cpu}};
}

} // namespace

json to_json(const FillProgress& f) {
    return {{"enabled", f.enabled},
            {"manifest_version", f.manifest_version},
            {"state", f.state},
            {"window", f.window},
            {"in_window", f.in_window},
            {"files_total", f.files_total},
            {"files_to_go", f.files_to_go},
            {"bytes_total", f.bytes_total},
            {"bytes_to_go", f.bytes_to_go},
            {"rate_bps", f.rate_bps},
            {"bytes_by_source",
             {{"peer", f.bytes_from_peer},
              {"tier", f.bytes_from_tier},
              {"origin", f.bytes_from_origin}}},
            {"active", f.active},
            {"verify_failures", f.verify_failures},
            {"errors", f.errors},
            {"scrub_mismatches", f.scrub_mismatches}};
}

json to_json(const DiskReport& d) {
    return {{"root", d.root},
            {"path", d.path},
            {"tier", d.tier},
            {"state", d.state},
            {"reason", d.reason}};
}

json to_json(const BgpSession& s) {
    return {{"name", s.name},     {"state", s.state},       {"bgp_state", s.bgp_state},
            {"since", s.since},   {"neighbor", s.neighbor}, {"neighbor_as", s.neighbor_as},
            {"routes", s.routes}, {"prefixes", s.prefixes}, {"changed_ms", s.changed_ms},
            {"info", s.info}};
}

namespace {

json bgp_status_json(const BgpStatus& b) {
    json sessions = json::array();
    for (const BgpSession& s : b.sessions)
        sessions.push_back(to_json(s));
    return {{"connected", b.connected},
            {"error", b.error},
            {"sessions", std::move(sessions)},
            {"prefixes", b.prefixes},
            {"more", b.more}};
}

// The report's fields, written into `j` (a heartbeat or a stored report).
void report_into(json* j, const EdgeReport& r, int64_t schema) {
    json disks = json::array();
    for (const DiskReport& d : r.disks)
        disks.push_back(to_json(d));
    (*j)["healthy"] = r.healthy;
    (*j)["reason"] = r.reason;
    (*j)["load"] = to_json(r.load);
    (*j)["disks"] = std::move(disks);
    (*j)["version"] = r.version;
    if (schema >= 2) (*j)["build"] = r.build;
    if (r.fill) (*j)["fill"] = to_json(*r.fill);
    if (r.bgp) (*j)["bgp"] = bgp_status_json(*r.bgp);
}

void read_load(Fields& f, Load* l, bool newer) {
    f.opt("gbps_out", &l->gbps_out, 0, 1e6)
        .opt("connections", &l->connections, 1000000000)
        .opt("cpu", &l->cpu, 0, 1e6)
        .done(newer);
}

void read_fill(Fields& f, FillProgress* p, bool newer) {
    f.opt("enabled", &p->enabled)
        .opt("manifest_version", &p->manifest_version)
        .opt("state", &p->state, 64)
        .opt("window", &p->window, 128)
        .opt("in_window", &p->in_window)
        .opt("files_total", &p->files_total)
        .opt("files_to_go", &p->files_to_go)
        .opt("bytes_total", &p->bytes_total)
        .opt("bytes_to_go", &p->bytes_to_go)
        .opt("rate_bps", &p->rate_bps, 0, 1e15)
        .opt_object("bytes_by_source",
                    [&](Fields& b) {
                        b.opt("peer", &p->bytes_from_peer)
                            .opt("tier", &p->bytes_from_tier)
                            .opt("origin", &p->bytes_from_origin)
                            .done(newer);
                    })
        .opt("active", &p->active, kMaxFillActive, 2048)
        .opt("verify_failures", &p->verify_failures)
        .opt("errors", &p->errors)
        .opt("scrub_mismatches", &p->scrub_mismatches)
        .done(newer);
}

void read_session(Fields& f, BgpSession* s, bool newer) {
    f.opt("name", &s->name, 256)
        .opt("state", &s->state, 256)
        .opt("bgp_state", &s->bgp_state, 256)
        .opt("since", &s->since, 256)
        .opt("neighbor", &s->neighbor, 256)
        .opt("neighbor_as", &s->neighbor_as)
        .opt("routes", &s->routes)
        .opt("prefixes", &s->prefixes)
        .opt("changed_ms", &s->changed_ms)
        .opt("info", &s->info, 1024)
        .done(newer);
}

// The report's fields of a heartbeat or a stored report; `s` is the message's schema as far
// as this decoder knows it (min of both), `newer` whether the sender is ahead of us.
void read_report(Fields& f, EdgeReport* r, int64_t s, bool newer) {
    f.req_object("load", [&](Fields& l) { read_load(l, &r->load, newer); })
        .req("healthy", &r->healthy)
        .opt("reason", &r->reason, kMaxReasonBytes)
        .opt_objects("disks", kMaxDisks,
                     [&](Fields& d, size_t) {
                         DiskReport disk;
                         d.opt("root", &disk.root, 1024)
                             .opt("path", &disk.path, kMaxPathBytes)
                             .opt("tier", &disk.tier, 16)
                             .opt("state", &disk.state, 16)
                             .opt("reason", &disk.reason, kMaxReasonBytes)
                             .done(newer);
                         r->disks.push_back(std::move(disk));
                     })
        .opt("version", &r->version, 64);
    if (s >= 2) f.opt("build", &r->build, 128);
    if (f.has("fill")) {
        r->fill.emplace();
        f.opt_object("fill", [&](Fields& x) { read_fill(x, &*r->fill, newer); });
    }
}

// A heartbeat's "bgp": the speaker's status (into the report) and the route changes.
void read_bgp(Fields& f, BgpStatus* st, BgpChanges* ch, bool newer) {
    std::vector<std::string> upserts, removals;
    f.opt("connected", &st->connected)
        .opt("error", &st->error, kMaxReasonBytes)
        .opt_objects("sessions", kMaxBgpSessions,
                     [&](Fields& s, size_t) {
                         BgpSession session;
                         read_session(s, &session, newer);
                         st->sessions.push_back(std::move(session));
                     })
        .opt("prefixes", &st->prefixes)
        .opt("more", &st->more)
        .opt("full", &ch->full)
        .opt("upserts", &upserts, kMaxBgpChanges, 512)
        .opt("removals", &removals, kMaxBgpChanges, 64)
        .opt("digest", &ch->digest, 64)
        .done(newer);
    if (!f.ok()) return;
    ch->diff.more = st->more;
    if (upserts.size() + removals.size() > kMaxBgpChanges) {
        f.fail(fmt::format("at most {} route changes per heartbeat", kMaxBgpChanges));
        return;
    }
    ch->diff.upserts.reserve(upserts.size());
    for (const std::string& line : upserts) {
        auto r = parse_route_line(line);
        if (!r) {
            f.fail_field("upserts",
                         fmt::format("'{}': {}", printable(line, 100), r.error().message));
            return;
        }
        ch->diff.upserts.push_back(std::move(*r));
    }
    ch->diff.removals.reserve(removals.size());
    for (const std::string& p : removals) {
        auto r = io::IpPrefix::parse(p);
        if (!r) {
            f.fail_field("removals", fmt::format("'{}': {}", printable(p, 100), r.error().message));
            return;
        }
        ch->diff.removals.push_back(*r);
    }
}

bool url_path(const std::string& p) {
    return !p.empty() && p[0] == '/';
}

} // namespace

std::string encode(const Heartbeat& h) {
    json j = json::object();
    j["schema"] = h.schema;
    report_into(&j, h.report, h.schema);
    j["inventory"] = {{"digest", h.inventory.digest},
                      {"full", h.inventory.full},
                      {"added", h.inventory.added},
                      {"removed", h.inventory.removed}};
    if (h.bgp) {
        json b = h.report.bgp ? bgp_status_json(*h.report.bgp) : bgp_status_json(BgpStatus{});
        json upserts = json::array(), removals = json::array();
        for (const auto& [p, a] : h.bgp->diff.upserts)
            upserts.push_back(route_line(p, a));
        for (const io::IpPrefix& p : h.bgp->diff.removals)
            removals.push_back(p.to_string());
        b["more"] = h.bgp->diff.more;
        b["full"] = h.bgp->full;
        b["upserts"] = std::move(upserts);
        b["removals"] = std::move(removals);
        b["digest"] = h.bgp->digest;
        j["bgp"] = std::move(b);
    }
    if (h.schema >= 3 && !h.served.empty()) {
        json served = json::array();
        for (const Served& x : h.served) {
            json e = {{"path", x.path}, {"bytes", x.bytes}};
            if (x.client) e["client"] = x.client->to_string();
            served.push_back(std::move(e));
        }
        j["served"] = std::move(served);
    }
    return dump(j);
}

Result<Heartbeat> decode_heartbeat(std::string_view text, int64_t known) {
    auto j = parse_json(text, JsonLimits{kMaxHeartbeatBytes, 8});
    if (!j) return Error{"heartbeat: " + j.error().message};
    Heartbeat h;
    Fields f(*j, "");
    const SchemaView sv = read_schema(f, known);
    if (!sv.ok) return Error{"heartbeat: " + f.error()};
    h.schema = sv.schema;
    read_report(f, &h.report, sv.effective, sv.newer);
    f.req_object("inventory", [&](Fields& inv) {
        inv.req("digest", &h.inventory.digest, 64)
            .opt("full", &h.inventory.full)
            .opt("added", &h.inventory.added, kMaxInventoryChanges, kMaxPathBytes)
            .opt("removed", &h.inventory.removed, kMaxInventoryChanges, kMaxPathBytes)
            .done(sv.newer);
        for (const auto* list : {&h.inventory.added, &h.inventory.removed})
            for (const std::string& p : *list)
                if (inv.ok() && !url_path(p))
                    inv.fail(fmt::format("path '{}' must start with '/'", printable(p, 100)));
    });
    if (f.has("bgp")) {
        BgpStatus st;
        BgpChanges ch;
        f.opt_object("bgp", [&](Fields& b) { read_bgp(b, &st, &ch, sv.newer); });
        h.report.bgp = std::move(st);
        h.bgp = std::move(ch);
    }
    if (sv.effective >= 3)
        f.opt_objects("served", kMaxServed, [&](Fields& e, size_t) {
            Served x;
            std::string client;
            e.req("path", &x.path, kMaxPathBytes)
                .opt("client", &client, 64)
                .req("bytes", &x.bytes, kMaxServedBytes)
                .done(sv.newer);
            if (!e.ok()) return;
            if (!url_path(x.path)) {
                e.fail_field("path",
                             fmt::format("'{}' must start with '/'", printable(x.path, 100)));
                return;
            }
            if (!client.empty()) {
                auto p = io::IpPrefix::parse(client);
                if (!p) {
                    e.fail_field("client",
                                 fmt::format("'{}': {}", printable(client, 64), p.error().message));
                    return;
                }
                x.client = *p;
            }
            h.served.push_back(std::move(x));
        });
    f.done(sv.newer);
    if (!f.ok()) return Error{"heartbeat: " + f.error()};
    return h;
}

std::string encode_report(const EdgeReport& r) {
    json j = json::object();
    j["schema"] = kHeartbeatSchema;
    report_into(&j, r, kHeartbeatSchema);
    return dump(j);
}

EdgeReport decode_report(std::string_view text) {
    auto j = parse_json(text, JsonLimits{1u << 20, 8});
    EdgeReport r;
    if (!j || !j->is_object()) return r;
    Fields f(*j, "");
    // Any older schema is read (a report stored by a release before the last one, too).
    int64_t stored = 1;
    if (auto it = j->find("schema"); it != j->end() && it->is_number_integer())
        stored = std::clamp<int64_t>(it->get<int64_t>(), 1, kHeartbeatSchema);
    const SchemaView sv = read_schema(f, stored);
    if (!sv.ok) return EdgeReport{};
    read_report(f, &r, sv.effective, true);
    if (f.has("bgp"))
        f.opt_object("bgp", [&](Fields& b) {
            BgpStatus st;
            BgpChanges unused;
            read_bgp(b, &st, &unused, true);
            r.bgp = std::move(st);
        });
    f.done(true); // an older release's report may carry fields since dropped ("prefixes")
    return f.ok() ? r : EdgeReport{};
}

std::string encode(const HeartbeatReply& r) {
    json keys = json::array();
    for (const KeyGrant& k : r.keys)
        keys.push_back({{"id", k.id}, {"secret_hex", k.secret_hex}});
    json j = {{"schema", r.schema},
              {"ok", true},
              {"state", r.state},
              {"reason", r.reason},
              {"inventory", r.inventory_ok ? "ok" : "resend"},
              {"heartbeat_interval_ms", r.heartbeat_interval_ms},
              {"keys", std::move(keys)}};
    if (r.bgp_ok) j["bgp"] = *r.bgp_ok ? "ok" : "resend";
    if (r.manifest)
        j["manifest"] = {{"version", r.manifest->version},
                         {"ack", r.manifest->ack},
                         {"delete_delay_ms", r.manifest->delete_delay_ms}};
    return dump(j);
}

Result<HeartbeatReply> decode_heartbeat_reply(std::string_view text, int64_t known) {
    auto j = parse_json(text, JsonLimits{1u << 20, 6});
    if (!j) return Error{"heartbeat reply: " + j.error().message};
    HeartbeatReply r;
    Fields f(*j, "");
    const SchemaView sv = read_schema(f, known);
    if (!sv.ok) return Error{"heartbeat reply: " + f.error()};
    r.schema = sv.schema;
    bool ok = false;
    std::string inventory, bgp;
    f.req("ok", &ok)
        .req("state", &r.state, 64)
        .opt("reason", &r.reason, kMaxReasonBytes)
        .req("inventory", &inventory, 16)
        .req("heartbeat_interval_ms", &r.heartbeat_interval_ms, 600000)
        .req_objects(
            "keys", kMaxKeys,
            [&](Fields& k, size_t) {
                KeyGrant g;
                k.req("id", &g.id, 64).req("secret_hex", &g.secret_hex, 1024).done(sv.newer);
                r.keys.push_back(std::move(g));
            })
        .opt("bgp", &bgp, 16);
    if (f.has("manifest")) {
        r.manifest.emplace();
        f.opt_object("manifest", [&](Fields& m) {
            m.req("version", &r.manifest->version)
                .req("ack", &r.manifest->ack)
                .opt("delete_delay_ms", &r.manifest->delete_delay_ms, 86400000)
                .done(sv.newer);
        });
    }
    f.done(sv.newer);
    if (f.ok() && !ok) f.fail("ok is false");
    if (f.ok() && inventory != "ok" && inventory != "resend")
        f.fail_field("inventory", "expected \"ok\" or \"resend\"");
    if (f.ok() && !bgp.empty()) {
        if (bgp != "ok" && bgp != "resend")
            f.fail_field("bgp", "expected \"ok\" or \"resend\"");
        else
            r.bgp_ok = bgp == "ok";
    }
    if (f.ok() && r.heartbeat_interval_ms < 100)
        f.fail_field("heartbeat_interval_ms", "below 100 ms");
    if (!f.ok()) return Error{"heartbeat reply: " + f.error()};
    r.inventory_ok = inventory == "ok";
    return r;
}

std::string inventory_digest(std::vector<std::string> paths) {
    std::sort(paths.begin(), paths.end());
    Sha256 h;
    for (const std::string& p : paths) {
        h.update(p.data(), p.size());
        h.update("\n", 1);
    }
    return h.final_hex();
}

} // namespace vcdn::wire
