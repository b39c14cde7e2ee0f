// The impact preview's progress bar: polls the preview's API while it runs, then reloads the
// page to show the results (or the error). Polls every second, backing off to five while queued.
(function () {
  "use strict";
  const box = document.getElementById("impact-progress");
  if (!box) return;
  const url = box.dataset.statusUrl;
  const bar = document.getElementById("impact-progress-bar");
  const count = document.getElementById("impact-progress-count");
  const label = document.getElementById("impact-progress-label");
  const meter = box.querySelector("[role=progressbar]");
  const number = new Intl.NumberFormat();
  let delay = 1000;

  function show(preview) {
    const percent = Math.round(100 * (preview.progress || 0));
    bar.style.width = percent + "%";
    bar.textContent = percent + "%";
    meter.setAttribute("aria-valuenow", String(percent));
    count.textContent = number.format(preview.done) + " of " + number.format(preview.total);
    label.textContent =
      preview.status === "QUEUED"
        ? "Waiting for a worker…"
        : preview.done
          ? "Re-scoring conversations…"
          : "Reading the stored answers and transcripts…";
  }

  async function poll() {
    try {
      const response = await fetch(url, { headers: { Accept: "application/json" } });
      if (response.ok) {
        const preview = await response.json();
        if (preview.status === "DONE" || preview.status === "FAILED") {
          window.location.reload();
          return;
        }
        show(preview);
        delay = preview.status === "QUEUED" ? Math.min(delay * 1.5, 5000) : 1000;
      } else {
        delay = Math.min(delay * 2, 10000);
      }
    } catch (error) {
      delay = Math.min(delay * 2, 10000);
    }
    window.setTimeout(poll, delay);
  }

  window.setTimeout(poll, delay);
})();
