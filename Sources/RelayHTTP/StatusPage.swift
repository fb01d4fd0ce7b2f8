// StatusPage: GET /status, the live status page. A shell with no data in it: the page reads
// /status.json once, then /status/stream (EventSource), with the credential from its own URL:
// /status#token=<status token> (the fragment never leaves the browser) or /status?token=<status
// token>. Secret keys are not accepted in URLs: use /status.json with an Authorization header.
// Everything is inline (no external script, style or font); the charts are drawn on <canvas>
// by the page itself and keep the last five minutes seen by this page.
// Only the charts use colour (the rest is greyscale): scripted checks count coloured pixels.
// ?samples=N closes the stream after N updates (scripted checks: headless --dump-dom waits for
// the network to go idle).
enum StatusPage {
    static let html = #"""
    <!doctype html>
    <html lang="en">
    <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>relay status</title>
    <style>
      body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #222; background: #fff; }
      h1 { font-size: 20px; margin: 0 0 .3rem; }
      #summary, #footer { color: #555; font-size: 13px; }
      #message { color: #000; font-weight: 600; margin: .5rem 0; min-height: 1.2em; }
      #table { overflow-x: auto; margin: .8rem 0 1.2rem; }
      table { border-collapse: collapse; font-size: 13px; font-variant-numeric: tabular-nums; }
      th, td { padding: .25rem .45rem; border-bottom: 1px solid #ddd; text-align: right; white-space: nowrap; }
      th:first-child, td:first-child { text-align: left; }
      th { font-weight: 600; color: #444; background: #f4f4f4; }
      tr.draining td { color: #888; font-style: italic; }
      #charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(360px, 1fr)); gap: 1rem; }
      figure { margin: 0; border: 1px solid #ddd; padding: .4rem; }
      figcaption { font-size: 13px; color: #333; margin-bottom: .2rem; }
      canvas { width: 100%; height: 150px; display: block; }
    </style>
    </head>
    <body>
    <h1>relay status</h1>
    <div id="summary">connecting…</div>
    <div id="message"></div>
    <div id="table"><table id="nodes">
      <thead><tr>
        <th>Node</th><th>State</th><th>Version</th><th>Uptime</th><th>Connections</th><th>Subscribers</th>
        <th>Channels</th><th>Appends/s</th><th>Deliveries/s</th><th>Pub/sub p99 ms</th><th>Redis PING ms</th><th>Seen</th>
      </tr></thead>
      <tbody></tbody>
    </table></div>
    <div id="charts"></div>
    <p id="footer"></p>
    <script>
    "use strict";
    (function () {
      var query = new URLSearchParams(location.search);
      var fragment = new URLSearchParams(location.hash.replace(/^#/, ""));
      var token = query.get("token") || fragment.get("token") || "";
      var stopAfter = parseInt(query.get("samples") || "0", 10) || 0;
      var WINDOW_MS = 5 * 60 * 1000;
      var FIGURES = [
        ["connections", "HTTP connections", ""],
        ["subscribers", "SSE subscribers", ""],
        ["channels", "Channels subscribed", ""],
        ["appendsPerSec", "Appends per second", ""],
        ["deliveriesPerSec", "Deliveries per second", ""],
        ["pubsubP99Ms", "Pub/sub probe p99 (last minute)", "ms"],
        ["redisPingMs", "Redis PING round trip", "ms"]
      ];
      var PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#17becf", "#e377c2", "#8c564b", "#bcbd22"];
      // Maps without a prototype: a node may be named "__proto__" or "constructor".
      var history = Object.create(null);      // node -> [{t, beat}]
      var colours = Object.create(null);      // node -> colour
      var samples = 0;
      var source = null;

      function el(tag, text) { var e = document.createElement(tag); if (text !== undefined) e.textContent = text; return e; }
      function num(v, digits) {
        if (v === null || v === undefined) return "–";
        return digits ? Number(v).toFixed(digits) : String(v);
      }
      function duration(s) {
        if (s < 120) return s + " s";
        if (s < 7200) return Math.floor(s / 60) + " min";
        if (s < 172800) return Math.floor(s / 3600) + " h";
        return Math.floor(s / 86400) + " d";
      }
      function say(text) { document.getElementById("message").textContent = text || ""; }

      var charts = {};
      FIGURES.forEach(function (f) {
        var figure = el("figure");
        figure.appendChild(el("figcaption", f[1] + (f[2] ? " (" + f[2] + ")" : "")));
        var canvas = el("canvas");
        canvas.setAttribute("data-figure", f[0]);
        figure.appendChild(canvas);
        document.getElementById("charts").appendChild(figure);
        charts[f[0]] = canvas;
      });

      function colourOf(node) {
        if (!colours[node]) colours[node] = PALETTE[Object.keys(colours).length % PALETTE.length];
        return colours[node];
      }

      function take(snapshot) {
        var now = snapshot.now;
        (snapshot.nodes || []).forEach(function (beat) {
          var list = history[beat.node] || (history[beat.node] = []);
          var last = list[list.length - 1];
          if (last && last.beat.at === beat.at) return;
          list.push({ t: beat.at || now, beat: beat });
        });
        Object.keys(history).forEach(function (node) {
          history[node] = history[node].filter(function (p) { return p.t >= now - WINDOW_MS; });
          if (!history[node].length) delete history[node];
        });
        samples += 1;
        renderTable(snapshot);
        renderCharts(now);
        say(snapshot.error || "");
        document.getElementById("footer").textContent = "served by " + snapshot.servedBy + " · heartbeat TTL " +
          snapshot.ttlSeconds + " s · updated " + new Date(now).toLocaleTimeString() + " · " + samples + " updates";
        document.body.setAttribute("data-samples", String(samples));
        if (stopAfter && samples >= stopAfter && source) { source.close(); source = null; }
      }

      function renderTable(snapshot) {
        var body = document.querySelector("#nodes tbody");
        while (body.firstChild) body.removeChild(body.firstChild);
        var nodes = (snapshot.nodes || []).slice().sort(function (a, b) { return a.node < b.node ? -1 : 1; });
        var subscribers = 0, appends = 0;
        nodes.forEach(function (b) {
          colourOf(b.node);
          subscribers += b.subscribers || 0;
          appends += b.appendsPerSec || 0;
          var row = el("tr");
          if (b.draining) row.className = "draining";
          [b.node, b.draining ? "draining" : "live", b.version, duration(b.uptimeSeconds || 0), num(b.connections),
           num(b.subscribers), num(b.channels), num(b.appendsPerSec, 1), num(b.deliveriesPerSec, 1),
           num(b.pubsubP99Ms, 2), num(b.redisPingMs, 2),
           Math.max(0, Math.round((snapshot.now - b.at) / 1000)) + " s ago"].forEach(function (v) {
            row.appendChild(el("td", v));
          });
          body.appendChild(row);
        });
        document.getElementById("summary").textContent = nodes.length + (nodes.length === 1 ? " node" : " nodes") +
          " · " + subscribers + " subscribers · " + appends.toFixed(1) + " appends/s";
      }

      function renderCharts(now) {
        var nodes = Object.keys(history).sort();
        var coloured = 0;
        // The x axis spans what this page has seen: one minute at first, up to five.
        var oldest = now;
        nodes.forEach(function (n) { if (history[n].length && history[n][0].t < oldest) oldest = history[n][0].t; });
        var span = Math.min(WINDOW_MS, Math.max(60000, now - oldest));
        var spanLabel = span >= 120000 ? "−" + Math.round(span / 60000) + " min" : "−" + Math.round(span / 1000) + " s";
        FIGURES.forEach(function (f) {
          var canvas = charts[f[0]];
          var ratio = window.devicePixelRatio || 1;
          var w = Math.max(200, canvas.clientWidth || 360), h = canvas.clientHeight || 150;
          canvas.width = Math.round(w * ratio); canvas.height = Math.round(h * ratio);
          var g = canvas.getContext("2d");
          g.setTransform(ratio, 0, 0, ratio, 0, 0);
          g.clearRect(0, 0, w, h);
          var left = 44, right = w - 8, top = 8, bottom = h - 18;
          var max = 0;
          nodes.forEach(function (n) { history[n].forEach(function (p) { var v = p.beat[f[0]]; if (typeof v === "number" && v > max) max = v; }); });
          max = max <= 0 ? 1 : max * 1.15;
          g.strokeStyle = "#ddd"; g.fillStyle = "#666"; g.lineWidth = 1; g.font = "11px system-ui, sans-serif";
          for (var i = 0; i <= 4; i++) {
            var gy = bottom - (bottom - top) * i / 4;
            g.beginPath(); g.moveTo(left, gy + .5); g.lineTo(right, gy + .5); g.stroke();
            var label = max * i / 4;
            g.fillText(label >= 10 ? String(Math.round(label)) : label.toFixed(label >= 1 ? 1 : 2), 2, gy + 4);
          }
          g.fillText(spanLabel, left, h - 4);
          g.fillText("now", right - 22, h - 4);
          function x(t) { return right - (now - t) / span * (right - left); }
          function y(v) { return bottom - v / max * (bottom - top); }
          nodes.forEach(function (n, index) {
            var points = history[n].filter(function (p) { return typeof p.beat[f[0]] === "number"; });
            if (!points.length) return;
            g.strokeStyle = g.fillStyle = colourOf(n); g.lineWidth = 2;
            g.beginPath();
            points.forEach(function (p, k) { var px = x(p.t), py = y(p.beat[f[0]]); if (k) g.lineTo(px, py); else g.moveTo(px, py); });
            g.stroke();
            var lastPoint = points[points.length - 1];
            g.beginPath(); g.arc(x(lastPoint.t), y(lastPoint.beat[f[0]]), 3, 0, 2 * Math.PI); g.fill();
            g.fillText(n, left + 6 + (index % 3) * 100, top + 12 + Math.floor(index / 3) * 12);
          });
          // Coloured pixels drawn (scripted checks read this from the DOM).
          var data = g.getImageData(0, 0, canvas.width, canvas.height).data;
          for (var j = 0; j < data.length; j += 4) {
            var hi = Math.max(data[j], data[j + 1], data[j + 2]), lo = Math.min(data[j], data[j + 1], data[j + 2]);
            if (data[j + 3] > 128 && hi - lo > 40) coloured += 1;
          }
        });
        document.body.setAttribute("data-coloured-pixels", String(coloured));
      }

      function connect() {
        if (stopAfter && samples >= stopAfter) return;
        source = new EventSource("/status/stream" + (token ? "?token=" + encodeURIComponent(token) : ""));
        source.onmessage = function (event) {
          try { take(JSON.parse(event.data)); } catch (e) { say("bad update: " + e); }
        };
        source.onerror = function () { if (source && source.readyState !== EventSource.OPEN) say("stream interrupted; reconnecting…"); };
      }

      var headers = token ? { "Authorization": "Bearer " + token } : {};
      fetch("/status.json", { headers: headers, cache: "no-store" }).then(function (response) {
        if (response.status === 401) {
          say("Not authorized: open this page as /status#token=<status token> (the relay's statusToken).");
          document.getElementById("summary").textContent = "no data";
          return;
        }
        if (!response.ok) { say("status.json answered " + response.status + "; trying the stream"); connect(); return; }
        return response.json().then(function (snapshot) { take(snapshot); connect(); });
      }).catch(function (e) { say("cannot reach the relay: " + e); connect(); });
    })();
    </script>
    </body>
    </html>
    """#
}
