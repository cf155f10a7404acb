/// The dashboard: one page, its script and its style, served from memory (nothing from a CDN).
/// The script draws the charts as SVG itself and writes every value with `textContent`, never as
/// HTML, so a queue name or an error message cannot inject markup.
enum DashboardPage {
    static let html = #"""
    <!doctype html>
    <html lang="en">
    <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>rpa-orchestrator</title>
    <link rel="icon" href="data:,">
    <link rel="stylesheet" href="/app.css">
    <script src="/app.js" defer></script>
    </head>
    <body>
    <header>
      <h1>rpa-orchestrator</h1>
      <span id="summary" class="muted"></span>
      <span id="updated" class="muted"></span>
      <form id="tokenform" hidden>
        <input id="token" type="password" placeholder="HTTP token for actions" autocomplete="off" aria-label="HTTP token">
        <button type="submit" id="tokensave">Use token</button>
      </form>
    </header>
    <div id="banner" class="banner" hidden></div>
    <section id="alerts" aria-label="Active alerts"></section>
    <div class="range" role="group" aria-label="Chart range">
      Charts: <button data-range="1h" class="on">1 hour</button><button data-range="24h">24 hours</button><button data-range="7d">7 days</button>
    </div>
    <section id="queues" aria-label="Queues"></section>
    <h2>Workers</h2>
    <div class="scroll"><table id="workers">
      <thead><tr><th>PID</th><th>Queue</th><th>Slot</th><th>Host</th><th>State</th><th>Job age</th><th>Jobs done</th><th>Memory (PSS)</th><th>Started</th></tr></thead>
      <tbody></tbody>
    </table></div>
    <h2>Latest events</h2>
    <ol id="events"></ol>
    <footer class="muted" id="footer"></footer>
    </body>
    </html>
    """#

    static let style = #"""
    :root { --bg: #f7f7f5; --card: #fff; --ink: #1d1d1f; --muted: #6b6b70; --line: #e2e2e0; --red: #c62828; --amber: #b26a00;
            --blue: #1565c0; --green: #2e7d32; --grey: #9e9e9e; }
    * { box-sizing: border-box; }
    body { margin: 0; padding: 12px 16px 32px; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; background: var(--bg); color: var(--ink); }
    header { display: flex; flex-wrap: wrap; align-items: baseline; gap: 8px 16px; }
    h1 { font-size: 20px; margin: 0; }
    h2 { font-size: 16px; margin: 20px 0 8px; }
    .muted { color: var(--muted); }
    .banner { margin: 10px 0; padding: 10px 12px; border-radius: 6px; background: var(--red); color: #fff; font-weight: 600; }
    .banner.warn { background: var(--amber); }
    #alerts .alert { margin: 8px 0; padding: 8px 12px; border-left: 4px solid var(--amber); background: #fff4e0; border-radius: 4px; }
    #alerts .alert.critical { border-color: var(--red); background: #fdecea; }
    .range { margin: 12px 0 6px; }
    .range button, .actions button, #tokenform button { font: inherit; padding: 3px 10px; border: 1px solid var(--line); background: var(--card); border-radius: 4px; cursor: pointer; }
    .range button.on { background: var(--ink); color: #fff; }
    #queues { display: grid; grid-template-columns: repeat(auto-fill, minmax(340px, 1fr)); gap: 12px; }
    .card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px; }
    .card.alerting { border: 2px solid var(--red); }
    .card h3 { margin: 0 0 6px; font-size: 16px; display: flex; gap: 8px; align-items: center; }
    .badge { font-size: 11px; padding: 1px 6px; border-radius: 10px; background: var(--grey); color: #fff; text-transform: uppercase; }
    .badge.paused { background: var(--amber); }
    .badge.alert, .badge.unreadable { background: var(--red); }
    .card.unreadable { border: 2px solid var(--red); }
    .card p.unreadable { margin: 4px 0; padding: 6px 8px; background: #fdecea; border-radius: 4px; overflow-wrap: anywhere; }
    .stats { display: grid; grid-template-columns: repeat(3, 1fr); gap: 4px 10px; margin: 6px 0; }
    .stats div span { display: block; font-size: 11px; color: var(--muted); }
    .stats div b { font-size: 16px; font-variant-numeric: tabular-nums; }
    svg.chart { width: 100%; height: 140px; display: block; }
    .legend { font-size: 12px; color: var(--muted); display: flex; gap: 12px; flex-wrap: wrap; }
    .legend i { display: inline-block; width: 10px; height: 3px; vertical-align: middle; margin-right: 4px; }
    .lg-pending { background: #1565c0; } .lg-workers { background: #2e7d32; } .lg-target { background: #b26a00; } .lg-scale { background: #9e9e9e; }
    .actions { margin-top: 8px; display: flex; gap: 6px; flex-wrap: wrap; }
    .scroll { overflow-x: auto; }
    table { border-collapse: collapse; width: 100%; background: var(--card); }
    th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); white-space: nowrap; font-variant-numeric: tabular-nums; }
    tr.hot td { background: #fdecea; }
    #events { list-style: none; padding: 0; margin: 0; font-family: ui-monospace, monospace; font-size: 12px; }
    #events li { padding: 3px 0; border-bottom: 1px dotted var(--line); overflow-wrap: anywhere; }
    @media (max-width: 480px) { body { padding: 8px; } .stats { grid-template-columns: repeat(2, 1fr); } #queues { grid-template-columns: 1fr; } }
    """#

    static let script = #"""
    "use strict";
    const state = { range: "1h", history: {}, loadingHistory: {}, live: {}, config: null, token: sessionStorage.getItem("rpaToken") || "", scale: {} };
    const $ = (id) => document.getElementById(id);
    function el(tag, attrs, ...children) {
      const e = document.createElement(tag);
      for (const [k, v] of Object.entries(attrs || {})) { if (k === "class") e.className = v; else e.setAttribute(k, v); }
      for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(c == null ? "" : String(c)));
      return e;
    }
    const svgNS = "http://www.w3.org/2000/svg";
    function svg(tag, attrs) { const e = document.createElementNS(svgNS, tag); for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v); return e; }
    const fmt = (n, d = 0) => n == null ? "–" : Number(n).toLocaleString("en-US", { maximumFractionDigits: d });
    function dur(s) { if (s == null) return "–"; s = Math.round(s); if (s < 60) return s + " s"; if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s"; return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min"; }
    const mb = (b) => b ? fmt(b / 1048576, 0) + " MB" : "–";
    const rangeMs = { "1h": 3600e3, "24h": 86400e3, "7d": 604800e3 };

    async function getJSON(path) {
      const r = await fetch(path, { cache: "no-store" });
      let body = null; try { body = await r.json(); } catch (e) { body = null; }
      return { status: r.status, body };
    }

    function banner(text, warn) { const b = $("banner"); b.hidden = !text; b.textContent = text || ""; b.className = warn ? "banner warn" : "banner"; }

    async function refresh() {
      let s;
      try { s = await getJSON("/api/status"); } catch (e) { banner("Dashboard server unreachable: the orchestrator is not running or the network is down"); return; }
      if (s.status === 503) { banner("Redis unreachable: " + ((s.body && s.body.error) || "no answer") + " (showing the last known state)"); return; }
      if (s.status !== 200 || !s.body) { banner("Unexpected answer from /api/status: HTTP " + s.status); return; }
      const st = s.body;
      banner(st.running ? "" : "Orchestrator not running: no orchestrator publishes its state on this prefix", true);
      const now = Date.now();
      for (const q of st.queues) {
        const live = state.live[q.queue] || (state.live[q.queue] = []);
        live.push({ t: now, pending: q.pending, workers: q.busy + q.idle + (q.draining || 0), target: q.target });
        while (live.length && live[0].t < now - rangeMs["7d"]) live.shift();
      }
      render(st);
      $("updated").textContent = "updated " + new Date().toLocaleTimeString();
    }

    function render(st) {
      const o = st.orchestrator;
      $("summary").textContent = o ? `pid ${o.pid} on ${o.host || "?"} · ${o.state} · max total ${o.max_total}` : "no orchestrator";
      const hosts = st.hosts || [];
      if (hosts.length > 1) $("summary").textContent += ` · fleet of ${hosts.length} hosts: ` + hosts.map(h => `${h.host_id} ${h.workers}/${h.capacity}`).join(", ");
      const alerting = new Set(st.alerts.map(a => a.queue));
      const box = $("alerts"); box.replaceChildren();
      for (const a of st.alerts) {
        box.append(el("div", { class: "alert " + (a.severity === "critical" ? "critical" : ""), "data-rule": a.rule },
          el("b", {}, `${a.severity.toUpperCase()} ${a.rule}${a.queue ? " " + a.queue : ""}`), " since ", new Date(a.since).toLocaleString(), ": ", a.message));
      }
      const cards = $("queues");
      const seen = new Set();
      for (const q of st.queues) {
        seen.add(q.queue);
        if (!(q.queue in state.history) && !state.loadingHistory[q.queue]) loadHistoryOf(q.queue);
        let card = cards.querySelector(`[data-queue="${CSS.escape(q.queue)}"]`);
        if (!card) { card = el("article", { class: "card", "data-queue": q.queue }); cards.append(card); }
        fillCard(card, q, alerting.has(q.queue));
      }
      for (const c of [...cards.children]) if (!seen.has(c.dataset.queue)) c.remove();
      const tbody = $("workers").tBodies[0]; tbody.replaceChildren();
      const limit = o && o.job_timeout_seconds, mem = o && o.max_worker_rss_mb ? o.max_worker_rss_mb * 1048576 : 0;
      for (const w of st.workers) {
        const hot = (limit && w.job_age_seconds != null && w.job_age_seconds > 0.8 * limit) || (mem && w.pss_bytes > 0.9 * mem);
        tbody.append(el("tr", { class: hot ? "hot" : "", "data-pid": String(w.pid) }, el("td", {}, w.pid), el("td", {}, w.queue), el("td", {}, w.slot),
          el("td", {}, w.host), el("td", {}, w.state), el("td", {}, w.job_age_seconds == null ? "–" : dur(w.job_age_seconds)),
          el("td", {}, fmt(w.jobs_done)), el("td", {}, mb(w.pss_bytes)), el("td", {}, w.started_at ? new Date(w.started_at).toLocaleTimeString() : "–")));
      }
      if (!st.workers.length) tbody.append(el("tr", {}, el("td", { colspan: "9", class: "muted" }, "no worker running")));
    }

    function fillCard(card, q, alerting) {
      const unreadable = q.readable === false;
      card.className = "card" + (alerting ? " alerting" : "") + (unreadable ? " unreadable" : "");
      const title = el("h3", {}, q.queue);
      if (unreadable) title.append(el("span", { class: "badge unreadable" }, "unreadable"));
      if (q.paused) title.append(el("span", { class: "badge paused" }, "paused"));
      if (alerting) title.append(el("span", { class: "badge alert" }, "alert"));
      const stat = (label, value, key) => el("div", { "data-stat": key }, el("span", {}, label), el("b", {}, value));
      const target = q.target == null ? "–" : fmt(q.target) + (q.limited_by ? ` (cap ${q.limited_by.replace(/_/g, "-")}, wants ${fmt(q.wanted)})` : "");
      const stats = el("div", { class: "stats" },
        stat("pending", fmt(q.pending), "pending"), stat("in flight", fmt(q.in_flight), "in_flight"), stat("waiting retry", fmt(q.retrying), "retrying"),
        stat("target", target, "target"), stat("busy / idle / draining", `${q.busy} / ${q.idle} / ${q.draining || 0}`, "workers"),
        stat("jobs/min 1m · 5m · 15m", [q.jobs_per_minute_1m, q.jobs_per_minute_5m, q.jobs_per_minute_15m].map(v => fmt(v, 1)).join(" · "), "rate"),
        stat("time to drain", dur(q.time_to_drain_seconds), "eta"), stat("done", fmt(q.jobs_done_total), "done"),
        stat("failed attempts · dead now", `${fmt(q.failed_attempts_total)} · ${fmt(q.dead_now)}`, "failed"));
      const chart = svg("svg", { class: "chart", viewBox: "0 0 400 140", preserveAspectRatio: "none", role: "img", "aria-label": `pending and workers of ${q.queue}` });
      drawChart(chart, q.queue);
      const key = (cls, text) => el("span", {}, el("i", { class: cls }), text);
      const legend = el("div", { class: "legend" }, key("lg-pending", "pending"), key("lg-workers", "workers"), key("lg-target", "target"), key("lg-scale", "scale events"));
      const parts = [title, stats, chart, legend];
      if (unreadable) parts.splice(1, 0, el("p", { class: "unreadable", "data-key": q.unreadable_key },
        `Unreadable: key ${q.unreadable_key}: ${q.unreadable_reason}. Its workers are held until the key is a list again.`));
      if (state.config && state.config.actions) {
        const actions = el("div", { class: "actions" });
        const act = (name, label) => { const b = el("button", { type: "button", "data-action": name }, label); b.addEventListener("click", () => action(q.queue, name)); return b; };
        actions.append(q.paused ? act("resume", "Resume") : act("pause", "Pause"));
        if (q.dead_now > 0) actions.append(act("requeue-dead", `Requeue ${q.dead_now} dead`));
        parts.push(actions);
      }
      card.replaceChildren(...parts);
    }

    function series(queue) {
      const from = Date.now() - rangeMs[state.range];
      const h = (state.history[queue] || []).map(s => ({ t: Number(s.minute), pending: Number(s.pending), workers: Number(s.busy) + Number(s.idle) + Number(s.draining), target: Number(s.target) }));
      const lastHistory = h.length ? h[h.length - 1].t + 60e3 : 0;
      const live = (state.live[queue] || []).filter(p => p.t >= lastHistory);
      return h.concat(live).filter(p => p.t >= from);
    }

    function drawChart(chart, queue) {
      const pts = series(queue), W = 400, H = 140, pad = 4;
      // The range, narrowed to the data when there is less of it (at least 2 minutes shown).
      const to = Date.now(), first = pts.length ? pts[0].t : to;
      const from = Math.min(to - 120e3, Math.max(to - rangeMs[state.range], first - 10e3));
      const x = t => pad + (W - 2 * pad) * (t - from) / (to - from);
      const maxP = Math.max(1, ...pts.map(p => p.pending)), maxW = Math.max(1, ...pts.map(p => Math.max(p.workers, p.target || 0)));
      const yP = v => H - pad - (H - 2 * pad) * v / maxP, yW = v => H - pad - (H - 2 * pad) * v / maxW;
      chart.append(svg("rect", { x: 0, y: 0, width: W, height: H, fill: "#fafafa" }));
      for (const e of state.scale[queue] || []) {
        if (e.t < from) continue;
        chart.append(svg("line", { x1: x(e.t), x2: x(e.t), y1: 0, y2: H, stroke: e.up ? "#2e7d32" : "#9e9e9e", "stroke-dasharray": "2,3", "class": "scale-mark" }));
      }
      const line = (key, y, color) => {
        if (pts.length < 1) return;
        const d = pts.map(p => `${x(p.t).toFixed(1)},${y(p[key] || 0).toFixed(1)}`).join(" ");
        chart.append(svg("polyline", { points: pts.length === 1 ? d + " " + d : d, fill: "none", stroke: color, "stroke-width": 1.8, "class": "series-" + key, "vector-effect": "non-scaling-stroke" }));
      };
      line("pending", yP, "#1565c0"); line("target", yW, "#b26a00"); line("workers", yW, "#2e7d32");
      const label = svg("text", { x: 6, y: 14, "font-size": 11, fill: "#6b6b70" }); label.textContent = `last ${dur((to - from) / 1000)} · pending max ${fmt(maxP)} · workers max ${fmt(maxW)}`;
      chart.append(label);
      chart.dataset.points = String(pts.length);
    }

    async function loadHistoryOf(q) {
      const points = state.range === "1h" ? "" : "&points=360";
      state.loadingHistory[q] = true;
      try {
        const r = await getJSON(`/api/history?queue=${encodeURIComponent(q)}&since=${state.range}${points}`);
        if (r.status === 200) state.history[q] = r.body;
      } catch (e) { /* shown by the status banner */ }
      state.loadingHistory[q] = false;
    }

    async function loadHistory() {
      const cards = [...document.querySelectorAll("#queues .card")].map(c => c.dataset.queue);
      for (const q of cards) await loadHistoryOf(q);
    }

    async function loadEvents() {
      try {
        const r = await getJSON(`/api/events?since=${state.range}&limit=200`);
        if (r.status !== 200) return;
        const list = $("events"); list.replaceChildren();
        state.scale = {};
        for (const e of r.body) {
          const t = Number(e.ts);
          if (e.type === "scale" && e.queue) (state.scale[e.queue] = state.scale[e.queue] || []).push({ t, up: e.direction === "up" });
        }
        for (const e of r.body.slice(0, 60)) {
          const rest = Object.entries(e).filter(([k]) => !["id", "type", "ts"].includes(k)).map(([k, v]) => `${k}=${v}`).join(" ");
          list.append(el("li", { "data-type": e.type }, new Date(Number(e.ts)).toLocaleTimeString(), "  ", el("b", {}, e.type), "  ", rest));
        }
      } catch (e) { /* shown by the status banner */ }
    }

    async function action(queue, name) {
      if (!state.token) { $("token").focus(); banner("Enter the HTTP token to use actions", true); return; }
      let r;
      try {
        r = await fetch(`/api/queues/${encodeURIComponent(queue)}/${name}`, { method: "POST", headers: { "Authorization": "Bearer " + state.token } });
      } catch (e) { banner("Action failed: the dashboard server is unreachable"); return; }
      if (r.status === 401) { state.token = ""; sessionStorage.removeItem("rpaToken"); banner("Wrong token: the action was refused (401)"); return; }
      if (r.status !== 200) { const b = await r.json().catch(() => ({})); banner(`Action refused (HTTP ${r.status}): ${b.error || ""}`); return; }
      await refresh(); await loadEvents();
    }

    async function start() {
      try { state.config = (await getJSON("/api/config")).body; } catch (e) { state.config = null; }
      if (state.config) $("footer").textContent = `rpa-orchestrator ${state.config.version} · prefix ${state.config.prefix} · ${state.config.actions ? "actions need the HTTP token" : "read-only (no HTTP token configured)"}`;
      if (state.config && state.config.actions) {
        const form = $("tokenform"); form.hidden = false;
        form.addEventListener("submit", ev => { ev.preventDefault(); state.token = $("token").value.trim(); sessionStorage.setItem("rpaToken", state.token); $("token").value = ""; banner(""); });
      }
      for (const b of document.querySelectorAll(".range button")) {
        b.addEventListener("click", async () => {
          state.range = b.dataset.range;
          for (const o of document.querySelectorAll(".range button")) o.classList.toggle("on", o === b);
          await loadHistory(); await loadEvents(); await refresh();
        });
      }
      await refresh(); await loadHistory(); await loadEvents(); await refresh();
      setInterval(refresh, 1500);
      setInterval(loadEvents, 3000);
      setInterval(loadHistory, 60000);
    }
    start();
    """#
}
