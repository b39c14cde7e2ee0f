// The wrap-up panel, live: it appears when the call ends (a "status" event from the page's
// live script, js/live-conversation.js), counts down to its deadline, saves through the API
// without leaving the page (an error keeps what the agent wrote), and follows saves made
// elsewhere. Without JavaScript the panel shows as of the page's load and the form posts.
(() => {
  const slot = () => document.querySelector("[data-wrapup-panel]");
  if (!slot() || !window.fetch) return;

  let dirty = false; // the agent typed since the panel was drawn

  // The cookie as it is now, not the token the panel was drawn with: signing in again (in
  // another tab, say) rotates the secret and leaves every drawn form's token stale.
  function csrf() {
    const match = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
    if (match) return decodeURIComponent(match[1]);
    const input = document.querySelector("[data-wrapup-panel] [name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  async function refresh() {
    const current = slot();
    if (!current) return;
    try {
      const response = await fetch(current.dataset.partialUrl, {
        credentials: "same-origin",
        headers: { Accept: "text/html" },
      });
      if (!response.ok || response.redirected) return;
      const doc = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = doc.querySelector("[data-wrapup-panel]");
      // The agent began typing while this was on its way: what they wrote wins.
      if (!fresh || dirty || !current.isConnected) return;
      current.replaceWith(document.importNode(fresh, true));
      dirty = false;
      wire();
    } catch (error) {
      // Offline: the next event or a reload brings it.
    }
  }

  function clock(seconds) {
    const s = Math.abs(Math.round(seconds));
    if (s >= 86400) return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
    if (s >= 3600) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  }

  function tick() {
    const badge = document.querySelector("[data-wrapup-panel] [data-due]");
    if (!badge) return;
    const left = (Date.parse(badge.dataset.due) - Date.now()) / 1000;
    if (Number.isNaN(left)) return;
    badge.textContent = left >= 0 ? `${clock(left)} left` : `Overdue ${clock(left)}`;
    badge.classList.toggle("text-bg-warning", left >= 0);
    badge.classList.toggle("text-bg-danger", left < 0);
  }

  function problem(form, message) {
    let box = form.querySelector("[data-wrapup-error]");
    if (!box) {
      box = document.createElement("div");
      box.className = "alert alert-danger py-2 small mb-0";
      box.setAttribute("role", "alert");
      box.dataset.wrapupError = "";
      box.dataset.testid = "wrapup-error";
      form.prepend(box);
    }
    box.textContent = message;
  }

  async function save(form) {
    const data = new FormData(form);
    const aiResult = data.get("ai_result");
    const body = {
      summary: data.get("summary") || "",
      topic: data.get("topic") || "",
      outcome: data.get("outcome") || "",
      revision: Number(data.get("revision") || 0),
      ai_summary_result: aiResult ? Number(aiResult) : null,
    };
    const button = form.querySelector("[type=submit]");
    button.disabled = true;
    try {
      const response = await fetch(form.dataset.apiUrl, {
        method: "PUT",
        credentials: "same-origin",
        headers: {
          "Content-Type": "application/json",
          Accept: "application/json",
          "X-CSRFToken": csrf(),
        },
        body: JSON.stringify(body),
      });
      if (response.ok) {
        dirty = false;
        await refresh();
        return;
      }
      let answer = {};
      try {
        answer = await response.json();
      } catch (error) {
        // not JSON: say what we know
      }
      const errors = answer.errors || (answer.extra && answer.extra.errors);
      const fields = errors ? Object.values(errors).flat().join(" ") : "";
      problem(form, `Not saved. ${fields || answer.detail || `The server answered ${response.status}.`}`);
    } catch (error) {
      problem(form, "Not saved: the portal cannot be reached. What you wrote is still here.");
    } finally {
      button.disabled = false;
    }
  }

  function wire() {
    const form = document.querySelector("[data-wrapup-panel] form[data-api-url]");
    tick();
    if (!form) return;
    form.addEventListener("input", () => {
      dirty = true;
    });
    form.addEventListener("submit", (event) => {
      if (!form.checkValidity()) return; // the browser shows what is missing
      event.preventDefault();
      save(form);
    });
    form.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        form.requestSubmit();
      }
    });
  }

  document.addEventListener("ccportal:live", (event) => {
    const { event: kind, payload } = event.detail;
    if (kind === "status" && payload && payload.ended && !slot().children.length) refresh();
    if (kind === "wrapup" && !dirty) refresh();
    // The AI's final summary often lands just after the call ended: prefill with it, unless
    // the agent began writing or saved already.
    const unsaved = slot().querySelector("form [name=revision][value='0']");
    if (kind === "insights" && payload && payload.data && payload.data.summary && unsaved && !dirty) {
      refresh();
    }
  });
  document.addEventListener("ccportal:live-resync", () => {
    if (!dirty) refresh();
  });
  wire();
  setInterval(tick, 1000);
})();
