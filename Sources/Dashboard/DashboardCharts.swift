/// The page's charts: pending (left axis) and workers/target (right axis) over time, drawn as SVG at
/// the card's pixel width with time ticks, value ticks and a hover read-out of the nearest sample
/// (kept across the 1.5 s refreshes while the pointer stays on the chart).
enum DashboardCharts {
    static let script = #"""
    const CH = { H: 180, L: 40, R: 34, T: 10, B: 22 };

    function series(queue) {
      const from = Date.now() - rangeMs[state.range];
      const h = (state.history[queue] || []).map(s => ({ t: Number(s.minute), pending: Number(s.pending), workers: Number(s.busy) + Number(s.idle) + Number(s.draining), target: Number(s.target) }));
      // A sample's `minute` is the end of the minute it sums up (see QueueHistory): live points after it are new.
      const lastHistory = h.length ? h[h.length - 1].t : 0;
      const live = (state.live[queue] || []).filter(p => p.t >= lastHistory);
      return h.concat(live).filter(p => p.t >= from);
    }

    // Value ticks from 0: a 1-2-5 step giving about four intervals, the top rounded up to a tick.
    function valueTicks(max) {
      const raw = Math.max(1, max) / 4, p = Math.pow(10, Math.floor(Math.log10(raw)));
      const step = Math.max(1, [1, 2, 5, 10].map(m => m * p).find(s => s >= raw));
      const top = Math.max(step, Math.ceil(Math.max(1, max) / step) * step);
      const ticks = [];
      for (let v = 0; v <= top + step / 2; v += step) ticks.push(v);
      return { top, ticks };
    }

    // Time ticks on local round minutes/hours, at most `most` of them.
    function timeTicks(from, to, most) {
      const steps = [1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440].map(m => m * 60e3);
      const step = steps.find(s => (to - from) / s <= most) || 1440 * 60e3;
      const off = new Date(from).getTimezoneOffset() * 60e3, ticks = [];
      for (let t = Math.ceil((from - off) / step) * step + off; t <= to; t += step) ticks.push(t);
      const long = step >= 720 * 60e3;
      const label = t => long ? new Date(t).toLocaleString([], { weekday: "short", hour: "2-digit", minute: "2-digit" })
                              : new Date(t).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
      return ticks.map(t => ({ t, label: label(t) }));
    }

    function drawAxes(chart, g) {
      const { W, H, x, yP, yW, from, to, pTicks, wTicks } = g;
      const text = (content, attrs) => { const t = svg("text", attrs); t.textContent = content; chart.append(t); };
      for (const v of pTicks.ticks) {
        chart.append(svg("line", { x1: CH.L, x2: W - CH.R, y1: yP(v), y2: yP(v), class: "grid" }));
        text(fmt(v), { x: CH.L - 4, y: yP(v) + 3, "text-anchor": "end", class: "tick-pending" });
      }
      for (const v of wTicks.ticks) text(fmt(v), { x: W - CH.R + 4, y: yW(v) + 3, class: "tick-workers" });
      for (const tk of timeTicks(from, to, Math.max(2, Math.floor((W - CH.L - CH.R) / 70)))) {
        chart.append(svg("line", { x1: x(tk.t), x2: x(tk.t), y1: H - CH.B, y2: H - CH.B + 4, class: "axis" }));
        text(tk.label, { x: x(tk.t), y: H - 6, "text-anchor": "middle", class: "tick-time" });
      }
      chart.append(svg("line", { x1: CH.L, x2: W - CH.R, y1: H - CH.B, y2: H - CH.B, class: "axis" }));
      chart.append(svg("line", { x1: CH.L, x2: CH.L, y1: CH.T, y2: H - CH.B, class: "axis" }));
      chart.append(svg("line", { x1: W - CH.R, x2: W - CH.R, y1: CH.T, y2: H - CH.B, class: "axis" }));
      const mid = (CH.T + H - CH.B) / 2;
      text("pending", { x: 10, y: mid, transform: `rotate(-90 10 ${mid})`, "text-anchor": "middle", class: "axis-title" });
      text("workers", { x: W - 6, y: mid, transform: `rotate(90 ${W - 6} ${mid})`, "text-anchor": "middle", class: "axis-title" });
    }

    function drawChart(chart, readout, queue, width) {
      const pts = series(queue), W = Math.max(260, width), H = CH.H;
      chart.setAttribute("viewBox", `0 0 ${W} ${H}`);
      // The range, narrowed to the data when there is less of it (at least 2 minutes shown).
      const to = Date.now(), first = pts.length ? pts[0].t : to;
      const from = Math.min(to - 120e3, Math.max(to - rangeMs[state.range], first - 10e3));
      const x = t => CH.L + (W - CH.L - CH.R) * (t - from) / (to - from);
      const pTicks = valueTicks(Math.max(0, ...pts.map(p => p.pending)));
      const wTicks = valueTicks(Math.max(0, ...pts.map(p => Math.max(p.workers, p.target || 0))));
      const plotH = H - CH.T - CH.B;
      const yP = v => H - CH.B - plotH * v / pTicks.top, yW = v => H - CH.B - plotH * v / wTicks.top;
      const g = { W, H, x, yP, yW, from, to, pTicks, wTicks };
      chart.append(svg("rect", { x: CH.L, y: CH.T, width: W - CH.L - CH.R, height: plotH, fill: "#fafafa" }));
      drawAxes(chart, g);
      for (const e of state.scale[queue] || []) {
        if (e.t < from) continue;
        chart.append(svg("line", { x1: x(e.t), x2: x(e.t), y1: CH.T, y2: H - CH.B, stroke: e.up ? "#2e7d32" : "#9e9e9e", "stroke-dasharray": "2,3", "class": "scale-mark" }));
      }
      const line = (key, y, color) => {
        if (pts.length < 1) return;
        const d = pts.map(p => `${x(p.t).toFixed(1)},${y(p[key] || 0).toFixed(1)}`).join(" ");
        chart.append(svg("polyline", { points: pts.length === 1 ? d + " " + d : d, fill: "none", stroke: color, "stroke-width": 1.8, "class": "series-" + key }));
      };
      line("pending", yP, "#1565c0"); line("target", yW, "#b26a00"); line("workers", yW, "#2e7d32");
      chart.dataset.points = String(pts.length);
      addHover(chart, readout, queue, pts, g);
    }

    // The read-out: the sample nearest the pointer, marked on the chart and written under it.
    function addHover(chart, readout, queue, pts, g) {
      const mark = svg("g", { class: "hover", visibility: "hidden" });
      const rule = svg("line", { y1: CH.T, y2: g.H - CH.B, stroke: "#1d1d1f", "stroke-width": 1, "stroke-dasharray": "3,2" });
      const dots = [["pending", g.yP, "#1565c0"], ["workers", g.yW, "#2e7d32"], ["target", g.yW, "#b26a00"]].map(([k, y, c]) => ({ k, y, c: svg("circle", { r: 3.5, fill: c }) }));
      mark.append(rule, ...dots.map(d => d.c));
      chart.append(mark);
      const zone = svg("rect", { x: CH.L, y: 0, width: g.W - CH.L - CH.R, height: g.H, fill: "transparent", class: "hover-zone" });
      chart.append(zone);
      const hint = pts.length ? "Point at the chart to read its values." : "No samples in this range yet.";
      const show = (t) => {
        if (t == null || !pts.length) { mark.setAttribute("visibility", "hidden"); readout.textContent = hint; readout.className = "readout"; return; }
        const p = pts.reduce((a, b) => Math.abs(b.t - t) < Math.abs(a.t - t) ? b : a);
        rule.setAttribute("x1", g.x(p.t)); rule.setAttribute("x2", g.x(p.t));
        for (const d of dots) { d.c.setAttribute("cx", g.x(p.t)); d.c.setAttribute("cy", d.y(p[d.k] || 0)); }
        mark.setAttribute("visibility", "visible");
        const at = new Date(p.t).toLocaleString([], { weekday: state.range === "7d" ? "short" : undefined, hour: "2-digit", minute: "2-digit", second: p.t % 60e3 ? "2-digit" : undefined });
        readout.textContent = `${at} · pending ${fmt(p.pending)} · workers ${fmt(p.workers)} · target ${p.target == null || isNaN(p.target) ? "–" : fmt(p.target)}`;
        readout.className = "readout on";
        readout.dataset.pending = String(p.pending);
      };
      const at = ev => { const r = chart.getBoundingClientRect(); const px = (ev.clientX - r.left) * g.W / r.width; return g.from + (px - CH.L) / (g.W - CH.L - CH.R) * (g.to - g.from); };
      zone.addEventListener("pointermove", ev => { state.hover = { queue, t: at(ev), fresh: true }; show(state.hover.t); });
      zone.addEventListener("pointerleave", () => { state.hover = null; show(null); });
      chart.hoverAt = show;
      // Still hovering across a redraw: follow the same time position (the newest sample when it was the newest).
      show(state.hover && state.hover.queue === queue ? state.hover.t : null);
    }

    document.addEventListener("pointermove", ev => {
      if (state.hover && !(ev.target instanceof Element && ev.target.closest("svg.chart"))) {
        state.hover = null;
        for (const c of document.querySelectorAll("svg.chart")) if (c.hoverAt) c.hoverAt(null);
      }
    });

    async function loadHistoryOf(q) {
      const points = state.range === "1h" ? "" : "&points=360";
      state.loadingHistory[q] = true;
      try {
        const r = await getJSON(`/api/history?queue=${enc(q)}&since=${state.range}${points}`);
        if (r.status === 200) state.history[q] = r.body;
      } catch (e) { /* shown by the status banner */ }
      state.loadingHistory[q] = false;
    }

    async function loadHistory() {
      const cards = [...document.querySelectorAll("#queues .card")].map(c => c.dataset.queue);
      for (const q of cards) await loadHistoryOf(q);
    }
    """#
}
