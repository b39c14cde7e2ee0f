// The review form, keyboard first: j/k move between criteria, 1/2/3 answer met / not met / N/A,
// c and e go to the comment and the evidence, a shows the AI's evidence, Esc leaves a text
// field, Ctrl+Enter submits, ? lists the keys. Drafts save as you go (the server scores them
// with the rubric's own maths and answers with the new score). Transcript lines get a paperclip
// that attaches them as evidence to the selected criterion. Without this script the form is a
// plain form with a "Save draft" and a "Submit" button.
(() => {
  const form = document.querySelector("[data-review-form]");
  if (!form) return;
  const criteria = Array.from(form.querySelectorAll("[data-criterion]"));
  const status = form.querySelector("[data-save-status]");
  const dialog = document.querySelector("[data-shortcuts]");
  const draftUrl = form.dataset.draftUrl;
  const csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  let active = -1;

  // Scroll only the pane that holds ``element`` (the page itself never moves on large screens).
  function reveal(element, block) {
    const pane = element.closest(".review-pane");
    if (!pane || pane.scrollHeight <= pane.clientHeight) {
      element.scrollIntoView({ block, behavior: "smooth" });
      return;
    }
    const box = element.getBoundingClientRect();
    const view = pane.getBoundingClientRect();
    const footer = pane.querySelector(".review-actions");
    const bottom = view.bottom - (footer ? footer.offsetHeight + 8 : 0);
    let delta = 0;
    if (block === "center") delta = box.top - view.top - (view.height - box.height) / 2;
    else if (box.top < view.top + 8) delta = box.top - view.top - 8;
    else if (box.bottom > bottom) delta = box.bottom - bottom;
    if (delta) pane.scrollBy({ top: delta, behavior: "smooth" });
  }
  let saveTimer = null;
  let saving = false;
  let saveAgain = false;

  // Selecting a criterion ----------------------------------------------------------------------

  function select(index, { scroll = true, focus = true } = {}) {
    if (!criteria.length) return;
    const next = Math.max(0, Math.min(criteria.length - 1, index));
    if (active >= 0) {
      criteria[active].classList.remove("active");
      criteria[active].removeAttribute("aria-current");
    }
    active = next;
    const card = criteria[active];
    // A trusted criterion is folded: reaching it with the keyboard opens it (a click on its
    // summary toggles it as usual).
    const fold = card.querySelector("details.trusted-criterion");
    if (focus && fold && !fold.open) fold.open = true;
    card.classList.add("active");
    card.setAttribute("aria-current", "true");
    if (focus) card.focus({ preventScroll: true });
    if (scroll) reveal(card, "nearest");
    markEvidence();
  }

  criteria.forEach((card, index) => {
    card.addEventListener("focusin", () => {
      if (active !== index) select(index, { scroll: false, focus: false });
    });
    card.addEventListener("mousedown", () => {
      if (active !== index) select(index, { scroll: false, focus: false });
    });
  });

  function current() {
    return active >= 0 ? criteria[active] : null;
  }

  // Answers ------------------------------------------------------------------------------------

  function answer(card, value) {
    const radio = card.querySelector(`input[type=radio][value="${value}"]`);
    if (!radio) {
      flash("N/A is not allowed for this criterion: it always applies.");
      return false;
    }
    radio.checked = true;
    radio.dispatchEvent(new Event("change", { bubbles: true }));
    return true;
  }

  function refreshOverride(card) {
    const ai = card.dataset.aiOutcome;
    const chosen = card.querySelector("input[type=radio]:checked");
    const overridden = Boolean(ai && chosen && chosen.value !== ai);
    card.classList.toggle("overridden", overridden);
    const note = card.querySelector(".override-note");
    if (note) note.hidden = !overridden;
  }

  function flash(message) {
    if (!status || !message) return;
    status.textContent = message;
    status.classList.add("text-warning-emphasis");
    setTimeout(() => status.classList.remove("text-warning-emphasis"), 2500);
  }

  // Evidence -----------------------------------------------------------------------------------

  function evidenceInput(card) {
    return card ? card.querySelector(".criterion-evidence") : null;
  }

  function numbers(input) {
    return (input.value.match(/\d+/g) || []).map(Number);
  }

  function markEvidence() {
    const input = evidenceInput(current());
    const chosen = new Set(input ? numbers(input) : []);
    for (const line of document.querySelectorAll("[data-line]")) {
      const attached = chosen.has(Number(line.dataset.line));
      line.classList.toggle("is-evidence", attached);
      const button = line.querySelector("[data-attach]");
      if (button) {
        button.hidden = !current();
        button.classList.toggle("text-primary", attached);
        button.setAttribute("aria-pressed", attached ? "true" : "false");
      }
    }
  }

  function toggleLine(number) {
    const card = current();
    const input = evidenceInput(card);
    if (!input) return;
    const list = numbers(input);
    const at = list.indexOf(number);
    if (at >= 0) list.splice(at, 1);
    else list.push(number);
    input.value = list.sort((a, b) => a - b).join(", ");
    input.dispatchEvent(new Event("input", { bubbles: true }));
    markEvidence();
  }

  for (const button of document.querySelectorAll("[data-attach]")) {
    button.hidden = true;
    button.addEventListener("click", () => toggleLine(Number(button.dataset.attach)));
  }

  function showAiEvidence(card) {
    const link = card && card.querySelector("[data-goto]");
    if (!link) return;
    const line = document.getElementById(`comm-${link.dataset.goto}`);
    if (!line) return;
    reveal(line, "center");
    line.classList.add("evidence-focus");
    setTimeout(() => line.classList.remove("evidence-focus"), 1600);
  }

  for (const link of document.querySelectorAll("[data-goto]")) {
    link.addEventListener("click", (event) => {
      const line = document.getElementById(`comm-${link.dataset.goto}`);
      if (!line) return;
      event.preventDefault();
      reveal(line, "center");
      line.classList.add("evidence-focus");
      setTimeout(() => line.classList.remove("evidence-focus"), 1600);
    });
  }

  // Saving as you go ---------------------------------------------------------------------------

  function show(text, tone) {
    if (!status) return;
    status.textContent = text;
    status.classList.toggle("text-danger", tone === "error");
  }

  function paint(scores) {
    for (const [segment, score] of Object.entries(scores.segments || {})) {
      for (const slot of document.querySelectorAll(`[data-score="${segment}"]`)) {
        slot.textContent = score.score === null ? "—" : `${score.score.toFixed(1)}%`;
      }
    }
    const head = scores.headline;
    if (!head) return;
    const headline = document.querySelector('[data-score="headline"]');
    if (headline) headline.textContent = head.score === null ? "—" : head.score.toFixed(1);
    const answered = document.querySelector('[data-answered="headline"]');
    if (answered) answered.textContent = head.answered;
    const critical = document.querySelector('[data-critical="headline"]');
    if (critical) {
      critical.textContent = head.passed_critical ? "Critical steps passed" : "Critical step failed";
      critical.classList.toggle("text-bg-success", head.passed_critical);
      critical.classList.toggle("text-bg-danger", !head.passed_critical);
    }
  }

  async function save() {
    if (!draftUrl) return;
    if (saving) {
      saveAgain = true;
      return;
    }
    saving = true;
    show("Saving…");
    try {
      const response = await fetch(draftUrl, {
        method: "POST",
        body: new FormData(form),
        credentials: "same-origin",
        headers: { Accept: "application/json", "X-CSRFToken": csrf },
      });
      const body = await response.json().catch(() => ({}));
      if (response.ok) {
        paint(body);
        show(`Saved ${new Date(body.saved_at).toLocaleTimeString()}`);
      } else {
        const problems = Object.values(body.errors || {}).flat();
        show(`Not saved: ${problems[0] || body.detail || response.statusText}`, "error");
      }
    } catch (error) {
      show("Not saved: offline. Your answers are still here; they save when you change one.", "error");
    } finally {
      saving = false;
      if (saveAgain) {
        saveAgain = false;
        save();
      }
    }
  }

  function saveSoon(delay = 600) {
    if (!draftUrl) return;
    clearTimeout(saveTimer);
    saveTimer = setTimeout(save, delay);
  }

  form.addEventListener("change", (event) => {
    const card = event.target.closest("[data-criterion]");
    if (card) refreshOverride(card);
    saveSoon(150);
  });
  form.addEventListener("input", (event) => {
    if (event.target.matches(".criterion-evidence")) markEvidence();
    saveSoon();
  });
  form.addEventListener("submit", () => clearTimeout(saveTimer));

  // Keys ---------------------------------------------------------------------------------------

  function submit() {
    const button = form.querySelector("[data-submit]");
    if (!button) return;
    clearTimeout(saveTimer);
    if (form.requestSubmit) form.requestSubmit(button);
    else button.click();
  }

  function typing(target) {
    return target.matches("input:not([type=radio]):not([type=checkbox]), textarea, select, [contenteditable]");
  }

  document.addEventListener("keydown", (event) => {
    if (dialog && dialog.open) return;
    if ((event.ctrlKey || event.metaKey) && event.key === "Enter") {
      event.preventDefault();
      submit();
      return;
    }
    if (typing(event.target)) {
      if (event.key === "Escape") {
        event.preventDefault();
        const card = event.target.closest("[data-criterion]");
        if (card) card.focus({ preventScroll: true });
        else event.target.blur();
      }
      return;
    }
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    const card = current();
    switch (event.key) {
      case "j":
        event.preventDefault();
        select(active + 1);
        break;
      case "k":
        event.preventDefault();
        select(active < 0 ? 0 : active - 1);
        break;
      case "1":
      case "2":
      case "3":
        if (!card) select(0);
        event.preventDefault();
        answer(current(), { 1: "MET", 2: "NOT_MET", 3: "NA" }[event.key]);
        break;
      case "c":
        if (!card) return;
        event.preventDefault();
        card.querySelector(".criterion-comment").focus();
        break;
      case "e":
        if (!card) return;
        event.preventDefault();
        evidenceInput(card).focus();
        break;
      case "a":
        if (!card) return;
        event.preventDefault();
        showAiEvidence(card);
        break;
      case "?":
        event.preventDefault();
        if (dialog && dialog.showModal) dialog.showModal();
        break;
      default:
    }
  });

  for (const opener of document.querySelectorAll("[data-shortcuts-open]")) {
    opener.addEventListener("click", () => dialog && dialog.showModal && dialog.showModal());
  }

  // Start on the first criterion with a problem, else the first unanswered one, else the first.
  const start = Math.max(
    0,
    criteria.findIndex((card) => card.classList.contains("has-errors")) >= 0
      ? criteria.findIndex((card) => card.classList.contains("has-errors"))
      : criteria.findIndex((card) => !card.querySelector("input[type=radio]:checked"))
  );
  if (criteria.length) select(start, { scroll: false, focus: false });
  criteria.forEach(refreshOverride);
})();
