// Live insights on the conversation page: when a rule ran ("insights" event, from the page's
// live script js/live-conversation.js, which orders events and fetches any it missed), fetch
// the fresh panels (the server renders them) and the sentiment marks of the transcript's lines.
// Without this script the page shows the insights as of its load, and a reload shows new ones.
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

  function scheduleRefresh() {
    if (stopped) return;
    // One rule execution sends one event, but several rules finish together: fetch once.
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(refresh, 250);
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
    if (event.detail.event === "insights") scheduleRefresh();
  });
  // The page caught up after a gap or reloaded its transcript: marks and panels may be behind.
  document.addEventListener("ccportal:live-resync", scheduleRefresh);
})();
