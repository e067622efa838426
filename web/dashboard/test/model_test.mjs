// Unit tests of the dashboard's pure functions: node --test web/dashboard/test/
import assert from "node:assert/strict";
import { test } from "node:test";

await import("../src/model.js");
const M = globalThis.VcdnModel;

test("formats durations, rates and counts", () => {
    assert.equal(M.fmtDuration(0), "0s");
    assert.equal(M.fmtDuration(59.9), "59s");
    assert.equal(M.fmtDuration(192), "3m 12s");
    assert.equal(M.fmtDuration(7500), "2h 5m");
    assert.equal(M.fmtDuration(300), "5m");
    assert.equal(M.fmtDuration(3600), "1h");
    assert.equal(M.fmtDuration(3 * 86400 + 4 * 3600), "3d 4h");
    assert.equal(M.fmtDuration(-5), "0s");
    assert.equal(M.fmtDuration(null), "—");
    assert.equal(M.fmtMs(300), "300 ms");
    assert.equal(M.fmtMs(12000), "12s");
    assert.equal(M.fmtGbps(1.254), "1.25");
    assert.equal(M.fmtGbps(12.34), "12.3");
    assert.equal(M.fmtGbps(123.4), "123");
    assert.equal(M.fmtGbps("1"), "—");
    assert.equal(M.fmtInt(1234567), "1,234,567");
    assert.equal(M.fmtPct(0.314), "31%");
    assert.equal(M.fmtPct(0.314, 1), "31.4%");
    assert.equal(M.fmtBytes(999), "999 B");
    assert.equal(M.fmtBytes(123456789012), "123 GB");
    assert.equal(M.fmtBytes(1500), "1.5 KB");
});

test("unknown states are shown as unknown", () => {
    assert.equal(M.normState("up"), "up");
    assert.equal(M.normState("draining"), "draining");
    assert.equal(M.normState("<b>up</b>"), "unknown");
    assert.equal(M.normState(undefined), "unknown");
});

test("shares sorts by count and ignores what is not a count", () => {
    const s = M.shares({ "isp-a": 1000, origin: 34, "ix-1": 200, bad: "7", neg: -1 });
    assert.deepEqual(s.map((e) => e.name), ["isp-a", "ix-1", "origin"]);
    assert.equal(s[0].frac, 1000 / 1234);
    assert.deepEqual(M.shares(null), []);
    assert.deepEqual(M.shares([1, 2]), []);
    assert.equal(M.shares({ a: 0 })[0].frac, 0);
});

test("edge rows label duplicate ids with their site", () => {
    const rows = M.edgeRows({
        sites: [
            { name: "isp-a", edges: [{ id: "e1" }, { id: "a2" }] },
            { name: "isp-b", edges: [{ id: "e1" }, null] },
            null,
            { name: "no-edges" },
        ],
    });
    assert.deepEqual(rows.map((r) => r.label), ["isp-a/e1", "a2", "isp-b/e1"]);
    assert.notEqual(rows[0].key, rows[2].key);
    assert.deepEqual(M.edgeRows({}), []);
});

test("history is aligned on the union of seconds with gaps as null", () => {
    const rows = M.edgeRows({
        sites: [{
            name: "s",
            edges: [
                { id: "a", history: [{ t: 10, gbps_out: 1 }, { t: 11, gbps_out: 2 }] },
                { id: "b", history: [{ t: 11, gbps_out: 5 }, { t: 12, gbps_out: "x" }, { t: "bad" }, null] },
                { id: "c" },
            ],
        }],
    });
    const { xs, ys } = M.alignHistory(rows, "gbps_out");
    assert.deepEqual(xs, [10, 11, 12]);
    assert.deepEqual(ys, [[1, 2, null], [null, 5, null], [null, null, null]]);
});

test("totals and fill progress", () => {
    const rows = M.edgeRows({ sites: [{ name: "s", edges: [
        { id: "a", state: "up", gbps_out: 1.5, connections: 3 },
        { id: "b", state: "down", gbps_out: null, connections: 2 },
        { id: "c", state: "weird" },
    ] }] });
    const t = M.totals(rows);
    assert.equal(t.edges, 3);
    assert.equal(t.up, 1);
    assert.equal(t.down, 1);
    assert.equal(t.unknown, 1);
    assert.equal(t.gbps, 1.5);
    assert.equal(t.connections, 5);
    assert.deepEqual(M.bgpLines(null), []);
    const lines = M.bgpLines([
        { site: "isp-a", prefixes: 3, differing: 1, edges: [{ id: "a1", connected: true }, { id: "a2", connected: true }],
          differences: [{ prefix: "10.9.0.0/16", heard_by: ["a1"], missing_from: ["a2"] }] },
        { site: "isp-b", prefixes: 1000000, differing: 0, edges: [{ id: "b1", connected: false }] },
        { site: "isp-c", prefixes: 2, differing: 0, refused: 2, edges: [{ id: "c1", connected: true }],
          refusals: [{ prefix: "0.0.0.0/0", edge: "c1", reason: "shorter than the minimum length" }] },
        { site: "isp-d", prefixes: 2, differing: 0, refused: 0, edges: [{ id: "d1", connected: true }] },
    ]);
    assert.equal(lines.length, 4);
    assert.match(lines[2].text, /^isp-c: 2 prefixes from 1 edge — 2 refused \(0\.0\.0\.0\/0 from c1: shorter than the minimum length\)$/);
    assert.equal(lines[2].warn, true);
    assert.equal(lines[3].text, "isp-d: 2 prefixes from 1 edge");
    assert.equal(lines[3].warn, false);
    assert.match(lines[0].text, /^isp-a: 3 prefixes from 2 edges .* disagree on 1 \(10\.9\.0\.0\/16 not heard by a2\)$/);
    assert.equal(lines[0].warn, true);
    assert.match(lines[1].text, /1,000,000 prefixes from 1 edge .* no BIRD: b1/);
    assert.equal(lines[1].warn, true);
    assert.equal(M.fillProgress(null), null);
    assert.deepEqual(M.fillProgress({ files_total: 200, files_placed: 50, bytes_pending: 7 }),
                     { total: 200, placed: 50, frac: 0.25, bytesPending: 7 });
    assert.equal(M.fillProgress({ files_total: 0, files_placed: 0 }).frac, null);
    assert.equal(M.edgeFiles({ files: 12 }).text, "12");
    assert.equal(M.edgeFiles({ files: 12, fill: { files_to_go: 6, state: "filling" } }).text, "12 (+6)");
    assert.equal(M.edgeFiles({ files: 18, fill: { files_to_go: 0, state: "complete" } }).text, "18");
    assert.match(M.edgeFiles({ files: 1, fill: { state: "filling", bytes_to_go: 5e6 } }).title, /fill: filling/);
});

test("links packaged titles to the watch page, and nothing else", () => {
    const doc = { total: 3, watch: "watch", list: [
        { title: 1, files: 8, bytes: 3000000, dash: true, hls: true },
        { title: 2, files: 2, bytes: 10, dash: false, hls: true },
        { title: "3\"><script>", files: 1, dash: true },
        null,
    ] };
    const t = M.titleLinks(doc);
    assert.equal(t.length, 2);
    assert.equal(t[0].text, "title 1 (HLS, DASH; 8 files, 3.0 MB)");
    assert.deepEqual(t[0].links.map((l) => l.href),
                     ["watch?title=1&player=hls", "watch?title=1&player=dash", "watch?title=1&player=shaka"]);
    assert.deepEqual(t[1].links.map((l) => l.label), ["hls.js"]);
    assert.deepEqual(M.titleLinks({ ...doc, watch: "javascript:alert(1)" })[0].links, []);
    assert.deepEqual(M.titleLinks({ ...doc, watch: null })[0].links, []);
    assert.equal(M.titleLinks({ ...doc, watch: "https://steer.example/watch" })[0].links[0].href,
                 "https://steer.example/watch?title=1&player=hls");
    assert.deepEqual(M.titleLinks(undefined), []);
});

test("says how many steering answers found no edge, and why", () => {
    assert.equal(M.unservedLine({ "not-placed": 0, "no-site-for-client": 0, "holders-unavailable": 0 }), "");
    assert.equal(M.unservedLine(undefined), "");
    assert.equal(M.unservedLine({ "not-placed": 2, "holders-unavailable": 1500, x: "bad" }),
                 "unserved: 1,502 (holders-unavailable 1,500, not-placed 2)");
});
