// Pure functions of the watch page (watch.js): what to load, where each location of a steered
// manifest lives, and which player errors are fatal. No DOM, so node's test runner loads this
// file (test/watch_model_test.mjs) as the browser does: a classic script that publishes one
// object, globalThis.VcdnWatchModel.
(function () {
    "use strict";

    const kPlayers = ["hls", "dash", "shaka"];

    // The page's query string as options; anything unknown or malformed falls back to a default.
    //   title=N  player=hls|dash|shaka  format=m3u8|mpd  src=URL  buffer=S  session=TOKEN
    function options(search) {
        const q = new URLSearchParams(search || "");
        const player = kPlayers.includes(q.get("player")) ? q.get("player") : "hls";
        let format = q.get("format");
        if (format !== "m3u8" && format !== "mpd") format = player === "hls" ? "m3u8" : "mpd";
        if (player === "hls") format = "m3u8";
        if (player === "dash") format = "mpd";
        const title = /^[1-9][0-9]{0,9}$/.test(q.get("title") || "") ? q.get("title") : "";
        const buffer = Number(q.get("buffer"));
        let src = q.get("src") || "";
        if (src && !/^https?:\/\//i.test(src)) src = "";
        return {
            player,
            format,
            title,
            src,
            session: q.get("session") || "",
            buffer: Number.isFinite(buffer) && buffer >= 1 && buffer <= 600 ? buffer : 0,
        };
    }

    // The manifest a page with these options plays: `src` as given, or the control plane's
    // generated manifest for the title (relative to the page, which the control plane serves).
    function manifestUrl(o, pageUrl) {
        if (o.src) return o.src;
        if (!o.title) return "";
        const u = new URL(`api/v1/play/${o.title}.${o.format}`, pageUrl);
        if (o.session) u.searchParams.set("session", o.session);
        return u.toString();
    }

    // host ("127.0.0.1:8080") -> location id, from a steered manifest's text: HLS Pathways
    // (PATHWAY-ID with the variant's URI) and DASH service locations (BaseURL@serviceLocation).
    function locationsByHost(text) {
        const out = {};
        const hostOf = (url) => {
            try {
                return new URL(url).host;
            } catch {
                return "";
            }
        };
        const s = typeof text === "string" ? text : "";
        const lines = s.split(/\r?\n/);
        for (let i = 0; i < lines.length; i++) {
            const m = /^#EXT-X-STREAM-INF:.*PATHWAY-ID="([^"]+)"/.exec(lines[i]);
            if (m && i + 1 < lines.length) {
                const h = hostOf(lines[i + 1].trim());
                if (h && !(h in out)) out[h] = m[1];
            }
        }
        const re = /<BaseURL[^>]*serviceLocation="([^"]+)"[^>]*>([^<]+)<\/BaseURL>/g;
        let b;
        while ((b = re.exec(s)) !== null) {
            const h = hostOf(b[2].replace(/&amp;/g, "&").trim());
            if (h && !(h in out)) out[h] = b[1];
        }
        return out;
    }

    // Whether a player's error ends playback. hls.js and Shaka say so themselves; dash.js
    // reports every failed download as an error and goes on with the next location, so its
    // download errors (content, initialization, a steering server that did not answer) are not.
    function isFatal(player, e) {
        if (!e || typeof e !== "object") return true;
        if (player === "hls") return e.fatal === true;
        if (player === "shaka") return e.severity === 2;
        if (player === "dash") {
            const code = e.code;
            if (code === 27 || code === 28) return false; // DOWNLOAD_ERROR_ID_CONTENT / _INITIALIZATION
            if ((code === null || code === undefined) && /steering/i.test(String(e.message || "")))
                return false;
            return true;
        }
        return true;
    }

    // A one-line description of a player's error, at most 200 characters.
    function describeError(player, e) {
        let s;
        if (!e || typeof e !== "object") s = String(e);
        else if (player === "hls") s = `${e.type || "error"}: ${e.details || ""}`;
        else if (player === "shaka") s = `shaka ${e.code} (category ${e.category}, severity ${e.severity})`;
        else s = `dash.js ${e.code}: ${e.message || ""}`;
        return s.length > 200 ? s.slice(0, 197) + "..." : s;
    }

    function fmtKbps(bps) {
        return typeof bps === "number" && Number.isFinite(bps) && bps > 0
            ? `${Math.round(bps / 1000)} kbit/s` : "—";
    }

    globalThis.VcdnWatchModel = { options, manifestUrl, locationsByHost, isFatal, describeError, fmtKbps, kPlayers };
})();
