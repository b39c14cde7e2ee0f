// Live insights on the conversation page: when a rule ran ("insights" event, from the page's
// live script js/live-conversation.js, which orders events and fetches any it missed), apply
// what the event carries in place (each line's sentiment badge, the customer's mood, the
// checklist's ticks and reasons, the summary) with no request; only what it cannot place (a
// first checklist, a new suggestion, the results table) is fetched from the server, which
// renders the panels, at once when something visible is missing, else within 10 s. The
// customer's mood is drawn line by line as a small chart. Without this script the page shows
// the insights as of its load, and a reload shows new ones.
(() => {
  const root = document.querySelector("[data-live-insights]");
  if (!root || !window.fetch) return;

  const partialUrl = root.dataset.livePartial;
  let refreshing = false;
  let refreshAgain = false;
  let refreshTimer = null;
  let stopped = false;

  // The same badge as the page's conversations/_line_mark.html.
  function badge(mark) {
    const outer = document.createElement("span");
    outer.className = `badge rounded-pill bg-${mark.colour}-subtle text-${mark.colour}-emphasis`;
    outer.title = mark.title;
    outer.dataset.testid = `line-${mark.slug}`;
    if (mark.value !== null && mark.value !== undefined) outer.dataset.value = String(mark.value);
    const dot = document.createElement("i");
    dot.className = `bi bi-circle-fill text-${mark.colour} me-1`;
    dot.setAttribute("aria-hidden", "true");
    const hidden = document.createElement("span");
    hidden.className = "visually-hidden";
    hidden.textContent = `${mark.kind}: `;
    outer.append(dot, hidden, mark.label);
    return outer;
  }

  function updateLines(doc) {
    const data = doc.getElementById("line-sentiment-data");
    if (!data) return;
    const marks = JSON.parse(data.textContent);
    for (const slot of document.querySelectorAll("[data-line-marks-for]")) {
      const line = marks[slot.dataset.lineMarksFor];
      if (line) slot.replaceChildren(...line.map(badge));
    }
  }

  async function refresh() {
    if (refreshing) {
      refreshAgain = true;
      return;
    }
    refreshing = true;
    try {
      const response = await fetch(partialUrl, {
        credentials: "same-origin",
        headers: { Accept: "text/html" },
      });
      if (response.redirected || response.status === 403 || response.status === 404) {
        stopped = true; // signed out, or no longer allowed: a reload shows why
        return;
      }
      if (!response.ok) return;
      const doc = new DOMParser().parseFromString(await response.text(), "text/html");
      for (const fresh of doc.querySelectorAll("[data-live-region][id]")) {
        const current = document.getElementById(fresh.id);
        if (!current) continue;
        // Keep open <details> open across the swap.
        const open = new Set(
          Array.from(current.querySelectorAll("details[open]")).map(
            (d) => d.closest("[data-result]")?.dataset.result,
          ),
        );
        const node = document.importNode(fresh, true);
        for (const row of node.querySelectorAll("[data-result]")) {
          if (open.has(row.dataset.result)) row.querySelector("details")?.setAttribute("open", "");
        }
        current.replaceWith(node);
      }
      updateLines(doc);
      drawChart();
    } catch (error) {
      // The network blipped; the next event (or catch-up) fetches again.
    } finally {
      refreshing = false;
      if (refreshAgain) {
        refreshAgain = false;
        scheduleRefresh();
      }
    }
  }

  let lazyTimer = null;

  function scheduleRefresh() {
    if (stopped) return;
    // One rule execution sends one event, but several rules finish together: fetch once.
    clearTimeout(refreshTimer);
    clearTimeout(lazyTimer);
    lazyTimer = null;
    refreshTimer = setTimeout(refresh, 250);
  }

  // What the events could not place but nobody is waiting for (the results table, the
  // timestamps): fetched once within 10 s, however many events arrive meanwhile.
  function scheduleLazyRefresh() {
    if (stopped || lazyTimer) return;
    lazyTimer = setTimeout(() => {
      lazyTimer = null;
      refresh();
    }, 10000);
  }

  // Applying an event's data in place -----------------------------------------------------------

  function applySentiment(sentiment) {
    for (const line of sentiment.lines || []) {
      const slot = document.querySelector(`[data-line-marks-for="${CSS.escape(line.id)}"]`);
      if (!slot) continue; // a line not on this page yet: its own event brings it
      slot.replaceChildren(
        badge({ kind: "Sentiment", slug: "sentiment", label: line.label, colour: line.colour, title: line.title, value: line.score }),
      );
    }
    const overall = sentiment.overall;
    const shown = root.querySelector("[data-testid=sentiment-overall]");
    if (!overall) return true;
    if (!shown) return false; // the first sentiment: the server draws the section
    shown.className = `badge fs-6 rounded-pill bg-${overall.colour}-subtle text-${overall.colour}-emphasis border border-${overall.colour}-subtle`;
    shown.title = overall.title;
    shown.lastChild.textContent = overall.label.charAt(0).toUpperCase() + overall.label.slice(1);
    return true;
  }

  function applyAdherence(adherence) {
    let complete = true;
    for (const criterion of adherence.criteria || []) {
      const item = root.querySelector(`[data-criterion="${CSS.escape(criterion.key)}"]`);
      if (!item) {
        complete = false; // a first checklist, or another rubric: the server draws it
        continue;
      }
      if (item.dataset.met === criterion.met) continue;
      item.dataset.met = criterion.met;
      const icon = item.querySelector(":scope > i.bi");
      if (icon) {
        icon.className = `bi ${criterion.icon} text-${criterion.colour} flex-shrink-0`;
        icon.title = criterion.status;
      }
      const status = item.querySelector(".visually-hidden");
      if (status) status.textContent = `${criterion.status}: `;
      let reason = item.querySelector(".min-w-0 > .text-body-secondary:not([data-testid])");
      if (!reason && criterion.reason) {
        reason = document.createElement("div");
        reason.className = "text-body-secondary";
        item.querySelector(".min-w-0 > div")?.after(reason);
      }
      if (reason && criterion.reason) reason.textContent = criterion.reason;
      if (criterion.met !== "Pending") item.querySelector("[data-window-end-ms]")?.remove();
      item.classList.add("line-new"); // the same brief highlight as a new line
    }
    const score = root.querySelector("[data-testid=adherence-score]");
    if (score && typeof adherence.score === "number") score.textContent = `${Math.round(adherence.score)}%`;
    return complete;
  }

  function applySummary(summary) {
    const text = root.querySelector("[data-testid=summary-text]");
    if (!text) return false;
    text.replaceChildren();
    summary.text.split("\n").forEach((part, i) => {
      if (i) text.append(document.createElement("br"));
      text.append(part);
    });
    return true;
  }

  function apply(data) {
    let complete = true;
    if (data.sentiment) complete = applySentiment(data.sentiment) && complete;
    if (data.adherence) complete = applyAdherence(data.adherence) && complete;
    if (data.summary) complete = applySummary(data.summary) && complete;
    if (data.suggestion) complete = false; // the list keeps its order and links: server-drawn
    drawChart();
    return complete;
  }

  // The customer's mood, line by line -------------------------------------------------------------

  function drawChart() {
    const figure = root.querySelector("[data-sentiment-chart]");
    if (!figure) return;
    const values = Array.from(
      document.querySelectorAll(".line-customer [data-testid=line-sentiment][data-value]"),
    )
      .map((mark) => Number(mark.dataset.value))
      .filter((value) => !Number.isNaN(value));
    figure.hidden = values.length < 2;
    figure.querySelector("svg")?.remove();
    if (values.length < 2) return;
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 100 40");
    svg.setAttribute("preserveAspectRatio", "none");
    svg.setAttribute("role", "img");
    svg.setAttribute("width", "100%");
    svg.setAttribute("height", "48");
    const last = values[values.length - 1];
    svg.setAttribute("aria-label", `The customer's sentiment over ${values.length} lines, now ${last.toFixed(2)} (from -1 to 1)`);
    svg.dataset.points = String(values.length);
    const y = (v) => (20 - Math.max(-1, Math.min(1, v)) * 18).toFixed(1);
    const zero = document.createElementNS(ns, "line");
    for (const [k, v] of [["x1", 0], ["x2", 100], ["y1", 20], ["y2", 20]]) zero.setAttribute(k, String(v));
    zero.setAttribute("stroke", "currentColor");
    zero.setAttribute("stroke-opacity", "0.25");
    zero.setAttribute("stroke-dasharray", "2 2");
    zero.setAttribute("vector-effect", "non-scaling-stroke");
    const line = document.createElementNS(ns, "polyline");
    const step = 100 / (values.length - 1);
    line.setAttribute("points", values.map((v, i) => `${(i * step).toFixed(1)},${y(v)}`).join(" "));
    line.setAttribute("fill", "none");
    line.setAttribute("stroke-width", "2");
    line.setAttribute("vector-effect", "non-scaling-stroke");
    line.setAttribute("stroke", last <= -0.05 ? "var(--bs-danger)" : last >= 0.05 ? "var(--bs-success)" : "var(--bs-secondary)");
    svg.append(zero, line);
    figure.append(svg);
  }


  // Criteria that must happen within a time window count down while they are pending ("12 s
  // left"); the next rule run marks them met or missed.
  function tick() {
    const panel = document.getElementById("insights-panel");
    const started = Date.parse(panel?.dataset.conversationStarted || "");
    if (Number.isNaN(started)) return;
    for (const item of document.querySelectorAll("[data-window-end-ms]")) {
      const left = Math.round((started + Number(item.dataset.windowEndMs) - Date.now()) / 1000);
      const text = item.querySelector("[data-window-left]");
      if (!text) continue;
      text.textContent = left > 0 ? `in ${left} s` : "now (waiting for the next check)";
      item.classList.toggle("text-danger-emphasis", left <= 5);
    }
  }
  tick();
  setInterval(tick, 1000);

  document.addEventListener("ccportal:live", (event) => {
    if (event.detail.event === "line") {
      drawChart(); // a new customer line may already carry its mark
      return;
    }
    if (event.detail.event !== "insights") return;
    const data = event.detail.payload && event.detail.payload.data;
    if (data && apply(data)) scheduleLazyRefresh();
    else scheduleRefresh();
  });
  drawChart();
  // The page caught up after a gap or reloaded its transcript: marks and panels may be behind.
  document.addEventListener("ccportal:live-resync", scheduleRefresh);
})();
