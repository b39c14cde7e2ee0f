// The sampling calculator on the policy form: reviews per agent for a QA score within ± X points
// (n = (z * sd / X)^2, at least 2) and for a pass rate within ± X percentage points
// (n = z^2 p (1 - p) / X^2, at least 1), the same formulas as apps.qa.stats.reviews_needed and
// reviews_needed_rate (and GET /api/qa/sampling-calculator/). Recomputed as the user types.
(function () {
  "use strict";

  const root = document.querySelector('[data-testid="sampling-calculator"]');
  const data = document.getElementById("sampling-basis");
  if (!root || !data) return;
  const basis = JSON.parse(data.textContent);
  const z = basis.z;
  const form = root.closest("form");
  const maxQuota = Number(root.dataset.maxQuota || 1000);
  const pointsInput = root.querySelector("#calc-points");
  const ratePointsInput = root.querySelector("#calc-rate-points");
  const error = root.querySelector("[data-calc-error]");
  const note = root.querySelector("[data-calc-note]");
  const figures = { score: null, worst: null, observed: null };

  function reviewsNeeded(halfWidth, sd) {
    return Math.max(2, Math.ceil(Math.pow((z * sd) / halfWidth, 2)));
  }

  function reviewsNeededRate(halfWidth, p) {
    return Math.max(1, Math.ceil((z * z * p * (1 - p)) / (halfWidth * halfWidth)));
  }

  function valid(input, below) {
    const value = Number(input.value);
    return input.value.trim() !== "" && Number.isFinite(value) && value > 0 && value < below ? value : null;
  }

  function periodWord() {
    const select = form && form.querySelector("#id_period");
    return select ? select.options[select.selectedIndex].text.toLowerCase() : "period";
  }

  function show(selector, value) {
    const el = root.querySelector(selector);
    if (el) el.textContent = value === null ? "—" : value.toLocaleString();
  }

  function update() {
    const period = periodWord();
    root.querySelectorAll("[data-calc-period]").forEach((el) => { el.textContent = period; });
    const problems = [];
    const points = valid(pointsInput, 100);
    const ratePoints = valid(ratePointsInput, 50);
    if (points === null) problems.push("Type the score precision as points above 0 and below 100.");
    if (ratePoints === null) problems.push("Type the pass-rate precision as points above 0 and below 50.");
    pointsInput.classList.toggle("is-invalid", points === null);
    ratePointsInput.classList.toggle("is-invalid", ratePoints === null);
    figures.score = points === null ? null : reviewsNeeded(points, basis.sd);
    figures.worst = ratePoints === null ? null : reviewsNeededRate(ratePoints / 100, 0.5);
    figures.observed = ratePoints === null || basis.pass_rate === null ? null : reviewsNeededRate(ratePoints / 100, basis.pass_rate);
    show("[data-calc-score]", figures.score);
    root.querySelector("[data-calc-score-unit]").textContent =
      (figures.score === 1 ? "review" : "reviews") + " per agent per " + period;
    show("[data-calc-rate-worst]", figures.worst);
    show("[data-calc-rate-observed]", figures.observed);
    root.querySelectorAll("[data-calc-use]").forEach((button) => {
      const value = figures[button.dataset.calcUse];
      button.disabled = value === null || value > maxQuota;
      button.title = value !== null && value > maxQuota ? "More than the largest quota (" + maxQuota + ")" : "";
    });
    error.hidden = problems.length === 0;
    error.textContent = problems.join(" ");
  }

  function use(which) {
    const value = figures[which];
    if (!form || value === null) return;
    const perAgent = form.querySelector('input[name="quota_kind"][value="PER_AGENT"]');
    const count = form.querySelector("#id_quota_count");
    if (perAgent) perAgent.checked = true;
    if (count) {
      count.value = value;
      count.dispatchEvent(new Event("change", { bubbles: true }));
      count.focus();
    }
    note.textContent = "The quota is now " + value + " conversations per agent per " + periodWord() + ". Save the policy to keep it.";
  }

  root.querySelectorAll("[data-calc-use]").forEach((button) => {
    button.addEventListener("click", () => use(button.dataset.calcUse));
  });
  [pointsInput, ratePointsInput].forEach((input) => input.addEventListener("input", update));
  const period = form && form.querySelector("#id_period");
  if (period) period.addEventListener("change", update);
  update();
})();
