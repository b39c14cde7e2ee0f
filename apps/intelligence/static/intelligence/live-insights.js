// Live insights on the conversation page: a WebSocket says "insights" after a rule ran, and the
// page fetches the fresh panels (the server renders them; the socket only nudges). Without this
// script the page shows the insights as of its load, and a reload shows new ones.
(() => {
  const root = document.querySelector("[data-live-insights]");
  if (!root || !("WebSocket" in window) || !window.fetch) return;

  const scheme = window.location.protocol === "https:" ? "wss" : "ws";
  const socketUrl = `${scheme}://${window.location.host}${root.dataset.liveSocket}`;
  const partialUrl = root.dataset.livePartial;
  const indicator = root.querySelector("[data-live-indicator]");
  const indicatorText = root.querySelector("[data-live-text]");
  const newLines = root.querySelector("[data-live-new-lines]");
  const STATES = {
    connecting: ["text-body-secondary", "Connecting…"],
    live: ["text-success", "Live"],
    offline: ["text-warning", "Reconnecting…"],
    stopped: ["text-body-secondary", "Not live"],
  };
  const MIN_DELAY = 1000;
  const MAX_DELAY = 30000;
  let delay = MIN_DELAY;
  let opened = false;
  let stopped = false;
  let refreshing = false;
  let refreshAgain = false;
  let refreshTimer = null;

  function show(state) {
    const [colour, text] = STATES[state];
    indicator.hidden = false;
    indicator.classList.remove(...Object.values(STATES).map(([c]) => c));
    indicator.classList.add(colour);
    indicatorText.textContent = text;
  }

  function stop() {
    stopped = true;
    show("stopped");
  }

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
    if (data) {
      const marks = JSON.parse(data.textContent);
      for (const slot of document.querySelectorAll("[data-line-marks-for]")) {
        const line = marks[slot.dataset.lineMarksFor];
        if (line) slot.replaceChildren(...line.map(badge));
      }
    }
    const panel = document.getElementById("insights-panel");
    const known = document.querySelectorAll(".transcript > .line").length;
    if (newLines && panel && Number(panel.dataset.lineCount) > known) newLines.hidden = false;
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
        stop(); // signed out, or no longer allowed: a reload shows why
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
      // The network blipped; the next event (or reconnect) fetches again.
    } finally {
      refreshing = false;
      if (refreshAgain) {
        refreshAgain = false;
        scheduleRefresh();
      }
    }
  }

  function scheduleRefresh() {
    // One rule execution sends one event, but several rules finish together: fetch once.
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(refresh, 250);
  }

  function connect() {
    if (stopped) return;
    show(opened ? "offline" : "connecting");
    const socket = new WebSocket(socketUrl);
    socket.addEventListener("open", () => {
      delay = MIN_DELAY;
      show("live");
      // Events sent while we were away are lost: catch up after a reconnect.
      if (opened) scheduleRefresh();
      opened = true;
    });
    socket.addEventListener("message", (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch (error) {
        return;
      }
      if (message.event === "insights") scheduleRefresh();
    });
    socket.addEventListener("close", (event) => {
      if (event.code === 4401 || event.code === 4403) {
        stop(); // the server said no: retrying will not change its mind
        return;
      }
      show("offline");
      const wait = delay + Math.random() * 500;
      delay = Math.min(delay * 2, MAX_DELAY);
      setTimeout(connect, wait);
    });
  }

  connect();
})();
