#!/usr/bin/env node
// Opens the control plane's dashboard in headless Chromium, as a person would, and checks that it
// shows the expected edges in the expected states and has drawn the throughput chart. With
// --sim-days N it checks a `vcdn sim --html` report instead (a file:// URL): both charts drawn
// and a table row per day plus the total.
//
//   node tests/integration/control/dashboard_check.mjs URL [--expect-edges a1,b1]
//        [--expect-states up,down] [--expect-builds B1,B2] [--screenshot PNG] [--timeout SEC] [--chromium PATH]
//
// Exit 0 with one summary line; 1 with one line saying which check failed, then the page's console
// errors; 2 on a usage error. A JS error in the page fails the check, also one in the 2.5 s
// (one page refresh) it keeps watching after everything showed. The states are
// waited for, so a test can stop an edge and then ask for "down". Uses playwright-core from
// web/dashboard/node_modules (`npm ci --prefix web/dashboard`) to drive Debian's chromium; it
// never downloads a browser. Bounded: --timeout (default 15 s) for the page, 20 s to start the
// browser, and a hard stop after both (55 s in all by default); the browser is killed whichever
// way this exits.
import fs from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const kTag = "dashboard_check";
const kLaunchTimeoutMs = 20000;
const kPollMs = 200;
// After everything shows, watch one more refresh of the page (it polls every 2 s): a JS error in
// the update path, or one thrown just after a draw, must still fail the check.
const kSettleMs = 2500;
const kMaxConsoleLines = 20;
const here = path.dirname(fileURLToPath(import.meta.url));
const t0 = Date.now();

function usage(msg) {
    process.stderr.write(`${kTag}: ${msg}\nusage: dashboard_check.mjs URL [--expect-edges a1,b1] ` +
                         "[--expect-states up,down] [--screenshot PNG] [--timeout SEC] [--chromium PATH]\n");
    process.exit(2);
}

function parseArgs(argv) {
    const o = { url: "", edges: [], states: [], builds: [], screenshot: "", timeoutMs: 15000, chromium: "/usr/bin/chromium", simDays: 0 };
    const list = (s) => s.split(",").map((x) => x.trim()).filter(Boolean);
    for (let i = 0; i < argv.length; i++) {
        let a = argv[i];
        let v;
        const eq = a.indexOf("=");
        if (a.startsWith("--") && eq > 0) {
            v = a.slice(eq + 1);
            a = a.slice(0, eq);
        }
        const value = () => {
            if (v !== undefined) return v;
            if (i + 1 >= argv.length) usage(`${a} needs a value`);
            return argv[++i];
        };
        if (a === "--expect-edges") o.edges = list(value());
        else if (a === "--expect-states") o.states = list(value());
        else if (a === "--expect-builds") o.builds = list(value());
        else if (a === "--screenshot") o.screenshot = value();
        else if (a === "--sim-days") {
            o.simDays = Number(value());
            if (!(o.simDays >= 1)) usage("--sim-days needs a number of days >= 1");
        }
        else if (a === "--chromium") o.chromium = value();
        else if (a === "--timeout") {
            const s = Number(value());
            if (!(s > 0)) usage("--timeout needs a number of seconds > 0");
            o.timeoutMs = s * 1000;
        } else if (a === "-h" || a === "--help") usage("help");
        else if (a.startsWith("-")) usage(`unknown option ${a}`);
        else if (!o.url) o.url = a;
        else usage(`unexpected argument ${a}`);
    }
    if (!o.url) usage("URL is required");
    if (o.builds.length > 0 && o.builds.length !== o.edges.length) {
        usage(`--expect-builds has ${o.builds.length} entries, --expect-edges ${o.edges.length}: give one build per edge`);
    }
    if (o.states.length > 0 && o.states.length !== o.edges.length) {
        usage(`--expect-states has ${o.states.length} entries, --expect-edges ${o.edges.length}: give one state per edge`);
    }
    return o;
}

const opts = parseArgs(process.argv.slice(2));
const consoleErrors = [];
let context = null;
let userDataDir = "";
let finished = false;

function secs() {
    return ((Date.now() - t0) / 1000).toFixed(1) + " s";
}

function removeUserDataDir() {
    if (userDataDir) {
        try {
            fs.rmSync(userDataDir, { recursive: true, force: true });
        } catch {
            // The browser may still hold it during a hard stop; a leftover temp dir is harmless.
        }
    }
}

// playwright-core kills the browser's process group on process exit; this removes our profile.
process.on("exit", removeUserDataDir);

async function finish(code, line) {
    if (finished) return;
    finished = true;
    if (opts.screenshot && context) {
        try {
            const page = context.pages()[0];
            if (page) await page.screenshot({ path: opts.screenshot, fullPage: true, timeout: 5000 });
        } catch (e) {
            line += ` (screenshot failed: ${oneLine(e.message)})`;
        }
    }
    const out = [`${kTag}: ${code === 0 ? "ok" : "FAIL"}: ${line}`];
    if (code !== 0 || consoleErrors.length > 0) {
        for (const c of consoleErrors.slice(0, kMaxConsoleLines)) out.push(`  page console: ${c}`);
        if (consoleErrors.length > kMaxConsoleLines) out.push(`  ... ${consoleErrors.length - kMaxConsoleLines} more`);
    }
    (code === 0 ? process.stdout : process.stderr).write(out.join("\n") + "\n");
    try {
        if (context) await Promise.race([context.close(), new Promise((r) => setTimeout(r, 5000))]);
    } catch {
        // Closing a browser that already died is not a new failure.
    }
    process.exit(code);
}

function oneLine(s) {
    s = String(s || "").split("\n").map((x) => x.trim()).filter(Boolean);
    // Playwright puts a call log under the first line; the first line is the reason.
    return (s[0] || "").slice(0, 400);
}

function withTimeout(promise, ms, message) {
    let timer;
    const timeout = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(message)), ms);
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// Runs in the page: what a person sees, read from the DOM and the chart's pixels.
function probe() {
    const colouredPixels = (c) => {
        let n = 0;
        if (!(c && c.width > 0 && c.height > 0)) return 0;
        const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
        for (let i = 0; i < d.length; i += 4) {
            if (d[i + 3] < 100) continue;
            if (Math.max(d[i], d[i + 1], d[i + 2]) - Math.min(d[i], d[i + 1], d[i + 2]) > 60) n++;
        }
        return n;
    };
    if (document.getElementById("sim-data")) { // the simulator's report
        return {
            sim: true,
            charts: ["chart-days", "chart-hours"].map((id) => colouredPixels(document.querySelector(`#${id} canvas`))),
            dayRows: document.querySelectorAll("#days tbody tr").length,
            rows: [], chart: {}, banner: "",
        };
    }
    const rows = [...document.querySelectorAll("tr[data-edge-id]")].map((tr) => {
        const st = tr.querySelector(".state");
        const build = tr.querySelector(".build");
        const r = tr.getBoundingClientRect();
        return {
            id: tr.dataset.edgeId,
            state: st ? st.textContent.trim() : "",
            build: build ? build.textContent.trim() : "",
            visible: r.width > 0 && r.height > 0 && tr.innerText.includes(tr.dataset.edgeId),
        };
    });
    const chart = { canvas: false, w: 0, h: 0, colored: 0, series: 0 };
    const c = document.querySelector("#chart canvas");
    if (c) {
        chart.canvas = true;
        chart.w = c.width;
        chart.h = c.height;
        chart.series = Number(document.getElementById("chart").dataset.drawnSeries || 0);
        if (c.width > 0 && c.height > 0) {
            // Axes and grid are grey; a pixel with real colour is a drawn series.
            const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
            for (let i = 0; i < d.length; i += 4) {
                if (d[i + 3] < 100) continue;
                const mx = Math.max(d[i], d[i + 1], d[i + 2]);
                const mn = Math.min(d[i], d[i + 1], d[i + 2]);
                if (mx - mn > 60) chart.colored++;
            }
        }
    }
    const b = document.getElementById("banner");
    return { rows, chart, banner: b && !b.hidden ? b.textContent.trim() : "" };
}

// The first check that does not hold, as a sentence; "" when all hold.
function firstFailure(p) {
    if (opts.simDays > 0) {
        if (!p.sim) return "not a vcdn sim report (no #sim-data)";
        if (p.charts[0] === 0) return "sim report: the offload chart has no series drawn";
        if (p.charts[1] === 0) return "sim report: the hourly chart has no series drawn";
        if (p.dayRows !== opts.simDays + 1) return `sim report: ${p.dayRows} table rows, expected ${opts.simDays + 1}`;
        return "";
    }
    for (let i = 0; i < opts.edges.length; i++) {
        const id = opts.edges[i];
        const row = p.rows.find((r) => r.id === id);
        if (!row) {
            const shown = p.rows.map((r) => r.id).join(", ") || "none";
            return `edge ${id} is not on the page (edges shown: ${shown})`;
        }
        if (!row.visible) return `edge ${id} is in the page but not visible`;
        if (opts.states.length > 0 && row.state !== opts.states[i]) {
            return `edge ${id} shows state "${row.state}", expected "${opts.states[i]}"`;
        }
        if (opts.builds.length > 0 && row.build !== opts.builds[i]) {
            return `edge ${id} shows build "${row.build}", expected "${opts.builds[i]}"`;
        }
    }
    if (!p.chart.canvas) return "throughput chart: no canvas in #chart";
    if (!(p.chart.w > 0 && p.chart.h > 0)) return `throughput chart: canvas is ${p.chart.w}x${p.chart.h}`;
    if (p.chart.colored === 0) return "throughput chart: no series drawn (no coloured pixels on the canvas)";
    return "";
}

async function main() {
    if (!fs.existsSync(opts.chromium)) {
        return finish(1, `no browser at ${opts.chromium} (apt-get install chromium, or pass --chromium PATH)`);
    }
    const dashboardDir = process.env.VCDN_DASHBOARD_DIR || path.resolve(here, "../../../web/dashboard");
    let chromium;
    try {
        ({ chromium } = createRequire(path.join(dashboardDir, "package.json"))("playwright-core"));
    } catch {
        return finish(1, `playwright-core not found in ${path.join(dashboardDir, "node_modules")} (run: npm ci --prefix ${dashboardDir})`);
    }

    const budgetMs = kLaunchTimeoutMs + opts.timeoutMs + kSettleMs + 17500;
    setTimeout(() => {
        process.stderr.write(`${kTag}: FAIL: no verdict within ${budgetMs / 1000} s (browser hung?)\n`);
        process.exit(1);
    }, budgetMs);

    userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "vcdn-dashboard-check-"));
    try {
        context = await chromium.launchPersistentContext(userDataDir, {
            executablePath: opts.chromium,
            headless: true,
            args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                   "--disable-background-networking", "--disable-component-update", "--disable-sync"],
            viewport: { width: 1280, height: 900 },
            timeout: kLaunchTimeoutMs,
            handleSIGINT: true,
            handleSIGTERM: true,
            handleSIGHUP: true,
        });
    } catch (e) {
        context = null;
        return finish(1, `cannot start ${opts.chromium}: ${oneLine(e.message)}`);
    }

    const page = context.pages()[0] || (await context.newPage());
    let pageError = "";
    page.on("pageerror", (e) => {
        if (pageError) return;
        const at = e && e.stack ? e.stack.split("\n").find((l) => /^\s+at /.test(l)) : "";
        pageError = oneLine(e && e.message ? e.message : String(e)) + (at ? ` (${at.trim()})` : "");
    });
    page.on("crash", () => {
        if (!pageError) pageError = "the page crashed";
    });
    page.on("console", (m) => {
        if (m.type() === "error") {
            const loc = m.location();
            consoleErrors.push(oneLine(m.text()) + (loc && loc.url ? ` (${loc.url}:${loc.lineNumber})` : ""));
        }
    });

    const deadline = Date.now() + opts.timeoutMs;
    let res;
    try {
        res = await page.goto(opts.url, { waitUntil: "load", timeout: opts.timeoutMs });
    } catch (e) {
        return finish(1, `cannot open ${opts.url}: ${oneLine(e.message)}`);
    }
    if (!opts.url.startsWith("file:")) {
        if (!res || !res.ok()) return finish(1, `GET ${opts.url} answered ${res ? res.status() : "nothing"}`);
        const type = res.headers()["content-type"] || "";
        if (!type.startsWith("text/html")) return finish(1, `GET ${opts.url} answered Content-Type "${type}", not text/html`);
    }

    let last = null;
    for (;;) {
        if (pageError) return finish(1, `page JS error: ${pageError}`);
        try {
            // A page stuck in a loop never answers evaluate(); give it until the deadline.
            const waitMs = Math.max(1000, deadline - Date.now());
            last = await withTimeout(page.evaluate(probe), waitMs,
                                     `the page did not answer for ${(waitMs / 1000).toFixed(1)} s (a script busy in a loop?)`);
        } catch (e) {
            if (pageError) continue;
            return finish(1, `cannot read the page: ${oneLine(e.message)}`);
        }
        const why = firstFailure(last);
        if (!why) break;
        if (Date.now() >= deadline) {
            const banner = last.banner ? `; the page says: ${last.banner}` : "";
            return finish(1, `${why} after ${opts.timeoutMs / 1000} s${banner}`);
        }
        await new Promise((r) => setTimeout(r, kPollMs));
    }
    await new Promise((r) => setTimeout(r, kSettleMs));
    if (pageError) return finish(1, `page JS error: ${pageError}`);

    const cons = consoleErrors.length ? `; ${consoleErrors.length} console errors` : "";
    if (opts.simDays > 0)
        return finish(0, `sim report: 2 charts drawn (${last.charts.join(", ")} coloured pixels), ${last.dayRows} rows${cons}; ${secs()}`);
    const edges = opts.edges.map((id) => `${id}=${last.rows.find((r) => r.id === id).state}`).join(" ");
    return finish(0, `${last.rows.length} edges shown${edges ? ` (${edges})` : ""}; chart ${last.chart.w}x${last.chart.h} ` +
                     `with ${last.chart.series} series drawn${last.banner ? "; banner: " + last.banner : ""}${cons}; ${secs()}`);
}

main().catch((e) => finish(1, `internal error: ${oneLine(e && e.stack ? e.stack : e)}`));
