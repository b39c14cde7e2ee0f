// The supervisor floor: a tile per live call, kept current by ws/floor/ ("tiles": calls' new
// state, a batch per refresh; "gone": calls that ended). Tiles are not numbered: the page reloads the whole snapshot
// (/api/floor/) when the socket (re)opens and every 30 s, so a lost message costs at most that.
// Sorted by risk (alerts, missed steps, flags, an upset customer), then longest running.
(() => {
  const root = document.querySelector("[data-floor]");
  if (!root || !("WebSocket" in window) || !window.fetch) return;

  const grid = root.querySelector("[data-floor-grid]");
  const empty = root.querySelector("[data-floor-empty]");
  const emptyText = root.querySelector("[data-floor-empty-text]");
  const count = root.querySelector("[data-floor-count]");
  const alertCount = root.querySelector("[data-floor-alert-count]");
  const indicator = root.querySelector("[data-floor-indicator]");
  const stateText = root.querySelector("[data-floor-state]");
  const toasts = root.querySelector("[data-floor-toasts]");
  const filters = root.querySelector("[data-floor-filters]");
  const ackUrl = (id) => root.dataset.ackUrl.replace("/0/", `/${id}/`);

  const tiles = new Map(); // id -> tile JSON
  const seenAlerts = new Set(); // alert id:count already shown (no toast twice)
  const RECONCILE_MS = 30000;
  let delay = 1000;
  let first = true;

  function csrf() {
    const match = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function duration(startIso) {
    if (!startIso) return "";
    const s = Math.max(0, Math.floor((Date.now() - Date.parse(startIso)) / 1000));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const sec = String(s % 60).padStart(2, "0");
    return h ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
  }

  function sparkline(values) {
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("class", "spark");
    svg.setAttribute("viewBox", "0 0 100 32");
    svg.setAttribute("preserveAspectRatio", "none");
    svg.setAttribute("role", "img");
    const last = values.length ? values[values.length - 1] : null;
    svg.setAttribute(
      "aria-label",
      values.length ? `Customer sentiment, last ${last.toFixed(2)}` : "No sentiment yet",
    );
    const zero = document.createElementNS(ns, "line");
    zero.setAttribute("x1", "0");
    zero.setAttribute("x2", "100");
    zero.setAttribute("y1", "16");
    zero.setAttribute("y2", "16");
    zero.setAttribute("stroke", "currentColor");
    zero.setAttribute("stroke-opacity", "0.2");
    zero.setAttribute("stroke-dasharray", "2 2");
    svg.append(zero);
    if (values.length) {
      const step = values.length > 1 ? 100 / (values.length - 1) : 0;
      const points = values.map((v, i) => `${(i * step).toFixed(1)},${(16 - v * 14).toFixed(1)}`);
      const line = document.createElementNS(ns, "polyline");
      line.setAttribute("points", values.length > 1 ? points.join(" ") : `0,${points[0].split(",")[1]} 100,${points[0].split(",")[1]}`);
      line.setAttribute("fill", "none");
      line.setAttribute("stroke-width", "2");
      line.setAttribute("vector-effect", "non-scaling-stroke");
      line.setAttribute("stroke", last <= -0.05 ? "var(--bs-danger)" : last >= 0.05 ? "var(--bs-success)" : "var(--bs-secondary)");
      svg.append(line);
    }
    return svg;
  }

  const MIX = { HUMAN: ["Human", "text-bg-primary"], AI: ["Virtual agent", "text-bg-info"], HANDOFF: ["Handed over", "text-bg-warning"], NONE: ["Waiting", "text-bg-secondary"] };
  const SEVERITY = { critical: "danger", warning: "warning", info: "info" };

  function render(tile) {
    const card = el("article", "card floor-tile h-100");
    card.dataset.id = tile.id;
    card.dataset.testid = "floor-tile";
    card.tabIndex = 0;
    card.setAttribute("aria-label", `${tile.customer} with ${tile.agent}`);
    if (tile.risk >= 40) card.classList.add("risk-high");
    else if (tile.risk >= 15) card.classList.add("risk-mid");
    const body = el("div", "card-body p-2 vstack gap-1");
    const top = el("div", "d-flex align-items-center gap-1");
    const name = el("a", "fw-semibold text-truncate stretched-link-off", tile.customer);
    name.href = tile.url;
    const mix = MIX[tile.mix] || MIX.NONE;
    const badge = el("span", `badge ${mix[1]} ms-auto`, mix[0]);
    badge.dataset.testid = "tile-mix";
    top.append(name, badge);
    const who = el("div", "small text-body-secondary text-truncate");
    who.append(el("i", "bi bi-person me-1"), `${tile.agent}`);
    if (tile.team) who.append(` · ${tile.team}`);
    who.append(` · ${tile.channel ? tile.channel.toLowerCase() : "—"}`);
    const clock = el("span", "font-monospace small ms-auto", duration(tile.started_at));
    clock.dataset.started = tile.started_at || "";
    clock.dataset.testid = "tile-duration";
    const meta = el("div", "d-flex align-items-center gap-2 small");
    const label = el("span", `text-${tile.sentiment_label === "negative" ? "danger" : tile.sentiment_label === "positive" ? "success" : "body-secondary"}`, tile.sentiment_label || "no sentiment yet");
    label.dataset.testid = "tile-sentiment";
    meta.append(label, el("span", "text-body-secondary", `${tile.lines} line${tile.lines === 1 ? "" : "s"}`), clock);
    const spark = sparkline(tile.sentiment);
    spark.dataset.testid = "tile-spark";
    spark.dataset.points = String(tile.sentiment.length);
    const a = tile.adherence;
    const total = a.met + a.pending + a.missed;
    const bar = el("div", "progress adh");
    bar.setAttribute("role", "img");
    bar.setAttribute("aria-label", `Script: ${a.met} met, ${a.pending} pending, ${a.missed} missed`);
    bar.title = `Script: ${a.met} met · ${a.pending} pending · ${a.missed} missed`;
    for (const [n, colour] of [[a.met, "bg-success"], [a.pending, "bg-warning"], [a.missed, "bg-danger"]]) {
      if (!n) continue;
      const part = el("div", `progress-bar ${colour}`);
      part.style.width = `${(100 * n) / total}%`;
      bar.append(part);
    }
    const adh = el("div", "small d-flex gap-2");
    adh.dataset.testid = "tile-adherence";
    adh.dataset.met = a.met;
    adh.dataset.missed = a.missed;
    adh.append(
      el("span", "text-success", `✓ ${a.met}`),
      el("span", "text-warning-emphasis", `… ${a.pending}`),
      el("span", "text-danger", `✗ ${a.missed}`),
    );
    if (tile.flags) adh.append(el("span", "ms-auto badge text-bg-danger", `${tile.flags} flag${tile.flags === 1 ? "" : "s"}`));
    body.append(top, who, meta, spark, total ? bar : el("div", "small text-body-secondary", "No script checks yet"), adh);
    // The pending step whose time window closes first, counting down ("Greets: 8 s left").
    const next = (a.windows || []).slice().sort((x, y) => x.end_ms - y.end_ms)[0];
    if (next && tile.started_at) {
      const window = el("div", `small ${next.critical ? "text-danger-emphasis" : "text-warning-emphasis"} text-truncate`);
      window.dataset.testid = "tile-window";
      window.dataset.windowEnd = String(Date.parse(tile.started_at) + next.end_ms);
      window.dataset.windowName = next.name || next.key || "A step";
      body.append(window);
    }
    for (const alert of tile.alerts) {
      const row = el("div", `alert alert-${SEVERITY[alert.severity] || "info"} py-1 px-2 mb-0 small d-flex align-items-center gap-1`);
      row.dataset.testid = "tile-alert";
      const text = el("span", "text-truncate");
      text.append(el("strong", "", alert.title));
      if (alert.detail) text.append(` · ${alert.detail}`);
      text.title = `${alert.title}${alert.detail ? ` · ${alert.detail}` : ""}`;
      const ack = el("button", "btn btn-sm btn-link p-0 ms-auto", "OK");
      ack.type = "button";
      ack.title = "Acknowledge";
      ack.addEventListener("click", (event) => {
        event.stopPropagation();
        acknowledge(alert.id);
      });
      row.append(text, ack);
      body.append(row);
    }
    card.append(body);
    card.addEventListener("click", (event) => {
      if (event.target.closest("a, button")) return;
      window.location.href = tile.url;
    });
    card.addEventListener("keydown", (event) => {
      if (event.key === "Enter") window.location.href = tile.url;
    });
    return card;
  }

  async function acknowledge(id) {
    try {
      await fetch(ackUrl(id), { method: "POST", credentials: "same-origin", headers: { "X-CSRFToken": csrf(), Accept: "application/json" } });
    } catch (error) {
      return;
    }
    for (const tile of tiles.values()) tile.alerts = tile.alerts.filter((a) => a.id !== id);
    draw();
  }

  function toast(tile, alert) {
    const box = el("div", `toast show align-items-center text-bg-${SEVERITY[alert.severity] || "info"} border-0`);
    box.setAttribute("role", "alert");
    box.dataset.testid = "floor-toast";
    const inner = el("div", "d-flex");
    const text = el("div", "toast-body");
    text.append(el("strong", "", alert.title), ` · ${tile.customer} with ${tile.agent}`);
    if (alert.detail) text.append(el("div", "small", alert.detail));
    const open = el("a", "btn btn-sm btn-light m-2 align-self-center", "Open");
    open.href = tile.url;
    inner.append(text, open);
    box.append(inner);
    toasts.append(box);
    setTimeout(() => box.remove(), 10000);
  }

  function matches(tile) {
    const f = new FormData(filters);
    const q = String(f.get("q") || "").trim().toLowerCase();
    if (q && !`${tile.customer} ${tile.agent} ${tile.team}`.toLowerCase().includes(q)) return false;
    if (f.get("team") && String(tile.team_id) !== f.get("team")) return false;
    if (f.get("channel") && tile.channel !== f.get("channel")) return false;
    if (f.get("mix") && tile.mix !== f.get("mix")) return false;
    if (f.get("attention") && tile.risk <= 0) return false;
    return true;
  }

  function draw() {
    const all = Array.from(tiles.values());
    all.sort((x, y) => y.risk - x.risk || String(x.started_at).localeCompare(String(y.started_at)));
    const shown = all.filter(matches);
    const focused = document.activeElement?.closest?.("[data-testid=floor-tile]")?.dataset.id;
    grid.replaceChildren(...shown.map(render));
    tick();
    if (focused) grid.querySelector(`[data-id="${focused}"]`)?.focus();
    count.textContent = `${all.length} live call${all.length === 1 ? "" : "s"}`;
    const open = all.reduce((n, t) => n + t.alerts.length, 0);
    alertCount.hidden = !open;
    alertCount.textContent = `${open} alert${open === 1 ? "" : "s"}`;
    empty.hidden = shown.length > 0;
    emptyText.textContent = all.length
      ? "No live call matches these filters."
      : "No calls going on in your teams right now. They appear here as they start.";
  }

  function noticeAlerts(tile, quiet) {
    for (const alert of tile.alerts) {
      const key = `${alert.id}:${alert.count}`;
      if (seenAlerts.has(key)) continue;
      seenAlerts.add(key);
      if (!quiet) toast(tile, alert);
    }
  }

  function upsert(batch) {
    const changed = [];
    for (const tile of batch) {
      if (tiles.has(tile.id)) changed.push(tile.id);
      tiles.set(tile.id, tile);
      noticeAlerts(tile, false);
    }
    draw();
    for (const id of changed) grid.querySelector(`[data-id="${id}"]`)?.classList.add("flash");
  }

  function load(list, quiet) {
    tiles.clear();
    for (const tile of list) {
      tiles.set(tile.id, tile);
      noticeAlerts(tile, quiet);
    }
    draw();
  }

  async function reconcile() {
    try {
      const response = await fetch(root.dataset.snapshot, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!response.ok) return;
      const answer = await response.json();
      load(answer.tiles, first);
      first = false;
    } catch (error) {
      // offline: the next timer or reconnect asks again
    }
  }

  function show(text, colour) {
    indicator.className = `small ms-auto ${colour}`;
    stateText.textContent = text;
    root.dataset.liveState = text === "Live" ? "live" : "offline";
  }

  function connect() {
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${window.location.host}${root.dataset.socket}`);
    socket.addEventListener("open", () => {
      delay = 1000;
      show("Live", "text-success");
      reconcile();
    });
    socket.addEventListener("message", (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch (error) {
        return;
      }
      if (message.event === "tiles") upsert(message.payload.tiles);
      else if (message.event === "gone") {
        for (const id of message.payload.ids) tiles.delete(id);
        draw();
      } else if (message.event === "rescoped") reconcile();
    });
    socket.addEventListener("close", (event) => {
      if (event.code === 4401 || event.code === 4403) {
        show("Not live", "text-body-secondary");
        return;
      }
      show("Reconnecting…", "text-warning");
      setTimeout(connect, delay + Math.random() * 500);
      delay = Math.min(delay * 2, 30000);
    });
  }

  filters.addEventListener("input", draw);
  filters.addEventListener("change", draw);
  filters.addEventListener("submit", (event) => event.preventDefault());
  document.addEventListener("keydown", (event) => {
    if (event.key === "/" && !event.target.closest("input, textarea, select")) {
      event.preventDefault();
      filters.querySelector("[name=q]").focus();
    }
  });
  function tick() {
    for (const clock of grid.querySelectorAll("[data-started]")) clock.textContent = duration(clock.dataset.started);
    for (const window of grid.querySelectorAll("[data-window-end]")) {
      const left = Math.round((Number(window.dataset.windowEnd) - Date.now()) / 1000);
      const icon = el("i", "bi bi-hourglass-split me-1");
      icon.setAttribute("aria-hidden", "true");
      window.replaceChildren(icon, `${window.dataset.windowName}: ${left > 0 ? `${left} s left` : "window closing"}`);
    }
  }
  setInterval(tick, 1000);
  setInterval(reconcile, RECONCILE_MS);
  load(JSON.parse(document.getElementById("floor-snapshot").textContent), true);
  first = false;
  connect();
})();
