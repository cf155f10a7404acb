/// The page's script, first and last parts: shared state and helpers, the status refresh (queue
/// cards, alerts with since-when, hosts, workers), events, queue actions, and the start-up.
/// Text from Redis (queue names, payloads, errors, messages) goes through `el`/`textContent` and
/// `visible` (control characters shown as symbols), never through HTML parsing.
enum DashboardScript {
    static let core = #"""
    "use strict";
    const state = { range: "1h", history: {}, loadingHistory: {}, live: {}, config: null, token: sessionStorage.getItem("rpaToken") || "", scale: {},
                    queues: [], hover: null, dead: {}, deadRaw: {}, deadLimit: {}, panel: null };
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
    const enc = encodeURIComponent;
    // Text as it will be shown: control characters as their Unicode symbols (ESC as ␛, NUL as ␀),
    // bidi overrides as <U+202E>, so an error or payload cannot hide or reorder what is around it.
    function visible(s) {
      return String(s == null ? "" : s).replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, c => {
        const n = c.charCodeAt(0);
        if (n < 0x20) return String.fromCharCode(0x2400 + n);
        if (n === 0x7f) return "\u2421";
        return "<U+" + n.toString(16).toUpperCase().padStart(4, "0") + ">";
      });
    }
    function firstLine(s, max = 160) { const line = visible(String(s == null ? "" : s).split("\n")[0]); return line.length > max ? line.slice(0, max) + "…" : line; }
    function when(iso) { const d = new Date(iso); return iso && !isNaN(d) ? d.toLocaleString() : visible(iso || "–"); }

    // The token, once typed, goes with every read too: dead letters and job records need it.
    function authHeaders() { return state.token ? { "Authorization": "Bearer " + state.token } : {}; }
    // The server has a token and none was typed yet: reads of payloads (dead letters, job
    // records) would get 401, so the page asks for the token instead of fetching.
    function tokenMissing() { return !!(state.config && state.config.actions && !state.token); }

    async function getJSON(path) {
      const r = await fetch(path, { cache: "no-store", headers: authHeaders() });
      let body = null; try { body = await r.json(); } catch (e) { body = null; }
      return { status: r.status, body };
    }

    function banner(text, warn) { const b = $("banner"); b.hidden = !text; b.textContent = text || ""; b.className = warn ? "banner warn" : "banner"; }
    let noticeTimer = 0;
    function notice(text) { const n = $("notice"); n.textContent = text; n.hidden = false; clearTimeout(noticeTimer); noticeTimer = setTimeout(() => { n.hidden = true; }, 6000); }

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
      state.queues = st.queues;
      render(st);
      $("updated").textContent = "updated " + new Date().toLocaleTimeString();
      if (state.panel) refreshPanel();
    }

    function render(st) {
      const o = st.orchestrator;
      $("summary").textContent = o ? `pid ${o.pid} on ${o.host || "?"} · ${o.state} · max total ${o.max_total}` : "no orchestrator";
      const hosts = st.hosts || [];
      if (hosts.length > 1) $("summary").textContent += ` · fleet of ${hosts.length} hosts`;
      renderAlerts(st.alerts);
      const alerting = new Set(st.alerts.map(a => a.queue));
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
      renderHosts(st);
      renderWorkers(st);
    }

    function renderAlerts(alerts) {
      const box = $("alerts"); box.replaceChildren();
      for (const a of alerts) {
        const since = new Date(a.since), age = isNaN(since) ? "" : ` (for ${dur(Math.max(0, Date.now() - since) / 1000)})`;
        box.append(el("div", { class: "alert " + (a.severity === "critical" ? "critical" : ""), "data-rule": a.rule, "data-since": a.since || "" },
          el("b", {}, `${String(a.severity).toUpperCase()} ${a.rule}${a.queue ? " " + a.queue : ""}`), " since ", when(a.since), age, ": ", visible(a.message)));
      }
      if (!alerts.length) box.append(el("p", { class: "muted none" }, "No active alert."));
    }

    // The fleet's hosts (status `hosts`); a lone orchestrator that is not in a fleet is shown as one host.
    function renderHosts(st) {
      const o = st.orchestrator;
      let hosts = st.hosts || [];
      if (!hosts.length && o) {
        const per = {};
        for (const w of st.workers) per[w.queue] = (per[w.queue] || 0) + 1;
        hosts = [{ host_id: o.host || "this host", machine: o.host || "", state: o.state, capacity: o.max_total, workers: st.workers.length, workers_per_queue: per, last_seen_seconds: null }];
      }
      const tbody = $("hosts").tBodies[0]; tbody.replaceChildren();
      for (const h of hosts) {
        const per = Object.entries(h.workers_per_queue || {}).filter(([, n]) => n > 0).sort().map(([q, n]) => `${q} ${n}`).join(", ") || "–";
        const cap = el("td", { "data-stat": "capacity" }, el("meter", { min: 0, max: Math.max(1, h.capacity || 0), value: h.workers || 0 }), `${fmt(h.workers)} / ${fmt(h.capacity)}`);
        tbody.append(el("tr", { "data-host": h.host_id }, el("td", {}, h.host_id), el("td", {}, h.machine || "–"), el("td", {}, h.state || "–"), cap,
          el("td", {}, per), el("td", {}, h.last_seen_seconds == null ? "this orchestrator" : fmt(h.last_seen_seconds, 1) + " s ago")));
      }
      if (!hosts.length) tbody.append(el("tr", {}, el("td", { colspan: "6", class: "muted" }, "no orchestrator running")));
    }

    function renderWorkers(st) {
      const o = st.orchestrator;
      const tbody = $("workers").tBodies[0]; tbody.replaceChildren();
      const limit = o && o.job_timeout_seconds, mem = o && o.max_worker_rss_mb ? o.max_worker_rss_mb * 1048576 : 0;
      for (const w of st.workers) {
        const hot = (limit && w.job_age_seconds != null && w.job_age_seconds > 0.8 * limit) || (mem && w.pss_bytes > 0.9 * mem);
        tbody.append(el("tr", { class: hot ? "hot" : "", "data-pid": String(w.pid), "data-queue": w.queue }, el("td", {}, w.pid), el("td", {}, w.queue), el("td", {}, w.slot),
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
      const width = Math.round(card.clientWidth - 26) || 400;
      const chart = svg("svg", { class: "chart", role: "img", "aria-label": `pending and workers of ${q.queue}` });
      const readout = el("div", { class: "readout", "data-queue": q.queue });
      drawChart(chart, readout, q.queue, width);
      const key = (cls, text) => el("span", {}, el("i", { class: cls }), text);
      const legend = el("div", { class: "legend" }, key("lg-pending", "pending (left axis)"), key("lg-workers", "workers"), key("lg-target", "target (right axis)"), key("lg-scale", "scale events"));
      const parts = [title, stats, chart, readout, legend];
      if (unreadable) parts.splice(1, 0, el("p", { class: "unreadable", "data-key": q.unreadable_key },
        `Unreadable: key ${q.unreadable_key}: ${q.unreadable_reason}. Its workers are held until the key is a list again.`));
      if (state.config && state.config.actions) {
        const actions = el("div", { class: "actions" });
        const act = (name, label) => { const b = el("button", { type: "button", "data-action": name }, label); b.addEventListener("click", () => queueAction(q.queue, name)); return b; };
        actions.append(q.paused ? act("resume", "Resume") : act("pause", "Pause"));
        if (q.dead_now > 0) actions.append(act("requeue-dead", `Requeue ${q.dead_now} dead`));
        if (q.retrying > 0) actions.append(act("retry-now", `Retry ${q.retrying} now`));
        parts.push(actions);
      }
      card.replaceChildren(...parts);
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
          const rest = Object.entries(e).filter(([k]) => !["id", "type", "ts"].includes(k)).map(([k, v]) => `${k}=${visible(v)}`).join(" ");
          list.append(el("li", { "data-type": e.type }, new Date(Number(e.ts)).toLocaleTimeString(), "  ", el("b", {}, e.type), "  ", rest));
        }
      } catch (e) { /* shown by the status banner */ }
    }

    // POSTs an action with the token; the answer's body, or null after saying why in the banner.
    async function post(path) {
      if (!state.token) { $("token").focus(); banner("Enter the HTTP token to use actions", true); return null; }
      let r;
      try {
        r = await fetch(path, { method: "POST", headers: { "Authorization": "Bearer " + state.token } });
      } catch (e) { banner("Action failed: the dashboard server is unreachable"); return null; }
      if (r.status === 401) { state.token = ""; sessionStorage.removeItem("rpaToken"); banner("Wrong token: the action was refused (401)"); return null; }
      const body = await r.json().catch(() => ({}));
      if (r.status !== 200) { banner(`Action refused (HTTP ${r.status}): ${visible(body.error || "")}`); return null; }
      return body;
    }

    async function queueAction(queue, name) {
      const body = await post(`/api/queues/${encodeURIComponent(queue)}/${name}`);
      if (!body) return;
      if (name === "retry-now") notice(`${queue}: ${fmt(body.promoted)} waiting retries moved to the front of the queue`);
      if (name === "requeue-dead") notice(`${queue}: ${fmt(body.requeued)} dead letters requeued`);
      await refresh(); await loadEvents(); await loadDead();
    }
    """#

    static let boot = #"""
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
      startDeadLetters();
      await refresh(); await loadHistory(); await loadEvents(); await loadDead(); await refresh();
      setInterval(refresh, 1500);
      setInterval(loadEvents, 3000);
      setInterval(loadDead, 3000);
      setInterval(loadHistory, 60000);
    }
    start();
    """#
}
