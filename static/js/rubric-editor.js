// The rubric draft editor: add, remove and reorder sections, criteria and phrases, and keep the
// weight totals live. Fields are named by their path ("sections-0-criteria-1-key"); after every
// change the whole form is renumbered from the page order, so the server reads the lists in the
// order shown. Without this script the form still saves what the server rendered.
(() => {
  const form = document.querySelector("[data-rubric-editor]");
  if (!form) return;

  const LEVELS = ["section", "criterion", "phrase"];
  const template = (id) => document.getElementById(id).content.firstElementChild.cloneNode(true);
  const sectionsBox = form.querySelector("[data-sections]");

  const number = (value) => {
    const n = Number(String(value || "").trim().replace(",", "."));
    return Number.isFinite(n) ? n : 0;
  };
  const format = (n) => String(Math.round(n * 100) / 100);
  const checked = (name) => form.querySelector(`[name="${name}"]:checked`)?.value;
  const own = (container, level, selector) =>
    [...container.querySelectorAll(selector)].filter(
      (el) => el.closest(`[data-${level}]`) === container,
    );

  // Names, ids and labels from the page order.
  function setNames(container, level, prefix) {
    container.id = prefix;
    for (const el of own(container, level, `[data-${level}-field]`)) {
      el.name = `${prefix}-${el.dataset[`${level}Field`]}`;
      el.id = `f-${el.name}`;
    }
    for (const label of own(container, level, `[data-${level}-label]`)) {
      label.htmlFor = `f-${prefix}-${label.dataset[`${level}Label`]}`;
    }
  }

  function renumber() {
    const sections = [...sectionsBox.querySelectorAll("[data-section]")];
    sections.forEach((section, i) => {
      const sp = `sections-${i}`;
      setNames(section, "section", sp);
      section.querySelector("[data-section-number]").textContent = i + 1;
      section.querySelector("[data-criteria]").id = `${sp}-criteria`;
      const criteria = [...section.querySelectorAll("[data-criterion]")];
      criteria.forEach((criterion, j) => {
        const cp = `${sp}-criteria-${j}`;
        setNames(criterion, "criterion", cp);
        criterion.querySelector("[data-criterion-number]").textContent = j + 1;
        criterion.querySelector("[data-phrases]").id = `${cp}-phrases`;
        [...criterion.querySelectorAll("[data-phrase]")].forEach((phrase, k) =>
          setNames(phrase, "phrase", `${cp}-phrases-${k}`),
        );
        toggleMove(criterion, "criterion", j, criteria.length, i, sections.length);
      });
      section.querySelector("[data-no-criteria]")?.classList.toggle("d-none", criteria.length > 0);
      toggleMove(section, "section", i, sections.length);
    });
    form.querySelector("[data-no-sections]")?.classList.toggle("d-none", sections.length > 0);
    update();
  }

  // Up at the top of a section moves a criterion into the previous section (down likewise).
  function toggleMove(el, level, index, count, sectionIndex = 0, sectionCount = 1) {
    const up = el.querySelector(`[data-action="${level}-up"]`);
    const down = el.querySelector(`[data-action="${level}-down"]`);
    if (up && up.closest(`[data-${level}]`) === el) up.disabled = index === 0 && sectionIndex === 0;
    if (down && down.closest(`[data-${level}]`) === el)
      down.disabled = index === count - 1 && sectionIndex === sectionCount - 1;
  }

  function move(el, level, direction) {
    const siblings = el.parentElement;
    if (direction < 0) {
      const previous = el.previousElementSibling;
      if (previous?.matches(`[data-${level}]`)) siblings.insertBefore(el, previous);
      else if (level === "criterion") {
        const section = el.closest("[data-section]").previousElementSibling;
        if (section?.matches("[data-section]")) section.querySelector("[data-criteria]").append(el);
      }
    } else {
      const next = el.nextElementSibling;
      if (next?.matches(`[data-${level}]`)) siblings.insertBefore(next, el);
      else if (level === "criterion") {
        const section = el.closest("[data-section]").nextElementSibling;
        if (section?.matches("[data-section]")) section.querySelector("[data-criteria]").prepend(el);
      }
    }
    renumber();
    el.querySelector(`[data-action="${level}-${direction < 0 ? "up" : "down"}"]`)?.focus();
    el.scrollIntoView({ block: "nearest" });
    changed();
  }

  function addCriterion(section, focus = true) {
    const criterion = template("tpl-criterion");
    section.querySelector("[data-criteria]").append(criterion);
    renumber();
    if (focus) criterion.querySelector('[data-criterion-field="name"]').focus();
    return criterion;
  }

  // Weight fields that the scoring settings ignore are shown disabled (and not sent), and the
  // totals follow every keystroke.
  function update() {
    const bySection = checked("weighting") !== "BY_CRITERION";
    const separate = checked("critical_mode") === "SEPARATE_SCORE";
    let overall = 0;
    for (const section of sectionsBox.querySelectorAll("[data-section]")) {
      const sectionWeight = section.querySelector('[data-section-field="weight"]');
      // A weight the mode ignores stays in view while it carries a message ("remove it").
      const weightBox = section.querySelector("[data-section-weight]");
      const flagged = weightBox.querySelector("[data-testid=field-error]") !== null;
      weightBox.classList.toggle("d-none", !bySection && !flagged);
      sectionWeight.disabled = !bySection;
      let subtotal = 0;
      let counting = 0;
      let weighted = 0;
      for (const criterion of section.querySelectorAll("[data-criterion]")) {
        const kind = criterion.querySelector('[data-criterion-field="kind"]').value;
        const counts = kind === "SCORED" || (kind === "CRITICAL" && !separate);
        const weight = criterion.querySelector('[data-criterion-field="weight"]');
        weight.disabled = !counts;
        weight.placeholder = counts ? (bySection ? "equal" : "0") : "not scored";
        criterion.querySelector("[data-weight-unit]").classList.toggle("d-none", bySection);
        criterion.querySelector("[data-weight-label]").textContent = bySection
          ? "Relative weight"
          : "Weight";
        if (!counts) continue;
        counting += 1;
        if (weight.value.trim()) weighted += 1;
        subtotal += number(weight.value);
      }
      const badge = section.querySelector("[data-section-subtotal]");
      if (bySection) {
        overall += number(sectionWeight.value);
        badge.textContent = !counting
          ? "nothing scored"
          : weighted
            ? `criteria weigh ${format(subtotal)} in all`
            : "criteria share equally";
      } else {
        overall += subtotal;
        badge.textContent = `${format(subtotal)}% of the score`;
      }
    }
    const box = form.querySelector("[data-weights-total]");
    const total = Math.round(overall * 100) / 100;
    box.querySelector("[data-total-label]").textContent = bySection
      ? "Section weights"
      : "Criterion weights";
    box.querySelector("[data-total-value]").textContent = `${format(total)}%`;
    const bar = box.querySelector("[data-total-bar]");
    bar.style.width = `${Math.min(total, 100)}%`;
    const state = total === 100 ? "ok" : total > 100 ? "over" : "under";
    box.dataset.state = state;
    bar.className = `progress-bar ${state === "ok" ? "bg-success" : state === "over" ? "bg-danger" : "bg-warning"}`;
    box.querySelector("[data-total-hint]").textContent =
      state === "ok"
        ? "Totals 100%: ready."
        : state === "over"
          ? `${format(total - 100)}% too much: they must total 100%.`
          : `${format(100 - total)}% left to give: they must total 100%.`;
  }

  function changed() {
    form.dataset.dirty = "true";
    form.querySelector("[data-unsaved]")?.classList.remove("d-none");
  }

  form.addEventListener("click", (event) => {
    const button = event.target.closest("[data-action]");
    if (!button || !form.contains(button)) return;
    const action = button.dataset.action;
    const section = button.closest("[data-section]");
    const criterion = button.closest("[data-criterion]");
    if (action === "add-section") {
      const added = template("tpl-section");
      sectionsBox.append(added);
      addCriterion(added, false);
      added.querySelector('[data-section-field="name"]').focus();
    } else if (action === "remove-section") {
      section.remove();
      renumber();
    } else if (action === "section-up" || action === "section-down") {
      move(section, "section", action === "section-up" ? -1 : 1);
    } else if (action === "add-criterion") {
      addCriterion(section);
    } else if (action === "remove-criterion") {
      criterion.remove();
      renumber();
    } else if (action === "criterion-up" || action === "criterion-down") {
      move(criterion, "criterion", action === "criterion-up" ? -1 : 1);
    } else if (action === "add-phrase") {
      const phrase = template("tpl-phrase");
      criterion.querySelector("[data-phrases]").append(phrase);
      renumber();
      phrase.querySelector('[data-phrase-field="text"]').focus();
    } else if (action === "remove-phrase") {
      button.closest("[data-phrase]").remove();
      renumber();
    } else {
      return;
    }
    changed();
  });

  form.addEventListener("input", (event) => {
    changed();
    const field = event.target;
    for (const level of LEVELS.slice(0, 2)) {
      if (field.dataset[`${level}Field`] !== "name") continue;
      const box = field.closest(`[data-${level}]`);
      const title = box.querySelector(`[data-${level}-title]`);
      title.textContent = field.value.trim() || title.dataset.empty;
      const key = own(box, level, `[data-${level}-field="key"]`)[0];
      key.placeholder = slug(field.value) || "from the name";
    }
    update();
  });
  form.addEventListener("change", update);
  form.addEventListener("submit", () => {
    delete form.dataset.dirty;
  });

  // Mirrors apps.rubrics.validation.normalise_key, to show the key a blank field will get.
  function slug(text) {
    return text
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\p{M}]+/gu, "_")
      .replace(/^_+|_+$/g, "");
  }

  renumber();
  form.dataset.ready = "true";
})();
