// The rule form, made a little smarter where JavaScript runs (the form works without it; the
// service checks everything again):
// - "Every N communications" shows only for the COMMUNICATION trigger (otherwise N is 1);
// - the flag's condition shows only when the flag is on;
// - the flag's operator list offers only the operators ticked to run.
(function () {
  "use strict";
  const trigger = document.getElementById("id_trigger_on");
  if (!trigger) return;
  const form = trigger.form;
  const everyN = document.getElementById("id_every_n");
  const flag = document.getElementById("id_flag");
  const flagOperator = document.getElementById("id_flag_operator");
  const conditionIds = ["id_flag_operator", "id_flag_field", "id_flag_op", "id_flag_value", "id_flag_reason"];

  function wrapper(element) {
    return element && (element.closest(".col-md-5, .col-6") || element.closest(".mb-3"));
  }

  function syncTrigger() {
    if (!everyN) return;
    const perCommunication = trigger.value === "COMMUNICATION";
    const box = wrapper(everyN);
    if (box) box.hidden = !perCommunication;
    if (!perCommunication) everyN.value = "1";
  }

  function syncFlag() {
    if (!flag) return;
    conditionIds.forEach(function (id) {
      const box = wrapper(document.getElementById(id));
      if (box) box.hidden = !flag.checked;
    });
    const note = flag.closest(".card-body") && flag.closest(".card-body").querySelector("p.small");
    if (note) note.hidden = !flag.checked;
  }

  function syncOperators() {
    if (!flagOperator) return;
    const ticked = new Set();
    form.querySelectorAll("tr[data-operator]").forEach(function (row) {
      const box = row.querySelector("input[type=checkbox]");
      if (box && box.checked) ticked.add(row.dataset.operator);
    });
    Array.from(flagOperator.options).forEach(function (option) {
      if (!option.value) return; // "any run"
      option.hidden = !ticked.has(option.value);
    });
    const selected = flagOperator.selectedOptions[0];
    if (selected && selected.hidden) flagOperator.value = "";
  }

  trigger.addEventListener("change", syncTrigger);
  if (flag) flag.addEventListener("change", syncFlag);
  form.addEventListener("change", function (event) {
    if (event.target.closest("tr[data-operator]")) syncOperators();
  });
  syncTrigger();
  syncFlag();
  syncOperators();
})();
