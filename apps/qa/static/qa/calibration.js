// The calibration form's conversation picker: filter as you type, count what is ticked.
(function () {
  const filter = document.getElementById("picker-filter");
  if (!filter) return;
  const rows = Array.from(document.querySelectorAll("[data-search]"));
  const count = document.querySelector("[data-testid=picked-count]");
  const recount = () => { count.textContent = document.querySelectorAll("input[name=conversations]:checked").length + " picked"; };
  filter.addEventListener("input", () => {
    const words = filter.value.toLowerCase().split(/\s+/).filter(Boolean);
    rows.forEach((row) => { row.hidden = !words.every((w) => row.dataset.search.includes(w)); });
  });
  filter.addEventListener("keydown", (event) => { if (event.key === "Enter") event.preventDefault(); });
  document.addEventListener("change", (event) => { if (event.target.name === "conversations") recount(); });
  recount();
})();
