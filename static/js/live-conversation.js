// The conversation page, live: one socket per page, events applied in the order of their
// numbers, and whatever the socket missed asked for over HTTP, so no update is ever lost.
//
// Each event of a conversation carries a number (seq) and an epoch. The page was rendered at a
// position (data-live-seq / data-live-epoch on #transcript-body). An event numbered last + 1 is
// applied; a lower one is dropped (already seen); a higher one is kept aside while the page asks
// /api/conversations/<id>/events/?after=<last> for the gap. The page also asks after every
// reconnect, and when the socket has been quiet for a while (a lost last event is noticed too).
// When the events cannot be replayed (410: purged, or numbered again) the transcript is fetched
// anew (?partial=transcript) with its position.
//
// Applied events are dispatched on document as "ccportal:live" (detail: {event, payload, seq}),
// for the panels' scripts; "ccportal:live-resync" says the page caught up after a gap or a
// reload, so panels that keep their own state refresh it. This script renders "line" events into
// the transcript itself. Without JavaScript the page shows the transcript as of its load.
(() => {
  const root = document.querySelector("[data-live-conversation]");
  if (!root || !("WebSocket" in window) || !window.fetch) return;

  const scheme = window.location.protocol === "https:" ? "wss" : "ws";
  const socketUrl = `${scheme}://${window.location.host}${root.dataset.liveSocket}`;
  const eventsUrl = root.dataset.liveEvents;
  const snapshotUrl = root.dataset.liveSnapshot;
  const indicator = root.querySelector("[data-live-indicator]");
  const indicatorText = root.querySelector("[data-live-text]");
  const pill = root.querySelector("[data-live-new-lines]");
  const pillCount = root.querySelector("[data-live-new-count]");
  const pillPlural = root.querySelector("[data-live-new-plural]");
  const lineCount = root.querySelector("[data-live-line-count]");

  const QUIET_MS = 20000; // ask for anything missed when nothing arrived for this long
  const MIN_DELAY = 1000;
  const MAX_DELAY = 30000;
  const STATES = {
    connecting: ["text-body-secondary", "Connecting…"],
    live: ["text-success", "Live"],
    ended: ["text-body-secondary", "Ended"], // connected, but the call is over: not "Live"
    offline: ["text-warning", "Reconnecting…"],
    stopped: ["text-body-secondary", "Not live"],
  };

  let body = document.getElementById("transcript-body");
  let epoch = Number(body.dataset.liveEpoch || 1);
  let last = Number(body.dataset.liveSeq || 0);
  const waiting = new Map(); // seq -> event, received ahead of a gap
  let delay = MIN_DELAY;
  let opened = false;
  let stopped = false;
  let catching = null; // the running catch-up, so only one runs at a time
  let again = false;
  let quietTimer = null;
  let unseen = 0;
  // Whether the conversation's calling is over (the page's render, then its "status" events):
  // an open socket then still brings late lines and insights, but the call is not live.
  let ended = root.dataset.liveEnded === "true";

  function show(state) {
    const [colour, text] = STATES[state];
    indicator.hidden = false;
    indicator.classList.remove(...Object.values(STATES).map(([c]) => c));
    indicator.classList.add(colour);
    indicatorText.textContent = text;
    root.dataset.liveState = state;
  }

  function stop() {
    stopped = true;
    show("stopped");
  }

  // Transcript ---------------------------------------------------------------------------------

  function transcript() {
    return body.querySelector("ol.transcript");
  }

  // Following the conversation: the transcript's last line is on screen (or there is none).
  function following() {
    const lines = transcript().querySelectorAll(":scope > .line");
    if (!lines.length) return true;
    const box = lines[lines.length - 1].getBoundingClientRect();
    return box.top < window.innerHeight && box.bottom > 0;
  }

  function updateCount() {
    const n = transcript().querySelectorAll(":scope > .line").length;
    lineCount.textContent = `${n.toLocaleString()} line${n === 1 ? "" : "s"}`;
  }

  function showPill() {
    pillCount.textContent = String(unseen);
    pillPlural.hidden = unseen === 1;
    pill.hidden = unseen === 0;
  }

  function lineElement(line) {
    const li = document.createElement("li");
    li.className = `line line-${line.kind}`;
    li.id = `comm-${line.id}`;
    li.dataset.testid = "line";
    li.dataset.speaker = line.kind;
    li.dataset.offsetMs = line.offset_ms ?? "";
    const meta = document.createElement("div");
    meta.className = "line-meta";
    const speaker = document.createElement("span");
    speaker.className = "speaker";
    speaker.textContent = line.speaker;
    const role = document.createElement("span");
    role.className = `badge rounded-pill badge-${line.kind}`;
    role.textContent = line.role;
    const time = document.createElement("time");
    time.className = "offset font-monospace";
    time.dateTime = line.occurred_at;
    time.title = new Date(line.occurred_at).toLocaleString();
    time.textContent = line.offset;
    const marks = document.createElement("span");
    marks.className = "line-marks";
    marks.dataset.lineMarksFor = line.twilio_id;
    meta.append(speaker, " ", role, " ", time, " ", marks);
    const bubble = document.createElement("div");
    bubble.className = "bubble";
    fillBubble(bubble, line.text);
    li.append(meta, bubble);
    return li;
  }

  function fillBubble(bubble, text) {
    bubble.replaceChildren();
    if (!text) {
      const none = document.createElement("span");
      none.className = "text-body-secondary fst-italic";
      none.textContent = "(no text)";
      bubble.append(none);
      return;
    }
    text.split("\n").forEach((part, i) => {
      if (i) bubble.append(document.createElement("br"));
      bubble.append(part);
    });
  }

  function applyLine(line) {
    const list = transcript();
    const known = document.getElementById(`comm-${line.id}`);
    if (known) {
      // Already shown (rendered after its event was numbered, or a corrected transcription).
      fillBubble(known.querySelector(".bubble"), line.text);
      return;
    }
    const follow = following();
    const li = lineElement(line);
    li.classList.add("line-new");
    // In the order of the call: a late event lands where it was said.
    const offset = line.offset_ms ?? Number.MAX_SAFE_INTEGER;
    const after = Array.from(list.children).find(
      (other) => other.dataset.offsetMs !== "" && Number(other.dataset.offsetMs) > offset,
    );
    list.insertBefore(li, after || null);
    list.hidden = false;
    body.querySelector("[data-testid=empty-transcript]")?.remove();
    updateCount();
    if (after) return; // an earlier line: where the reader is does not move
    if (follow) {
      li.scrollIntoView({ block: "end", behavior: "smooth" });
    } else {
      unseen += 1;
      showPill();
    }
  }

  pill?.addEventListener("click", () => {
    const lines = transcript().querySelectorAll(":scope > .line");
    lines[lines.length - 1]?.scrollIntoView({ block: "end", behavior: "smooth" });
    unseen = 0;
    showPill();
  });
  window.addEventListener(
    "scroll",
    () => {
      if (unseen && following()) {
        unseen = 0;
        showPill();
      }
    },
    { passive: true },
  );

  // Events in order ----------------------------------------------------------------------------

  function connected() {
    return ended ? "ended" : "live";
  }

  function applyStatus(payload) {
    ended = Boolean(payload && payload.ended);
    if (opened && !stopped && ["live", "ended"].includes(root.dataset.liveState)) {
      show(connected());
    }
  }

  function apply(message) {
    if (message.event === "line") applyLine(message.payload);
    if (message.event === "status") applyStatus(message.payload);
    document.dispatchEvent(new CustomEvent("ccportal:live", { detail: message }));
  }

  function receive(message) {
    if (message.seq === undefined) {
      apply(message); // not a numbered event: nothing to order
      return;
    }
    if (message.epoch !== epoch) {
      reload();
      return;
    }
    if (message.seq <= last) return;
    if (message.seq === last + 1) {
      last = message.seq;
      apply(message);
      drain();
      return;
    }
    waiting.set(message.seq, message);
    catchUp();
  }

  function drain() {
    while (waiting.has(last + 1)) {
      const next = waiting.get(last + 1);
      waiting.delete(last + 1);
      last = next.seq;
      apply(next);
    }
    for (const seq of waiting.keys()) if (seq <= last) waiting.delete(seq);
  }

  function catchUp() {
    if (catching) {
      again = true; // asked while asking: once more when this one ends
      return;
    }
    again = false;
    catching = fetchMissed().finally(() => {
      catching = null;
      if (again || waiting.size) catchUp(); // still a gap, or asked meanwhile
    });
  }

  async function fetchMissed() {
    const before = last;
    for (let round = 0; round < 20; round += 1) {
      let response;
      try {
        response = await fetch(`${eventsUrl}?after=${last}&epoch=${epoch}`, {
          credentials: "same-origin",
          // Asked by the page, not by the person: does not keep an idle session alive.
          headers: { Accept: "application/json", "X-Ccportal-Background": "1" },
        });
      } catch (error) {
        return; // offline: the reconnect asks again
      }
      if (response.status === 410) {
        await reload();
        return;
      }
      if (response.status === 401 || response.status === 403 || response.status === 404) {
        stop();
        return;
      }
      if (!response.ok) return; // throttled or failing: the next event or timer asks again
      const answer = await response.json();
      for (const event of answer.events) receive({ ...event, epoch: answer.epoch });
      drain();
      if (!answer.has_more) break;
    }
    if (last > before) document.dispatchEvent(new CustomEvent("ccportal:live-resync"));
  }

  async function reload() {
    try {
      const response = await fetch(snapshotUrl, {
        credentials: "same-origin",
        headers: { Accept: "text/html", "X-Ccportal-Background": "1" },
      });
      if (!response.ok || response.redirected) {
        stop();
        return;
      }
      const doc = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = doc.getElementById("transcript-body");
      if (!fresh) return;
      const node = document.importNode(fresh, true);
      body.replaceWith(node);
      body = node;
      epoch = Number(body.dataset.liveEpoch || 1);
      last = Number(body.dataset.liveSeq || 0);
      waiting.clear();
      updateCount();
      document.dispatchEvent(new CustomEvent("ccportal:live-resync"));
      catchUp(); // anything numbered since that snapshot
    } catch (error) {
      // The network blipped; the next reconnect or timer tries again.
    }
  }

  function quiet() {
    clearTimeout(quietTimer);
    quietTimer = setTimeout(() => {
      if (!stopped) catchUp();
      quiet();
    }, QUIET_MS);
  }

  // The socket ---------------------------------------------------------------------------------

  function connect() {
    if (stopped) return;
    show(opened ? "offline" : "connecting");
    const socket = new WebSocket(socketUrl);
    socket.addEventListener("open", () => {
      delay = MIN_DELAY;
      show(connected());
      opened = true;
      catchUp(); // whatever was numbered while the page loaded or the socket was away
      quiet();
    });
    socket.addEventListener("message", (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch (error) {
        return;
      }
      quiet();
      receive(message);
    });
    socket.addEventListener("close", (event) => {
      clearTimeout(quietTimer);
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
