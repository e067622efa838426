// The dashboard page: polls the control plane's /api/v1/dashboard every 2 s and draws it.
// Every string from the API reaches the page through textContent or a property (title,
// style.width), never through innerHTML: the API describes edges that report about themselves.
(function () {
    "use strict";

    const M = globalThis.VcdnModel;
    // Relative, so the page also works behind a proxy that mounts the control plane under a prefix.
    const kApiUrl = "api/v1/dashboard";
    const kApiPath = new URL(kApiUrl, location.href).pathname;
    const kPollMs = 2000;
    const kFetchTimeoutMs = 5000;
    const kChartHeight = 240;
    // The API keeps 300 s of history; the time axis always spans at least that, so it does not
    // rescale while history fills up and the newest second is always at the right edge.
    const kWindowSec = 300;
    // Saturated colours: tell series apart, and tell a series from the grey grid (the check relies on it).
    const kPalette = ["#0969da", "#d1242f", "#1a7f37", "#8250df", "#bf8700", "#0a8a8a", "#cf4ecf",
                      "#e16f24", "#4d6bfe", "#57ab5a", "#a0522d", "#e5534b", "#1b7c83", "#9e6a03",
                      "#6639ba", "#bf3989"];
    const kTierColors = { embedded: "#1a7f37", ix: "#0969da", origin: "#8250df" };

    const $ = (id) => document.getElementById(id);

    // el("td", {class: "num", text: "1.25", title: "..."}, child...)
    function el(tag, props, ...children) {
        const n = document.createElement(tag);
        if (props) {
            for (const k of Object.keys(props)) {
                const v = props[k];
                if (v === undefined || v === null) continue;
                if (k === "class") n.className = v;
                else if (k === "text") n.textContent = v;
                else if (k === "title") n.title = v;
                else if (k === "colSpan") n.colSpan = v;
                else n.dataset[k] = v;
            }
        }
        for (const c of children) if (c) n.append(c);
        return n;
    }

    function fmtClock(sec) {
        const s = M.num(sec);
        if (s === null) return "—";
        const d = new Date(s * 1000);
        if (Number.isNaN(d.getTime())) return "—";
        const pad = (x) => String(x).padStart(2, "0");
        return pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
    }

    function fmtDateTime(sec) {
        const s = M.num(sec);
        const d = new Date(s === null ? NaN : s * 1000);
        return Number.isNaN(d.getTime()) ? "" : d.toISOString().replace(".000Z", "Z");
    }

    // Colours stay with an edge across refreshes, whatever order the API lists edges in.
    const colorOf = (() => {
        const given = new Map();
        return (key) => {
            if (!given.has(key)) given.set(key, kPalette[given.size % kPalette.length]);
            return given.get(key);
        };
    })();

    // ---- header and banner -------------------------------------------------------------------

    const state = { lastOk: 0, failures: 0 };

    function renderHeader(doc) {
        const fleet = M.str(doc.fleet);
        $("fleet").textContent = fleet || "—";
        document.title = (fleet ? fleet + " · " : "") + "vcdn dashboard";
        $("generated").textContent = fmtClock(doc.generated_at);
        $("generated").title = "generated_at " + fmtDateTime(doc.generated_at);
    }

    function tickFreshness() {
        const dot = $("live");
        if (!state.lastOk) {
            $("age").textContent = "waiting for data";
            dot.className = "dot wait";
            return;
        }
        const age = (Date.now() - state.lastOk) / 1000;
        $("age").textContent = age < 1.5 ? "just now" : M.fmtDuration(age) + " ago";
        dot.className = "dot " + (state.failures > 0 ? "err" : age > 3 * (kPollMs / 1000) ? "stale" : "ok");
    }

    function showError(msg) {
        const b = $("banner");
        const since = state.lastOk ? " Showing data from " + fmtClock(state.lastOk / 1000) + "." : "";
        b.textContent = "Cannot load " + kApiPath + ": " + msg + " — retrying every " + kPollMs / 1000 +
                        " s (" + state.failures + (state.failures === 1 ? " failure)." : " failures).") + since;
        b.hidden = false;
        document.body.classList.add("failing");
    }

    function clearError() {
        $("banner").hidden = true;
        document.body.classList.remove("failing");
    }

    // ---- summary -----------------------------------------------------------------------------

    function renderSummary(rows, doc) {
        const t = M.totals(rows);
        const cards = [
            ["edges up", t.up + " / " + t.edges, t.up === t.edges ? "" : "warn"],
            ["Gbit/s out", M.fmtGbps(t.gbps), ""],
            ["connections", M.fmtInt(t.connections), ""],
            ["requests steered", M.fmtInt(doc.steering && doc.steering.total), ""],
        ];
        $("summary").replaceChildren(...cards.map(([label, value, cls]) =>
            el("div", { class: "card " + cls }, el("div", { class: "value", text: value }),
               el("div", { class: "label", text: label }))));
    }

    // ---- the read token -------------------------------------------------------------------
    // The dashboard's data needs the control plane's read token. It comes in the page's
    // fragment (".../#token=..."), which browsers never send to a server or write to its logs;
    // the page keeps it for the tab (sessionStorage) and takes it out of the address bar.
    const token = (() => {
        const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
        if (m) {
            const t = decodeURIComponent(m[1]);
            try { sessionStorage.setItem("vcdn-token", t); } catch (e) { /* private mode */ }
            history.replaceState(null, "", location.pathname + location.search);
            return t;
        }
        try { return sessionStorage.getItem("vcdn-token") || ""; } catch (e) { return ""; }
    })();

    // ---- sites and edges table ---------------------------------------------------------------

    function renderTable(doc) {
        const now = M.num(doc.generated_at) ?? Date.now() / 1000;
        const body = document.createDocumentFragment();
        const sites = M.arr(doc.sites);
        for (const site of sites) {
            if (!site || typeof site !== "object") continue;
            const edges = M.arr(site.edges).filter((e) => e && typeof e === "object");
            const up = edges.filter((e) => M.normState(e.state) === "up").length;
            const gbps = edges.reduce((a, e) => a + (M.num(e.gbps_out) || 0), 0);
            const prefixes = M.arr(site.prefixes).map(M.str);
            const head = el("td", { colSpan: 9 },
                el("span", { class: "site-name", text: M.str(site.name) }),
                el("span", { class: "tier", text: M.str(site.tier) || "?" }),
                el("span", { class: "muted", text: up + "/" + edges.length + " up · " + M.fmtGbps(gbps) + " Gbit/s" }),
                el("span", { class: "prefixes muted", text: prefixes.join("  "), title: prefixes.join("\n") }));
            body.append(el("tr", { class: "site-row", site: M.str(site.name) }, head));
            if (edges.length === 0) {
                body.append(el("tr", {}, el("td", { colSpan: 9, class: "muted empty", text: "no edges" })));
            }
            for (const e of edges) {
                const st = M.normState(e.state);
                const since = M.num(e.since);
                const hb = M.num(e.last_heartbeat_ms_ago);
                const cpu = M.num(e.cpu);
                const key = M.str(site.name) + "\u0000" + M.str(e.id);
                const idCell = el("td", { class: "edge" },
                    el("span", { class: "swatch" }),
                    el("span", { class: "edge-id", text: M.str(e.id) }),
                    el("span", { class: "url muted", text: M.str(e.url) }),
                    el("span", { class: "build muted", text: M.str(e.build), title: "build " + M.str(e.build) }));
                idCell.firstChild.style.background = colorOf(key);
                body.append(el("tr", { class: "edge-row", edgeId: M.str(e.id), state: st },
                    idCell,
                    el("td", {}, el("span", { class: "state " + st, text: st })),
                    el("td", { class: "reason", text: M.str(e.reason) || "—", title: M.str(e.reason) }),
                    el("td", { class: "num", text: since === null ? "—" : M.fmtDuration(now - since),
                               title: fmtDateTime(since) }),
                    el("td", { class: "num" + (hb !== null && hb > 5000 ? " warn" : ""), text: M.fmtMs(hb) }),
                    el("td", { class: "num", text: M.fmtGbps(e.gbps_out) }),
                    el("td", { class: "num", text: M.fmtInt(e.connections) }),
                    el("td", { class: "num" + (cpu !== null && cpu > 0.9 ? " warn" : ""), text: M.fmtPct(cpu) }),
                    el("td", { class: "num", text: M.edgeFiles(e).text, title: M.edgeFiles(e).title })));
            }
        }
        if (sites.length === 0) {
            body.append(el("tr", {}, el("td", { colSpan: 9, class: "muted empty", text: "no sites configured" })));
        }
        $("edges-body").replaceChildren(body);
    }

    // ---- throughput chart --------------------------------------------------------------------

    const chart = { u: null, keys: "", el: null };

    function chartWidth() {
        return Math.max(200, chart.el.clientWidth);
    }

    function lastOf(values) {
        for (let i = values ? values.length - 1 : -1; i >= 0; i--) if (values[i] != null) return values[i];
        return null;
    }

    function countValues(values) {
        let n = 0;
        for (const v of values || []) if (v != null) n++;
        return n;
    }

    // 24-hour clock on the time axis: HH:MM on whole minutes, HH:MM:SS between them.
    function fmtTick(sec) {
        sec = Math.round(sec);
        const s = fmtClock(sec);
        return sec % 60 === 0 ? s.slice(0, 5) : s;
    }

    // As many decimals as the tick step needs: 1 -> "2", 0.5 -> "2.5", 0.25 -> "2.25".
    function decimalsOf(incr) {
        let d = 0;
        while (d < 4 && Math.abs(Math.round(incr * 10 ** d) - incr * 10 ** d) > 1e-6 * 10 ** d) d++;
        return d;
    }

    function makeChart(rows, data) {
        const axis = {
            stroke: "#57606a",
            grid: { stroke: "#eaeef2", width: 1 },
            ticks: { stroke: "#d0d7de", width: 1 },
            font: "11px system-ui, sans-serif",
        };
        const opts = {
            width: chartWidth(),
            height: kChartHeight,
            cursor: { drag: { x: false, y: false } },
            legend: { live: true },
            scales: {
                // From the data, not min/max: uPlot widens a lone point to a whole day.
                x: {
                    time: true,
                    range: (u, min, max) => {
                        const xs = u.data && u.data[0];
                        if (!xs || xs.length === 0) return [min, max];
                        const hi = xs[xs.length - 1];
                        return [Math.min(xs[0], hi - kWindowSec), hi];
                    },
                },
                y: { range: (u, min, max) => [0, max > 0 ? max * 1.15 : 1] },
            },
            axes: [
                Object.assign({}, axis, { space: 70, values: (u, vals) => vals.map(fmtTick) }),
                Object.assign({}, axis, { size: 50, values: (u, vals, ai, space, incr) => vals.map((v) => v.toFixed(decimalsOf(incr))) }),
            ],
            // Away from the chart the legend shows each edge's latest value rather than blanks.
            series: [{ label: "time", value: (u, v, si, idx) => fmtClock(idx == null ? lastOf(u.data[0]) : v) }].concat(rows.map((r) => ({
                label: r.label,
                stroke: colorOf(r.key),
                width: 1.5,
                // Lines only, but dots while a series is sparse: one heartbeat alone draws no line.
                points: { show: (u, si) => countValues(u.data[si]) <= 20 },
                value: (u, v, si, idx) => {
                    const x = idx == null ? lastOf(u.data[si]) : v;
                    return x == null ? "—" : M.fmtGbps(x);
                },
            }))),
            hooks: {
                // For tests and curious people: how many series had something to draw last time.
                draw: [(u) => {
                    chart.el.dataset.drawnSeries = u.data.filter((d, i) => i > 0 && countValues(d) > 0).length;
                }],
            },
        };
        if (chart.u) chart.u.destroy();
        chart.el.replaceChildren();
        chart.u = new uPlot(opts, data, chart.el);
    }

    function renderChart(rows) {
        const { xs, ys } = M.alignHistory(rows, "gbps_out");
        const data = [xs].concat(ys);
        const keys = rows.map((r) => r.key + "\u0001" + r.label).join("\u0002");
        $("chart-empty").hidden = xs.length > 0;
        chart.el.hidden = xs.length === 0;
        if (!chart.u || keys !== chart.keys) {
            chart.keys = keys;
            makeChart(rows, data);
        } else {
            chart.u.setData(data);
        }
        const span = xs.length > 1 ? xs[xs.length - 1] - xs[0] : 0;
        $("chart-window").textContent = "last " + M.fmtDuration(Math.max(kWindowSec, span));
    }

    // ---- steering split ----------------------------------------------------------------------

    function splitBlock(title, entries, colorFor) {
        const bar = el("div", { class: "bar" });
        const legend = el("div", { class: "legend" });
        entries.forEach((e, i) => {
            const color = colorFor(e.name, i);
            if (e.frac > 0) {
                const seg = el("div", { class: "seg", title: e.name + ": " + M.fmtInt(e.count) + " (" + M.fmtPct(e.frac, 1) + ")" });
                seg.style.width = (e.frac * 100).toFixed(3) + "%";
                seg.style.background = color;
                bar.append(seg);
            }
            const sw = el("span", { class: "swatch" });
            sw.style.background = color;
            legend.append(el("div", { class: "item" }, sw,
                el("span", { class: "name", text: e.name }),
                el("span", { class: "pct", text: M.fmtPct(e.frac, 1) }),
                el("span", { class: "count muted", text: M.fmtInt(e.count) })));
        });
        if (entries.length === 0) legend.append(el("div", { class: "muted", text: "no requests yet" }));
        return el("div", { class: "split" }, el("h3", { text: title }), bar, legend);
    }

    // Kept across refreshes, like the edges' colours: a site keeps its colour when ranks change.
    const siteColors = new Map();

    function renderSteering(doc) {
        const s = doc.steering && typeof doc.steering === "object" ? doc.steering : {};
        const bySite = M.shares(s.by_site);
        const byTier = M.shares(s.by_tier);
        // The origin keeps its tier's colour in both bars; no site may share it.
        const sitePalette = kPalette.filter((c) => c !== kTierColors.origin);
        const siteColor = (name) => {
            if (name === "origin") return kTierColors.origin;
            if (!siteColors.has(name)) siteColors.set(name, sitePalette[siteColors.size % sitePalette.length]);
            return siteColors.get(name);
        };
        const otherTiers = kPalette.filter((c) => !Object.values(kTierColors).includes(c));
        const tierColor = (name, i) => kTierColors[name] || otherTiers[i % otherTiers.length];
        $("steering-total").textContent = M.fmtInt(s.total) + " requests";
        const blocks = [splitBlock("by site", bySite, siteColor), splitBlock("by tier", byTier, tierColor)];
        // Answers with no edge at all: players that could not start.
        const unserved = M.unservedLine(s.unserved);
        if (unserved) blocks.push(el("div", { class: "unserved warn", text: unserved }));
        $("steering").replaceChildren(...blocks);
    }

    // ---- fill --------------------------------------------------------------------------------

    function renderFill(doc) {
        const p = M.fillProgress(doc.fill);
        const box = $("fill");
        if (!p) {
            box.replaceChildren(el("span", { class: "muted", text: "fill: not yet available" }));
            return;
        }
        const bar = el("div", { class: "progress" }, el("div", { class: "done" }));
        bar.firstChild.style.width = ((p.frac || 0) * 100).toFixed(2) + "%";
        box.replaceChildren(
            el("span", { class: "fill-label", text: "fill" }), bar,
            el("span", { class: "num", text: M.fmtInt(p.placed) + " / " + M.fmtInt(p.total) + " files (" + M.fmtPct(p.frac, 1) + ")" }),
            el("span", { class: "muted", text: M.fmtBytes(p.bytesPending) + " pending" }));
    }

    // ---- bgp ---------------------------------------------------------------------------------

    function renderBgp(doc) {
        const lines = M.bgpLines(doc.bgp);
        const box = $("bgp");
        if (!lines.length) {
            box.replaceChildren(el("span", { class: "muted", text: "bgp: no site is steered by BGP" }));
            return;
        }
        box.replaceChildren(el("span", { class: "fill-label", text: "bgp" }),
            ...lines.map((l) => el("div", { class: l.warn ? "bgp-line warn" : "bgp-line", text: l.text })));
    }

    // ---- titles ------------------------------------------------------------------------------

    // Packaged titles, each linked to the watch page. Hrefs are built by the model from a
    // checked base and a number; the API's strings reach the page through textContent only.
    function renderTitles(doc) {
        const items = M.titleLinks(doc.titles);
        const box = $("titles");
        if (!items.length) {
            box.replaceChildren(el("span", { class: "muted", text: "titles: no packaged title (vcdn catalog make --media, or catalog import)" }));
            return;
        }
        const rows = items.map((t) => {
            const row = el("div", { class: "title-line", title: String(t.title) }, el("span", { text: t.text }));
            for (const l of t.links) {
                const a = el("a", { text: l.label });
                a.href = l.href;
                a.dataset.title = String(t.title);
                row.append(" ", a);
            }
            return row;
        });
        const total = M.num(doc.titles && doc.titles.total);
        if (total !== null && total > items.length) rows.push(el("div", { class: "muted", text: "… " + M.fmtInt(total - items.length) + " more" }));
        box.replaceChildren(el("span", { class: "fill-label", text: "titles" }), ...rows);
    }

    // ---- polling -----------------------------------------------------------------------------

    function render(doc) {
        const rows = M.edgeRows(doc);
        renderHeader(doc);
        renderSummary(rows, doc);
        renderTable(doc);
        renderChart(rows);
        renderSteering(doc);
        renderFill(doc);
        renderBgp(doc);
        renderTitles(doc);
    }

    async function fetchDoc() {
        const ctl = new AbortController();
        const timer = setTimeout(() => ctl.abort(), kFetchTimeoutMs);
        try {
            let res;
            try {
                const headers = { Accept: "application/json" };
                if (token) headers.Authorization = "Bearer " + token;
                res = await fetch(kApiUrl, { cache: "no-store", signal: ctl.signal, headers });
            } catch (e) {
                throw new Error(ctl.signal.aborted ? "timed out after " + kFetchTimeoutMs / 1000 + " s" : "network error");
            }
            if (res.status === 401 || res.status === 403)
                throw new Error("HTTP " + res.status + ": open the dashboard as .../#token=<read token>");
            if (!res.ok) throw new Error("HTTP " + res.status + (res.statusText ? " " + res.statusText : ""));
            let doc;
            try {
                doc = await res.json();
            } catch (e) {
                throw new Error("response is not JSON");
            }
            if (!doc || typeof doc !== "object" || !Array.isArray(doc.sites)) throw new Error("response has no sites list");
            return doc;
        } finally {
            clearTimeout(timer);
        }
    }

    async function poll() {
        let doc = null;
        try {
            doc = await fetchDoc();
        } catch (e) {
            state.failures++;
            showError(e && e.message ? e.message : String(e));
        }
        try {
            if (doc) {
                state.lastOk = Date.now();
                state.failures = 0;
                clearError();
                render(doc);
            }
        } catch (e) {
            // A bug of this page, not of the API: say so, and let it surface as an uncaught error
            // (the browser check fails on those) while polling goes on.
            $("banner").textContent = "This page failed to show the data: " + (e && e.message ? e.message : String(e));
            $("banner").hidden = false;
            setTimeout(() => {
                throw e;
            });
        } finally {
            tickFreshness();
            // After the answer, not on a fixed interval: a slow control plane is never asked twice at once.
            setTimeout(poll, kPollMs);
        }
    }

    function start() {
        chart.el = $("chart");
        new ResizeObserver(() => {
            if (chart.u && chart.u.width !== chartWidth()) chart.u.setSize({ width: chartWidth(), height: kChartHeight });
        }).observe(chart.el);
        setInterval(tickFreshness, 1000);
        tickFreshness();
        poll();
    }

    start();
})();
