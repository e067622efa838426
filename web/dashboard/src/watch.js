// The watch page: plays a catalog title through the control plane's steering with a real web
// player (hls.js, dash.js or Shaka Player, each served by the control plane beside this page),
// and shows live which edge and bitrate it plays from. Its state is also in window.vcdnWatch,
// for people with a console and for the browser tests (tests/integration/control/player_check.mjs).
// Strings from manifests and players reach the page through textContent only.
(function () {
    "use strict";

    const W = globalThis.VcdnWatchModel;
    const $ = (id) => document.getElementById(id);
    const video = $("video");
    const o = W.options(location.search);
    const state = {
        player: o.player,
        src: W.manifestUrl(o, location.href),
        state: "idle",
        time: 0,
        duration: 0,
        buffered: 0,
        bitrate: 0,
        edge: "",
        host: "",
        hosts: {},  // segment and playlist requests per host
        edges: {},  // ... per location id, where the manifest names one
        errors: [], // {fatal, text, at}
        fatal: false,
        locations: {},
        started: false,
    };
    globalThis.vcdnWatch = state;
    let engine = null; // the player object

    function log(text, fatal) {
        state.errors.push({ fatal: !!fatal, text, at: Number(video.currentTime.toFixed(2)) });
        if (state.errors.length > 200) state.errors.shift();
        const li = document.createElement("li");
        li.textContent = `${video.currentTime.toFixed(1)} s ${fatal ? "FATAL " : ""}${text}`;
        if (fatal) li.className = "fatal";
        const list = $("log");
        list.prepend(li);
        while (list.children.length > 30) list.lastChild.remove();
    }

    function fail(text) {
        state.fatal = true;
        state.state = "failed";
        log(text, true);
    }

    function onPlayerError(e) {
        const fatal = W.isFatal(o.player, e);
        if (fatal) fail(W.describeError(o.player, e));
        else log(W.describeError(o.player, e), false);
    }

    // Every request the page makes (manifests, segments) is a resource entry: count them by
    // host, and the newest media request tells which edge the player is on.
    function watchRequests() {
        if (typeof PerformanceObserver !== "function") return;
        const obs = new PerformanceObserver((list) => {
            for (const e of list.getEntries()) {
                let u;
                try {
                    u = new URL(e.name);
                } catch {
                    continue;
                }
                if (u.origin === location.origin) continue; // the page, players and steering
                state.hosts[u.host] = (state.hosts[u.host] || 0) + 1;
                const id = state.locations[u.host] || u.host;
                state.edges[id] = (state.edges[id] || 0) + 1;
                state.host = u.host;
                state.edge = id;
            }
        });
        obs.observe({ type: "resource", buffered: true });
    }

    function loadScript(name) {
        return new Promise((resolve, reject) => {
            const s = document.createElement("script");
            s.src = `watch/${name}.js`;
            s.onload = resolve;
            s.onerror = () => reject(new Error(`cannot load watch/${name}.js`));
            document.head.append(s);
        });
    }

    async function start() {
        if (!state.src) {
            $("status").textContent = "choose a title";
            return;
        }
        state.state = "loading";
        $("manifest").textContent = state.src;
        // The manifest once for the page itself: which host is which location.
        try {
            const r = await fetch(state.src, { cache: "no-store" });
            if (!r.ok) {
                let why = `${r.status}`;
                try {
                    const j = await r.json();
                    if (j && j.error) why = `${j.error.status} ${j.error.code}: ${j.error.message}`;
                } catch {
                    // not JSON: the status says enough
                }
                fail(`manifest: ${why}`);
                return;
            }
            state.locations = W.locationsByHost(await r.text());
        } catch (e) {
            fail(`manifest: ${e.message}`);
            return;
        }
        const buf = o.buffer;
        if (o.player === "hls") {
            await loadScript("hls");
            const Hls = globalThis.Hls;
            if (!Hls.isSupported()) return fail("hls.js: this browser has no Media Source Extensions");
            engine = new Hls(buf ? { maxBufferLength: buf, maxMaxBufferLength: buf * 2 } : {});
            engine.on(Hls.Events.ERROR, (_, d) => onPlayerError(d));
            engine.loadSource(state.src);
            engine.attachMedia(video);
        } else if (o.player === "dash") {
            await loadScript("dash");
            engine = globalThis.dashjs.MediaPlayer().create();
            if (buf)
                engine.updateSettings({ streaming: { buffer: {
                    bufferTimeAtTopQuality: buf, bufferTimeAtTopQualityLongForm: buf, stableBufferTime: buf } } });
            engine.on(globalThis.dashjs.MediaPlayer.events.ERROR, (e) => onPlayerError(e.error || e));
            engine.initialize(video, state.src, true);
        } else {
            await loadScript("shaka");
            const shaka = globalThis.shaka;
            shaka.polyfill.installAll();
            if (!shaka.Player.isBrowserSupported()) return fail("Shaka: this browser is not supported");
            engine = new shaka.Player();
            await engine.attach(video);
            if (buf) engine.configure({ streaming: { bufferingGoal: buf, rebufferingGoal: Math.min(2, buf) } });
            engine.addEventListener("error", (e) => onPlayerError(e.detail));
            try {
                await engine.load(state.src);
            } catch (e) {
                onPlayerError(e);
            }
        }
        video.play().catch((e) => log(`play(): ${e.message}`, false));
    }

    function bitrate() {
        try {
            if (o.player === "hls" && engine && engine.currentLevel >= 0)
                return engine.levels[engine.currentLevel].bitrate;
            if (o.player === "dash" && engine) {
                const r = engine.getCurrentRepresentationForType("video");
                return r ? r.bandwidth : 0;
            }
            if (o.player === "shaka" && engine) return engine.getStats().streamBandwidth;
        } catch {
            // a player between streams: nothing to show this time
        }
        return 0;
    }

    function refresh() {
        state.time = video.currentTime;
        state.duration = Number.isFinite(video.duration) ? video.duration : 0;
        const b = video.buffered;
        state.buffered = b.length ? Math.max(0, b.end(b.length - 1) - video.currentTime) : 0;
        state.bitrate = bitrate() || 0;
        if (!state.fatal && state.started && state.state !== "ended")
            state.state = video.paused ? "paused" : "playing";
        $("status").textContent = state.state;
        $("time").textContent = `${state.time.toFixed(1)} / ${state.duration.toFixed(1)} s (buffer ${state.buffered.toFixed(1)} s)`;
        $("edge").textContent = state.edge ? `${state.edge}${state.edge !== state.host ? ` (${state.host})` : ""}` : "—";
        $("bitrate").textContent = W.fmtKbps(state.bitrate);
        const rows = Object.keys(state.edges).sort().map((k) => `${k}: ${state.edges[k]}`);
        $("edges").textContent = rows.join("   ") || "—";
    }

    video.addEventListener("playing", () => {
        state.started = true;
    });
    video.addEventListener("ended", () => {
        state.state = "ended";
    });
    video.addEventListener("error", () => {
        const err = video.error;
        fail(`video element: ${err ? `code ${err.code} ${err.message || ""}` : "error"}`);
    });

    // A blocked script, request or worker is a bug of this page's own: it fails the playback.
    document.addEventListener("securitypolicyviolation", (e) => {
        fail(`content security policy blocked ${e.violatedDirective}: ${e.blockedURI || "inline"}`);
    });

    // The form: a new title or player reloads the page with it.
    $("title-input").value = o.title;
    $("player-input").value = o.player;
    $("choose").addEventListener("submit", (ev) => {
        ev.preventDefault();
        const q = new URLSearchParams(location.search);
        q.set("title", $("title-input").value.trim());
        q.set("player", $("player-input").value);
        q.delete("src");
        q.delete("format");
        location.search = q.toString();
    });
    $("player-name").textContent = o.player;

    watchRequests();
    setInterval(refresh, 500);
    start().catch((e) => fail(`start: ${e.message}`));
})();
