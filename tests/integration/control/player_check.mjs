#!/usr/bin/env node
// Plays videos in Debian's headless Chromium with the control plane's watch page (a real
// hls.js, dash.js or Shaka Player) and checks that each plays, seeks and plays on without a
// fatal player error — and, for a failover case, that it goes on from another edge after the
// edge it plays from is killed. One browser for every case, one case after the other.
//
//   node tests/integration/control/player_check.mjs PLAN.json [--chromium PATH]
//
// PLAN.json: {"cases": [{
//     "name": "hls-steered",
//     "url": "http://127.0.0.1:P/watch?player=hls&title=1&buffer=4",  (the page)
//     "play": 3,              seconds of media to play first
//     "seek": 12,             then seek here (optional)
//     "after": 3,             and play this much more
//     "kill": {"pids": {"a1": 123, "a2": 456}}   (optional) at `play`, kill -9 the edge the
//                             player is on (by its location id); then `after` more seconds must
//                             come from another location
//     "timeout": 60 }]}       seconds for the case (default 60)
//
// Prints one line per case: "player_check: ok: NAME: ..." or "player_check: FAIL: NAME: why",
// with the page's errors and console lines after a failure; exit 0 when every case passed, 1
// otherwise, 2 on a usage error. Uses playwright-core from web/dashboard/node_modules (`npm ci
// --prefix web/dashboard`) and never downloads a browser. Bounded: each case by its timeout,
// the browser's start by 20 s; the browser is killed whichever way this exits.
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const kTag = "player_check";
const here = path.dirname(fileURLToPath(import.meta.url));

function usage(msg) {
    process.stderr.write(`${kTag}: ${msg}\nusage: player_check.mjs PLAN.json [--chromium PATH]\n`);
    process.exit(2);
}

const args = process.argv.slice(2);
let planFile = "";
let chromiumPath = "/usr/bin/chromium";
for (let i = 0; i < args.length; i++) {
    if (args[i] === "--chromium") chromiumPath = args[++i] || usage("--chromium needs a path");
    else if (args[i] === "-h" || args[i] === "--help") usage("help");
    else if (!planFile) planFile = args[i];
    else usage(`unexpected argument ${args[i]}`);
}
if (!planFile) usage("PLAN.json is required");
let plan;
try {
    plan = JSON.parse(fs.readFileSync(planFile, "utf8"));
} catch (e) {
    usage(`cannot read ${planFile}: ${e.message}`);
}
if (!Array.isArray(plan.cases) || plan.cases.length === 0) usage("the plan has no cases");

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let browser = null; // playwright gives it a fresh temporary profile and removes it

// The page's state, as the watch page publishes it (window.vcdnWatch).
async function state(page) {
    return page.evaluate(() => {
        const w = globalThis.vcdnWatch;
        if (!w) return null;
        return {
            state: w.state, time: w.time, duration: w.duration, edge: w.edge, host: w.host,
            edges: { ...w.edges }, errors: w.errors.slice(-20), fatal: w.fatal, bitrate: w.bitrate,
        };
    });
}

async function runCase(c) {
    const timeoutMs = (c.timeout || 60) * 1000;
    const t0 = Date.now();
    const context = await browser.newContext();
    const page = await context.newPage();
    const consoleLines = [];
    page.on("console", (m) => {
        if (m.type() === "error" && consoleLines.length < 40) consoleLines.push(m.text().slice(0, 300));
    });
    page.on("pageerror", (e) => consoleLines.push(`page error: ${String(e.message).slice(0, 300)}`));
    let last = null;
    const fail = (why) => ({ ok: false, why, last, consoleLines });
    try {
        await page.goto(c.url, { timeout: 15000 });
        // Waits until the media time reaches `t` (or the case times out / the player fails).
        const until = async (t, what) => {
            while (Date.now() - t0 < timeoutMs) {
                last = await state(page);
                if (last && last.fatal) return `fatal player error ${what}`;
                if (last && last.time >= t) return "";
                await sleep(200);
            }
            return `timed out ${what} (media time ${last ? last.time.toFixed(1) : "?"} s, ` +
                   `want ${t} s)`;
        };
        let why = await until(c.play, `playing the first ${c.play} s`);
        if (why) return fail(why);
        const before = last;
        let killed = "";
        if (c.kill) {
            killed = before.edge;
            const pid = c.kill.pids[killed];
            if (!pid) return fail(`the player is on '${killed}', which the plan cannot kill`);
            process.kill(pid, "SIGKILL");
        }
        let from = before.time;
        if (c.seek !== undefined) {
            await page.evaluate((t) => { document.querySelector("video").currentTime = t; }, c.seek);
            from = c.seek;
        }
        why = await until(from + c.after, `playing ${c.after} s more${c.seek !== undefined ? ` after seeking to ${c.seek} s` : ""}${killed ? ` after killing ${killed}` : ""}`);
        if (why) return fail(why);
        const edges = Object.keys(last.edges).map((k) => `${k}:${last.edges[k]}`).join(",");
        if (killed) {
            const grew = Object.keys(last.edges).filter((k) => k !== killed && (last.edges[k] || 0) > (before.edges[k] || 0));
            if (grew.length === 0) return fail(`after killing ${killed} no other location served a request (${edges})`);
            return { ok: true, line: `played to ${before.time.toFixed(1)} s on ${killed}, killed it, played on to ${last.time.toFixed(1)} s from ${grew.join(",")}; requests ${edges}; ${last.errors.length} non-fatal errors` };
        }
        return { ok: true, line: `played to ${before.time.toFixed(1)} s${c.seek !== undefined ? `, seeked to ${c.seek} s` : ""}, played on to ${last.time.toFixed(1)} s at ${Math.round(last.bitrate / 1000)} kbit/s; requests ${edges}; ${last.errors.length} non-fatal errors` };
    } catch (e) {
        return fail(String(e.message || e).split("\n")[0].slice(0, 300));
    } finally {
        await Promise.race([context.close(), sleep(5000)]).catch(() => {});
    }
}

async function main() {
    if (!fs.existsSync(chromiumPath)) {
        process.stderr.write(`${kTag}: FAIL: no browser at ${chromiumPath} (apt-get install chromium)\n`);
        process.exit(1);
    }
    const dashboardDir = path.resolve(here, "../../../web/dashboard");
    const { chromium } = createRequire(path.join(dashboardDir, "package.json"))("playwright-core");
    // As root, without a sandbox; no background networking (this machine's network is closed);
    // autoplay without a gesture (the watch page's video is muted).
    browser = await Promise.race([
        chromium.launch({
            executablePath: chromiumPath,
            args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                   "--disable-background-networking", "--disable-component-update", "--disable-sync",
                   "--autoplay-policy=no-user-gesture-required"],
        }),
        sleep(20000).then(() => { throw new Error("the browser did not start within 20 s"); }),
    ]);
    let failed = 0;
    for (const c of plan.cases) {
        const r = await runCase(c);
        if (r.ok) {
            process.stdout.write(`${kTag}: ok: ${c.name}: ${r.line}\n`);
            continue;
        }
        failed++;
        const out = [`${kTag}: FAIL: ${c.name}: ${r.why}`];
        if (r.last) {
            out.push(`  page state: ${r.last.state}, time ${r.last.time.toFixed(1)} s, edge ${r.last.edge || "-"}, requests ${JSON.stringify(r.last.edges)}`);
            for (const e of r.last.errors) out.push(`  player: ${e.fatal ? "FATAL " : ""}${e.text} (at ${e.at} s)`);
        }
        for (const l of r.consoleLines) out.push(`  page console: ${l}`);
        process.stdout.write(out.join("\n") + "\n");
    }
    await Promise.race([browser.close(), sleep(5000)]).catch(() => {});
    process.exit(failed ? 1 : 0);
}

main().catch((e) => {
    process.stderr.write(`${kTag}: FAIL: ${String(e.message || e).split("\n")[0]}\n`);
    process.exit(1);
});
