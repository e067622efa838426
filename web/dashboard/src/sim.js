// The `vcdn sim --html` report: charts of the JSON report embedded in the page.
(() => {
    "use strict";
    const data = JSON.parse(document.getElementById("sim-data").textContent);
    const $ = (id) => document.getElementById(id);
    const pct = (x) => (x === null || x === undefined ? "—" : (100 * x).toFixed(1) + "%");
    const tb = (x) => (x / 1e12).toFixed(1) + " TB";
    $("scenario").textContent = data.scenario;
    const fl = data.fleet;
    $("fleet-size").textContent = `${fl.edges} edges · ${fl.sites} sites (${fl.embedded_sites} embedded) · ${fl.files} files`;

    const width = () => Math.max(480, Math.min(1100, document.body.clientWidth - 60));
    const days = data.days;
    const x = days.map((d) => d.day);
    const series = (label, stroke) => ({ label, stroke, width: 2, value: (u, v) => pct(v) });
    new uPlot({
        width: width(), height: 280,
        scales: { x: { time: false }, y: { range: [0, 1] } },
        axes: [{ label: "day" }, { values: (u, vals) => vals.map((v) => Math.round(v * 100) + "%") }],
        series: [{ label: "day" }, series("embedded", "#2563eb"), series("ix", "#16a34a"),
            series("origin", "#dc2626"), series("ideal (embedded)", "#7c3aed"),
            series("LRU (sample)", "#ea580c")],
    }, [x, days.map((d) => d.offload_embedded), days.map((d) => d.offload_ix),
        days.map((d) => d.offload_origin), days.map((d) => d.offload_ideal),
        days.map((d) => d.offload_lru)], $("chart-days"));

    const hx = [], emb = [], peak = [];
    for (const d of days) for (const h of d.hours) {
        hx.push(d.day * 24 + h.hour);
        emb.push(h.bytes > 0 ? h.offload_embedded : null);
        peak.push(h.peak_edge_utilisation);
    }
    new uPlot({
        width: width(), height: 280,
        scales: { x: { time: false }, y: { range: [0, 1.05] } },
        axes: [{ label: "hour of the run" }, { values: (u, vals) => vals.map((v) => Math.round(v * 100) + "%") }],
        series: [{ label: "hour" }, series("embedded share", "#2563eb"), series("busiest edge", "#dc2626")],
    }, [hx, emb, peak], $("chart-hours"));

    const cols = ["day", "sessions", "embedded", "ix", "origin", "content misses", "health misses",
        "ideal", "LRU", "peak", "p99", "fill", "churn"];
    const row = (d, label) => [label, d.sessions.toLocaleString("en-US"), pct(d.offload_embedded),
        pct(d.offload_ix), pct(d.offload_origin), pct(d.content_misses), pct(d.health_misses),
        pct(d.offload_ideal), pct(d.offload_lru), pct(d.peak_edge_utilisation),
        pct(d.p99_edge_utilisation), tb(d.fill_bytes), tb(d.churn_bytes)];
    const table = $("days");
    const head = table.createTHead().insertRow();
    for (const c of cols) head.appendChild(Object.assign(document.createElement("th"), { textContent: c }));
    const body = table.createTBody();
    for (const r of [...days.map((d) => row(d, String(d.day))), row(data.total, "all")]) {
        const tr = body.insertRow();
        for (const v of r) tr.insertCell().textContent = v;
    }
    for (const e of data.events) {
        const li = document.createElement("li");
        li.textContent = `day ${e.day} ${e.hour}h ${e.kind}: ${e.effect || ""}`;
        $("events").appendChild(li);
    }
})();
