#!/usr/bin/env node
// Fails when any npm package vcdn builds or tests with says it does not run on the node running
// this script — which, under scripts/node, is Debian 12's own (18): what a fresh Debian 12 has.
// A dependency that wants a newer node fails here, by name, before it fails a user.
//
//   scripts/node web/check-engines.mjs DIR...      (each DIR a package with a package-lock.json)
//
// Checks each DIR's own `engines.node` and that of every package its lock file lists (npm records
// them there), with the `semver` package from DIR's node_modules (`npm ci` installs it). Exit 0
// with one line per DIR, 1 with one line per package that does not fit, 2 on a usage error.
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

const kTag = "check-engines";
const dirs = process.argv.slice(2);
if (dirs.length === 0 || dirs.includes("--help") || dirs.includes("-h")) {
    process.stdout.write("usage: check-engines.mjs DIR...  (packages with a package-lock.json)\n");
    process.exit(dirs.length === 0 ? 2 : 0);
}

const node = process.versions.node;
let bad = 0;
for (const dir of dirs) {
    const lockFile = path.join(dir, "package-lock.json");
    let lock, semver;
    try {
        lock = JSON.parse(fs.readFileSync(lockFile, "utf8"));
    } catch (e) {
        process.stderr.write(`${kTag}: cannot read ${lockFile}: ${e.code || e.message}\n`);
        process.exit(2);
    }
    try {
        semver = createRequire(path.resolve(dir, "package.json"))("semver");
    } catch {
        process.stderr.write(`${kTag}: ${dir}: no semver in node_modules (run scripts/setup)\n`);
        process.exit(2);
    }
    const packages = lock.packages || {};
    if (!packages[""] || !packages[""].engines || !packages[""].engines.node) {
        process.stderr.write(`${kTag}: ${dir}: package.json must say engines.node\n`);
        bad++;
    }
    let checked = 0;
    for (const [where, p] of Object.entries(packages)) {
        // engines is an object in today's npm; very old packages have an array of strings.
        const range = p.engines && !Array.isArray(p.engines) ? p.engines.node : undefined;
        if (!range) continue;
        checked++;
        if (!semver.satisfies(node, range, { includePrerelease: true })) {
            const name = where === "" ? `${dir} itself` : `${where.replace(/^.*node_modules\//, "")}@${p.version}`;
            process.stderr.write(`${kTag}: ${name} needs node ${range}; this node is ${node}\n`);
            bad++;
        }
    }
    if (!bad) process.stdout.write(`${kTag}: ${dir}: ${checked} engines ranges fit node ${node}\n`);
}
process.exit(bad ? 1 : 0);
