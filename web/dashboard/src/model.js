// Pure functions of the dashboard: turn the /api/v1/dashboard document into what the page shows.
// No DOM here, so node's test runner can load this file (test/model_test.mjs) as the browser does:
// a classic script that publishes one object, globalThis.VcdnModel.
(function () {
    "use strict";

    const kStates = ["up", "down", "draining", "unknown"];

    // A finite number, or null: the API is input, not a promise.
    function num(x) {
        return typeof x === "number" && Number.isFinite(x) ? x : null;
    }

    function str(x) {
        return typeof x === "string" ? x : x == null ? "" : String(x);
    }

    function arr(x) {
        return Array.isArray(x) ? x : [];
    }

    function normState(s) {
        return kStates.includes(s) ? s : "unknown";
    }

    function fmtDuration(sec) {
        sec = num(sec);
        if (sec === null) return "—";
        if (sec < 0) sec = 0;
        sec = Math.floor(sec);
        if (sec < 60) return sec + "s";
        const m = Math.floor(sec / 60);
        const two = (a, ua, b, ub) => a + ua + (b ? " " + b + ub : "");
        if (m < 60) return two(m, "m", sec % 60, "s");
        const h = Math.floor(m / 60);
        if (h < 24) return two(h, "h", m % 60, "m");
        const d = Math.floor(h / 24);
        return two(d, "d", h % 24, "h");
    }

    function fmtMs(ms) {
        ms = num(ms);
        if (ms === null) return "—";
        if (ms < 1000) return Math.max(0, Math.round(ms)) + " ms";
        return fmtDuration(ms / 1000);
    }

    function fmtGbps(x) {
        x = num(x);
        if (x === null) return "—";
        return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2);
    }

    function fmtInt(n) {
        n = num(n);
        if (n === null) return "—";
        return Math.round(n).toLocaleString("en-US");
    }

    function fmtPct(frac, digits) {
        frac = num(frac);
        if (frac === null) return "—";
        return (frac * 100).toFixed(digits === undefined ? 0 : digits) + "%";
    }

    function fmtBytes(n) {
        n = num(n);
        if (n === null) return "—";
        const units = ["B", "KB", "MB", "GB", "TB", "PB"];
        let i = 0;
        while (Math.abs(n) >= 1000 && i < units.length - 1) {
            n /= 1000;
            i++;
        }
        return (i === 0 ? String(Math.round(n)) : n.toFixed(n >= 100 ? 0 : 1)) + " " + units[i];
    }

    // {name: count} -> [{name, count, frac}], largest first; entries that are not counts are dropped.
    function shares(obj) {
        const out = [];
        if (obj && typeof obj === "object" && !Array.isArray(obj)) {
            for (const name of Object.keys(obj)) {
                const c = num(obj[name]);
                if (c !== null && c >= 0) out.push({ name, count: c, frac: 0 });
            }
        }
        const total = out.reduce((a, e) => a + e.count, 0);
        for (const e of out) e.frac = total > 0 ? e.count / total : 0;
        out.sort((a, b) => b.count - a.count || (a.name < b.name ? -1 : 1));
        return out;
    }

    // Flattens sites -> edges into rows the table and the chart share. Labels are the edge id, or
    // "site/id" when two sites use the same id, so a series name never hides another.
    function edgeRows(doc) {
        const rows = [];
        for (const site of arr(doc && doc.sites)) {
            if (!site || typeof site !== "object") continue;
            for (const e of arr(site.edges)) {
                if (!e || typeof e !== "object") continue;
                rows.push({ site: str(site.name), tier: str(site.tier), id: str(e.id), edge: e });
            }
        }
        const seen = new Map();
        for (const r of rows) seen.set(r.id, (seen.get(r.id) || 0) + 1);
        for (const r of rows) {
            r.label = seen.get(r.id) > 1 ? r.site + "/" + r.id : r.id;
            r.key = r.site + "\u0000" + r.id;
        }
        return rows;
    }

    // uPlot wants one x array and one y array per series; edges may report different seconds, so
    // the x axis is the union of all of them and a missing sample is a null (a gap, not a zero).
    function alignHistory(rows, field) {
        field = field || "gbps_out";
        const times = new Set();
        const maps = rows.map((r) => {
            const m = new Map();
            for (const p of arr(r.edge.history)) {
                if (!p) continue;
                const t = num(p.t);
                if (t === null) continue;
                m.set(t, num(p[field]));
                times.add(t);
            }
            return m;
        });
        const xs = Array.from(times).sort((a, b) => a - b);
        const ys = maps.map((m) => xs.map((t) => (m.has(t) ? m.get(t) : null)));
        return { xs, ys };
    }

    function totals(rows) {
        const t = { edges: rows.length, up: 0, down: 0, draining: 0, unknown: 0, gbps: 0, connections: 0 };
        for (const r of rows) {
            t[normState(r.edge.state)]++;
            t.gbps += num(r.edge.gbps_out) || 0;
            t.connections += num(r.edge.connections) || 0;
        }
        return t;
    }

    // The "files" cell of an edge: what it holds, and what its fill still has to do.
    function edgeFiles(e) {
        const held = fmtInt(e && e.files);
        const f = e && e.fill;
        if (!f || typeof f !== "object") return { text: held, title: "" };
        const toGo = num(f.files_to_go);
        const state = str(f.state) || "?";
        const title = "fill: " + state + ", manifest v" + fmtInt(f.manifest_version) +
            ", " + fmtBytes(f.bytes_to_go) + " to go, " + fmtGbps((num(f.rate_bps) || 0) / 1e9) + " Gbit/s";
        if (toGo === null || toGo === 0) return { text: held, title };
        return { text: held + " (+" + fmtInt(toGo) + ")", title };
    }

    // null when the fill section is absent, else the numbers the progress bar needs.
    function fillProgress(fill) {
        if (!fill || typeof fill !== "object") return null;
        const total = num(fill.files_total);
        const placed = num(fill.files_placed);
        const frac = total !== null && total > 0 && placed !== null ? Math.min(1, Math.max(0, placed / total)) : null;
        return { total, placed, frac, bytesPending: num(fill.bytes_pending) };
    }

    // One line per site that steers by BGP: the prefixes that steer, where its edges disagree
    // (as Open Connect's partner portal reports it) and what was refused.
    function bgpLines(bgp) {
        return arr(bgp).filter((s) => s && typeof s === "object").map((s) => {
            const edges = arr(s.edges);
            const down = edges.filter((e) => e && e.connected === false).map((e) => str(e.id));
            let text = str(s.site) + ": " + fmtInt(s.prefixes) + " prefixes from " + edges.length +
                (edges.length === 1 ? " edge" : " edges");
            const differing = num(s.differing) || 0;
            if (differing > 0) {
                const first = arr(s.differences)[0];
                text += " — edges disagree on " + fmtInt(differing) +
                    (first ? " (" + str(first.prefix) + " not heard by " + arr(first.missing_from).join(", ") + ")" : "");
            }
            const refused = num(s.refused) || 0;
            if (refused > 0) {
                const first = arr(s.refusals)[0];
                text += " — " + fmtInt(refused) + " refused" +
                    (first ? " (" + str(first.prefix) + " from " + str(first.edge) + ": " + str(first.reason) + ")" : "");
            }
            if (down.length) text += " — no BIRD: " + down.join(", ");
            return { site: str(s.site), text, warn: differing > 0 || refused > 0 || down.length > 0 };
        });
    }

    // The packaged titles, each with links to the watch page (one per player that plays it):
    // [{title, text, links: [{label, href}]}]. No links when the API gives no watch address.
    function titleLinks(titles) {
        if (!titles || typeof titles !== "object") return [];
        const watch = str(titles.watch);
        // Only the control plane's own page: a relative "watch" or an http(s) URL.
        const base = watch === "watch" || /^https?:\/\/[^\s"<>]+$/.test(watch) ? watch : "";
        return arr(titles.list).filter((t) => t && Number.isInteger(t.title) && t.title > 0).map((t) => {
            const kinds = [t.hls ? "HLS" : "", t.dash ? "DASH" : ""].filter(Boolean);
            const links = [];
            if (base && t.hls) links.push({ label: "hls.js", href: base + "?title=" + t.title + "&player=hls" });
            if (base && t.dash) links.push({ label: "dash.js", href: base + "?title=" + t.title + "&player=dash" });
            if (base && t.dash) links.push({ label: "Shaka", href: base + "?title=" + t.title + "&player=shaka" });
            return {
                title: t.title,
                text: "title " + t.title + " (" + kinds.join(", ") + "; " + fmtInt(num(t.files)) + " files, " + fmtBytes(num(t.bytes)) + ")",
                links,
            };
        });
    }

    // Steering answers that found no edge: "" when none, else one line with the count per reason
    // (the API's reasons: not-placed, no-site-for-client, holders-unavailable).
    function unservedLine(unserved) {
        const counts = shares(unserved).filter((e) => e.count > 0);
        if (!counts.length) return "";
        const total = counts.reduce((a, e) => a + e.count, 0);
        return "unserved: " + fmtInt(total) + " (" + counts.map((e) => e.name + " " + fmtInt(e.count)).join(", ") + ")";
    }

    globalThis.VcdnModel = {
        num, str, arr, normState, fmtDuration, fmtMs, fmtGbps, fmtInt, fmtPct, fmtBytes,
        shares, edgeRows, alignHistory, totals, fillProgress, edgeFiles, bgpLines, titleLinks,
        unservedLine,
    };
})();
