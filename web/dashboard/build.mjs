#!/usr/bin/env node
// Writes the dashboard as one self-contained HTML file: uPlot's JS and CSS, the page's own
// script and style, all inlined, so `vcdn control` can embed it and serve it with no network.
//
//   node web/dashboard/build.mjs [--out PATH]      (default: web/dashboard/dist/index.html)
//
// Needs web/dashboard/node_modules (`npm ci --prefix web/dashboard`); reads nothing else outside
// web/dashboard and writes only PATH. The output is a pure function of the inputs (no dates), so
// a rebuild with nothing changed gives the same bytes.
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));

function die(msg) {
    process.stderr.write(`build.mjs: ${msg}\n`);
    process.exit(1);
}

function parseArgs(argv) {
    let out = path.join(here, "dist", "index.html");
    let page = "dashboard";
    let player = "";
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        if (a === "--page") {
            if (i + 1 >= argv.length) die("--page needs dashboard or sim");
            page = argv[++i];
            if (page !== "dashboard" && page !== "sim" && page !== "watch") die("--page: dashboard, sim or watch");
        } else if (a === "--player") {
            if (i + 1 >= argv.length) die("--player needs hls, dash or shaka");
            player = argv[++i];
            if (!(player in kPlayers)) die("--player: hls, dash or shaka");
        } else if (a === "--out") {
            if (i + 1 >= argv.length) die("--out needs a path");
            out = argv[++i];
        } else if (a.startsWith("--out=")) {
            out = a.slice("--out=".length);
        } else if (a === "-h" || a === "--help") {
            process.stdout.write("usage: node build.mjs [--page dashboard|sim|watch | --player hls|dash|shaka] [--out PATH]\n");
            process.exit(0);
        } else {
            die(`unknown argument ${JSON.stringify(a)} (usage: node build.mjs [--out PATH])`);
        }
    }
    if (!out) die("--out needs a path");
    return { out: path.resolve(out), page, player };
}

function read(file) {
    try {
        return fs.readFileSync(file, "utf8");
    } catch (e) {
        die(`cannot read ${file}: ${e.code || e.message}`);
    }
}

// Text inside <script> ends at the first "</script" whatever the JS meant by it, and "<!--" can
// switch the HTML parser into a state where it does not end where it should. "<\/script" means
// the same in any JS string, template or regex; "<!--" has no safe rewrite, so it stops the build.
function scriptTag(name, js) {
    if (/<!--/.test(js)) die(`${name} contains "<!--", which cannot be inlined safely in <script>`);
    const text = `\n${js.replace(/<\/(script)/gi, "<\\/$1").trimEnd()}\n`;
    return { html: `<script>${text}</script>`, hash: sha256(text) };
}

function styleTag(name, css) {
    if (/<\/style/i.test(css)) die(`${name} contains "</style", which cannot be inlined in <style>`);
    const text = `\n${css.trimEnd()}\n`;
    return { html: `<style>${text}</style>`, hash: sha256(text) };
}

function sha256(text) {
    return `'sha256-${crypto.createHash("sha256").update(text, "utf8").digest("base64")}'`;
}

function fill(template, values) {
    // split/join, not String.replace: library code is full of "$&" and "$'" that replace() would expand.
    let html = template;
    for (const [key, value] of Object.entries(values)) {
        const marker = `@${key}@`;
        if (html.split(marker).length !== 2) die(`the page template must contain ${marker} exactly once`);
        html = html.split(marker).join(value);
    }
    return html;
}

// The web players the watch page loads, each written as the one script file its package ships
// for browsers (licence comments included): served by the control plane at /watch/<name>.js.
const kPlayers = {
    hls: { pkg: "hls.js", file: "dist/hls.min.js" },
    dash: { pkg: "dashjs", file: "dist/modern/umd/dash.mediaplayer.min.js" },
    shaka: { pkg: "shaka-player", file: "dist/shaka-player.compiled.js" },
};

function write(out, text, what) {
    fs.mkdirSync(path.dirname(out), { recursive: true });
    const tmp = `${out}.tmp-${process.pid}`;
    try {
        fs.writeFileSync(tmp, text);
        fs.renameSync(tmp, out);
    } catch (e) {
        fs.rmSync(tmp, { force: true });
        die(`cannot write ${out}: ${e.code || e.message}`);
    }
    process.stdout.write(`build.mjs: wrote ${out} (${Buffer.byteLength(text)} bytes, ${what})\n`);
}

function main() {
    const { out, page, player } = parseArgs(process.argv.slice(2));
    if (player) {
        const p = kPlayers[player];
        const dir = path.join(here, "node_modules", p.pkg);
        if (!fs.existsSync(path.join(dir, "package.json")))
            die(`${dir} is missing: run "npm ci --prefix ${path.relative(process.cwd(), here) || "."}" first`);
        const version = JSON.parse(read(path.join(dir, "package.json"))).version;
        const js = read(path.join(dir, p.file));
        // The control plane embeds it in a C++ raw string: its delimiter must not occur.
        if (js.includes(")vcdn_embed\"")) die(`${p.file} contains the embedding delimiter`);
        return write(out, js, `${p.pkg} ${version}`);
    }
    // The dashboard (served by vcdn control) or the simulator's report page (vcdn sim --html),
    // which carries its data in a JSON script block that the page reads.
    // The watch page talks to its own origin (manifests, steering) and to the edges, wherever
    // they are; it runs the players it loads from its own origin, which use Media Source (blob:
    // media) and, for hls.js, a worker from a blob.
    const pageFiles = page === "sim"
        ? { html: "sim.html", scripts: ["sim.js"], connect: "'none'" }
        : page === "watch"
        ? { html: "watch.html", scripts: ["watch_model.js", "watch.js"], connect: "'self' http: https:",
            scriptSelf: true, extra: ["media-src blob:", "worker-src blob:"] }
        : { html: "index.html", scripts: ["model.js", "app.js"], connect: "'self'" };

    const uplotDir = path.join(here, "node_modules", "uplot");
    if (!fs.existsSync(path.join(uplotDir, "package.json"))) {
        die(`${path.join(here, "node_modules")} is missing or incomplete: run "npm ci --prefix ${path.relative(process.cwd(), here) || "."}" first`);
    }
    const uplotVersion = JSON.parse(read(path.join(uplotDir, "package.json"))).version;
    const uplotJs = read(path.join(uplotDir, "dist", "uPlot.iife.min.js"));
    const uplotCss = read(path.join(uplotDir, "dist", "uPlot.min.css"));
    const uplotLicense = read(path.join(uplotDir, "LICENSE"));

    const withUplot = page !== "watch";
    const scripts = [
        ...(withUplot ? [scriptTag("uPlot.iife.min.js", uplotJs)] : []),
        ...pageFiles.scripts.map((f) => scriptTag(`src/${f}`, read(path.join(here, "src", f)))),
    ];
    const styles = [...(withUplot ? [styleTag("uPlot.min.css", uplotCss)] : []),
                    styleTag("src/style.css", read(path.join(here, "src", "style.css")))];

    // Inline code is allowed by hash only, and the page may talk to its own origin only: an API
    // string that slipped into markup still could not run or phone out.
    const csp = [
        "default-src 'none'",
        `script-src ${pageFiles.scriptSelf ? "'self' " : ""}${scripts.map((s) => s.hash).join(" ")}`,
        `style-src ${styles.map((s) => s.hash).join(" ")}`,
        `connect-src ${pageFiles.connect}`,
        "img-src data:",
        "base-uri 'none'",
        "form-action 'none'",
        ...(pageFiles.extra || []),
    ].join("; ");

    const license = uplotLicense.trim();
    if (license.includes("--")) die("uPlot's LICENSE contains \"--\", which cannot go in an HTML comment");
    const html = fill(read(path.join(here, "src", pageFiles.html)), {
        CSP: csp,
        LICENSES: withUplot ? `<!-- Includes uPlot ${uplotVersion} (MIT license):\n${license}\n-->`
            : "<!-- Loads hls.js (Apache-2.0), dash.js (BSD-3-Clause) or Shaka Player (Apache-2.0) from watch/, with their licences. -->",
        STYLES: styles.map((s) => s.html).join("\n"),
        SCRIPTS: scripts.map((s) => s.html).join("\n"),
    });

    write(out, html, withUplot ? `uPlot ${uplotVersion}` : "no library inlined");
}

main();
