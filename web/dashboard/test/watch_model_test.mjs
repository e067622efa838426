// Unit tests of the watch page's pure functions: node --test web/dashboard/test/
import assert from "node:assert/strict";
import { test } from "node:test";

await import("../src/watch_model.js");
const W = globalThis.VcdnWatchModel;

test("reads the page's options, falling back on anything malformed", () => {
    assert.deepEqual(W.options("?player=dash&title=12&buffer=4"),
                     { player: "dash", format: "mpd", title: "12", src: "", session: "", buffer: 4 });
    const o = W.options("?player=evil&title=1%3Cscript&buffer=1e9&src=javascript:alert(1)");
    assert.equal(o.player, "hls");
    assert.equal(o.format, "m3u8");
    assert.equal(o.title, "");
    assert.equal(o.buffer, 0);
    assert.equal(o.src, "");
    assert.equal(W.options("?player=shaka").format, "mpd");
    assert.equal(W.options("?player=shaka&format=m3u8").format, "m3u8");
    assert.equal(W.options("?player=hls&format=mpd").format, "m3u8");
    assert.equal(W.options("?title=0").title, "");
    assert.equal(W.options("").player, "hls");
});

test("plays the control plane's manifest for a title, or the source it is given", () => {
    const page = "http://ctl.example:8070/watch?title=3";
    assert.equal(W.manifestUrl(W.options("?title=3&player=hls"), page), "http://ctl.example:8070/api/v1/play/3.m3u8");
    assert.equal(W.manifestUrl(W.options("?title=3&player=dash&session=a b"), page),
                 "http://ctl.example:8070/api/v1/play/3.mpd?session=a+b");
    assert.equal(W.manifestUrl(W.options("?src=https://edge.example/vt=x/t/1/m.mpd"), page),
                 "https://edge.example/vt=x/t/1/m.mpd");
    assert.equal(W.manifestUrl(W.options(""), page), "");
});

test("maps hosts to locations from a steered manifest", () => {
    const hls = [
        "#EXTM3U",
        '#EXT-X-CONTENT-STEERING:SERVER-URI="http://ctl/s",PATHWAY-ID="a1"',
        '#EXT-X-STREAM-INF:BANDWIDTH=1,PATHWAY-ID="a1",STABLE-VARIANT-ID="v0"',
        "http://127.0.0.11:9001/vt=t/t/1/m0.m3u8",
        '#EXT-X-STREAM-INF:BANDWIDTH=1,PATHWAY-ID="origin",STABLE-VARIANT-ID="v0"',
        "http://127.0.0.1:9000/t/1/m0.m3u8",
    ].join("\r\n");
    assert.deepEqual(W.locationsByHost(hls), { "127.0.0.11:9001": "a1", "127.0.0.1:9000": "origin" });
    const mpd = '<Representation><BaseURL serviceLocation="a2">http://127.0.0.12:9002/vt=t/t/1/r0.mp4?a=1&amp;b=2</BaseURL>' +
                '<BaseURL serviceLocation="x">not a url</BaseURL></Representation>';
    assert.deepEqual(W.locationsByHost(mpd), { "127.0.0.12:9002": "a2" });
    assert.deepEqual(W.locationsByHost(null), {});
});

test("tells fatal player errors from those a player rides through", () => {
    assert.equal(W.isFatal("hls", { fatal: false, details: "fragLoadError" }), false);
    assert.equal(W.isFatal("hls", { fatal: true, details: "manifestLoadError" }), true);
    assert.equal(W.isFatal("shaka", { severity: 1, code: 1001 }), false);
    assert.equal(W.isFatal("shaka", { severity: 2, code: 4000 }), true);
    assert.equal(W.isFatal("dash", { code: 27, message: "x is not available" }), false);
    assert.equal(W.isFatal("dash", { code: 28 }), false);
    assert.equal(W.isFatal("dash", { code: null, message: "http://ctl/api/v1/play/1/steering?kind=dash is not available" }), false);
    assert.equal(W.isFatal("dash", { code: 25, message: "manifest" }), true);
    assert.equal(W.isFatal("dash", undefined), true);
    assert.equal(W.describeError("hls", { type: "networkError", details: "fragLoadError" }), "networkError: fragLoadError");
    assert.ok(W.describeError("dash", { code: 27, message: "x".repeat(500) }).length <= 200);
    assert.equal(W.fmtKbps(850419), "850 kbit/s");
    assert.equal(W.fmtKbps(0), "—");
});
