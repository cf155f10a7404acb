/// The page's on-call part: per queue a dead-letter table (`GET /api/dead`, newest first) with
/// Requeue / Delete per row and for all of the queue; a panel with a job's full payload, error and,
/// once done, its result (following `GET /api/jobs/ID` while open); the job search box.
enum DashboardDeadLetters {
    static let script = #"""
    function deadQueues() {
      return state.queues.filter(q => q.dead_now > 0 || (state.dead[q.queue] && state.dead[q.queue].total > 0)).map(q => q.queue);
    }

    // Reads the dead letters of every queue that has some; redraws a queue's table only when its answer changed.
    async function loadDead() {
      const wanted = deadQueues();
      for (const q of Object.keys(state.dead)) if (!wanted.includes(q)) { delete state.dead[q]; delete state.deadRaw[q]; }
      if (tokenMissing()) { state.deadLocked = wanted.length > 0; renderDead(); return; }
      for (const q of wanted) {
        try {
          const r = await fetch(`/api/dead?queue=${enc(q)}&limit=${state.deadLimit[q] || 50}`, { cache: "no-store", headers: authHeaders() });
          state.deadLocked = r.status === 401;
          if (r.status !== 200) continue;
          const raw = await r.text();
          if (raw === state.deadRaw[q]) continue;
          state.deadRaw[q] = raw; state.dead[q] = JSON.parse(raw);
        } catch (e) { /* shown by the status banner */ }
      }
      renderDead();
    }

    function renderDead() {
      const box = $("dead");
      const queues = Object.keys(state.dead).filter(q => state.dead[q].total > 0).sort();
      for (const b of [...box.children]) if (!b.dataset.queue || !queues.includes(b.dataset.queue)) b.remove();
      if (state.deadLocked) {
        box.replaceChildren(el("p", { class: "muted", "data-part": "locked" }, "Dead letters hold job payloads: enter the HTTP token (top right) to see them."));
        return;
      }
      for (const b of [...box.children]) if (!b.dataset.queue) b.remove();
      if (!queues.length) { box.replaceChildren(el("p", { class: "muted" }, "No dead letters.")); return; }
      for (const q of queues) {
        let block = box.querySelector(`.deadq[data-queue="${CSS.escape(q)}"]`);
        const d = state.dead[q];
        if (block && block.dataset.raw === state.deadRaw[q]) continue;
        const fresh = deadBlock(q, d);
        fresh.dataset.raw = state.deadRaw[q];
        if (block) block.replaceWith(fresh); else box.append(fresh);
      }
    }

    function deadBlock(q, d) {
      const actions = state.config && state.config.actions;
      const title = el("h3", {}, q, el("span", { class: "muted" }, `${fmt(d.total)} dead letter${d.total === 1 ? "" : "s"}`));
      if (actions) {
        title.append(button("requeue-all", "Requeue all", () => deadAction(q, null, "requeue")),
                     button("delete-all", "Delete all", () => deadAction(q, null, "delete")));
      }
      const head = el("tr", {}, el("th", {}, "Failed at"), el("th", {}, "Job id"), el("th", {}, "Error (first line)"), el("th", {}, "Attempts"), el("th", {}, "Worker"));
      if (actions) head.append(el("th", {}, ""));
      const body = el("tbody", {});
      for (const item of d.items) {
        const row = el("tr", { "data-id": item.id, tabindex: "0", title: "Open the payload, error and result" },
          el("td", {}, when(item.failed_at)), el("td", { class: "id" }, visible(item.id)), el("td", { class: "err" }, firstLine(item.error)),
          el("td", {}, fmt(item.attempts)), el("td", {}, visible(item.worker) || "–"));
        if (state.panel && state.panel.id === item.id && state.panel.queue === q) row.classList.add("open");
        if (actions) {
          const cell = el("td", { class: "actions" }, button("requeue", "Requeue", () => deadAction(q, item.id, "requeue")),
                          button("delete", "Delete", () => deadAction(q, item.id, "delete")));
          row.append(cell);
        }
        row.addEventListener("click", () => openPanel(q, item.id, item));
        row.addEventListener("keydown", ev => { if (ev.key === "Enter") openPanel(q, item.id, item); });
        body.append(row);
      }
      const block = el("div", { class: "deadq", "data-queue": q }, title, el("div", { class: "scroll" }, el("table", { class: "deadtable" }, el("thead", {}, head), body)));
      if (d.total > d.items.length) {
        const more = el("p", { class: "more muted" }, `Showing the newest ${fmt(d.items.length)} of ${fmt(d.total)}. `);
        if ((state.deadLimit[q] || 50) < 500) {
          const b = el("button", { type: "button" }, "Show more");
          b.addEventListener("click", () => { state.deadLimit[q] = Math.min(500, (state.deadLimit[q] || 50) + 100); loadDead(); });
          more.append(b);
        }
        block.append(more);
      }
      return block;
    }

    function button(name, label, onClick) {
      const b = el("button", { type: "button", "data-action": name }, label);
      b.addEventListener("click", ev => { ev.stopPropagation(); onClick(); });
      return b;
    }

    // One dead letter (id) or all of the queue (id null); a delete asks first.
    async function deadAction(q, id, what) {
      const subject = id ? `dead letter ${visible(id)} of ${q}` : `all ${fmt(state.dead[q] ? state.dead[q].total : 0)} dead letters of ${q}`;
      if (what === "delete" && !confirm(`Delete ${subject}? Its payload is lost.`)) return;
      const path = id ? `/api/queues/${enc(q)}/dead/${enc(id)}/${what}` : `/api/queues/${enc(q)}/dead/${what}-all`;
      const body = await post(path);
      if (!body) return;
      const n = what === "requeue" ? body.requeued : body.deleted;
      notice(`${what === "requeue" ? "Requeued" : "Deleted"} ${subject} (${fmt(n)} entr${n === 1 ? "y" : "ies"})`);
      await refresh(); await loadDead(); await loadEvents();
      if (state.panel) refreshPanel();
    }

    // The panel: a job's dead letter (when it was opened from the table or found dead) and where it is now.
    function openPanel(queue, id, item) {
      state.panel = { queue, id, item: item || null, where: null, missing: false };
      for (const r of document.querySelectorAll(".deadq tr.open")) r.classList.remove("open");
      renderPanel();
      $("panel").hidden = false;
      $("panel").focus();
      refreshPanel();
    }

    function closePanel() { state.panel = null; $("panel").hidden = true; $("panel").replaceChildren(); }

    async function refreshPanel() {
      const p = state.panel;
      if (!p) return;
      try {
        const r = await getJSON(`/api/jobs/${enc(p.id)}`);
        if (state.panel !== p) return;
        p.where = r.status === 200 ? r.body : null;
        p.missing = r.status === 404;
        if (p.where && p.where.state === "dead" && !p.item) p.item = await findDead(p.where.queue, p.id);
        if (p.where) p.queue = p.where.queue;
      } catch (e) { return; }
      const sig = JSON.stringify([p.where, p.missing, p.item, state.config && state.config.actions]);
      if (state.panel === p && sig !== p.sig) { p.sig = sig; renderPanel(); }
    }

    async function findDead(queue, id) {
      const r = await getJSON(`/api/dead?queue=${enc(queue)}&limit=500`);
      return r.status === 200 && r.body ? r.body.items.find(i => i.id === id) || null : null;
    }

    function pretty(text) {
      try { const v = JSON.parse(text); if (v !== null && typeof v === "object") return JSON.stringify(v, null, 2); } catch (e) { /* not JSON: as is */ }
      return text;
    }

    function renderPanel() {
      const p = state.panel, w = p.where, item = p.item;
      const close = el("button", { type: "button", id: "panelclose" }, "Close");
      close.addEventListener("click", closePanel);
      const facts = el("dl", {});
      const fact = (k, v, key) => facts.append(el("dt", {}, k), el("dd", { "data-fact": key }, v));
      fact("Queue", visible(p.queue), "queue");
      const now = w ? el("span", { class: "state " + w.state }, w.state.replace("_", " ")) : el("span", { class: "muted" }, p.missing ? "not found" : "looking…");
      if (w && w.worker) now.append(` on worker ${visible(w.worker)}`);
      if (w && w.due_at) now.append(`, due ${when(w.due_at)}`);
      fact("Now", now, "state");
      if (p.missing) fact("", "Not pending, in flight, waiting for a retry, dead or with a stored result in the queues shown here.", "missing");
      if (item) { fact("Failed at", when(item.failed_at), "failed_at"); fact("Attempts", fmt(item.attempts), "attempts"); fact("Worker", visible(item.worker) || "–", "worker"); }
      else if (w && w.attempts != null) fact("Attempts", fmt(w.attempts), "attempts");
      const parts = [el("div", { class: "head" }, el("h2", {}, "Job ", el("span", { class: "id" }, visible(p.id))), close), facts];
      if (w && w.state === "dead" && state.config && state.config.actions) {
        parts.push(el("div", { class: "actions" }, button("requeue", "Requeue", () => deadAction(p.queue, p.id, "requeue")),
                      button("delete", "Delete", () => deadAction(p.queue, p.id, "delete"))));
      }
      const error = (w && w.error) || (item && item.error);
      if (error) parts.push(el("h3", {}, w && w.state !== "dead" && item ? "Error (when it died)" : "Error"), el("pre", { "data-part": "error" }, visible(error)));
      if (item) {
        const binary = item.payload == null;
        parts.push(el("h3", {}, binary ? "Payload (not UTF-8: base64)" : "Payload"), el("pre", { "data-part": "payload" }, binary ? item.payload_base64 || "" : visible(pretty(item.payload))));
      }
      if (w && w.state === "done") parts.push(el("h3", {}, "Result"), el("pre", { "data-part": "result" }, visible(JSON.stringify(w.result, null, 2))));
      $("panel").replaceChildren(...parts);
      for (const r of document.querySelectorAll(".deadq tr[data-id]")) r.classList.toggle("open", r.dataset.id === p.id && r.closest(".deadq").dataset.queue === p.queue);
    }

    async function searchJob(ev) {
      ev.preventDefault();
      const id = $("jobid").value.trim(), msg = $("jobmsg");
      if (!id) { msg.textContent = "Type a job id."; return; }
      const locked = "Job records hold payloads: enter the HTTP token (top right) to look jobs up.";
      if (tokenMissing()) { msg.textContent = locked; return; }
      msg.textContent = "Looking…";
      let r;
      try { r = await getJSON(`/api/jobs/${enc(id)}`); } catch (e) { msg.textContent = "The dashboard server is unreachable."; return; }
      if (r.status === 401) { msg.textContent = locked; return; }
      if (r.status === 404) { msg.textContent = `Job ${visible(id)}: not found in the queues shown here.`; return; }
      if (r.status !== 200 || !r.body) { msg.textContent = `Lookup failed (HTTP ${r.status}): ${visible(r.body && r.body.error || "")}`; return; }
      msg.textContent = `Job ${visible(id)}: ${r.body.state.replace("_", " ")} in ${visible(r.body.queue)}.`;
      const dead = state.dead[r.body.queue];
      openPanel(r.body.queue, id, dead ? dead.items.find(i => i.id === id) : null);
    }

    function startDeadLetters() {
      $("jobsearch").addEventListener("submit", searchJob);
      document.addEventListener("keydown", ev => { if (ev.key === "Escape" && state.panel) closePanel(); });
    }
    """#
}
