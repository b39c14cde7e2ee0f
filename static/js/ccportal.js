// Small progressive enhancements on top of htmx; every page works without this file.
(() => {
  // GET forms: leave empty fields out of the request, so pushed URLs stay short and shareable.
  document.addEventListener("htmx:configRequest", (event) => {
    if (event.detail.verb !== "get") return;
    const data = event.detail.formData;
    for (const key of Array.from(new Set(data.keys()))) {
      if (data.getAll(key).every((value) => value === "")) data.delete(key);
    }
  });

  // A whole page where a fragment was expected (signed out, then redirected to the login page):
  // navigate to it instead of nesting a page inside the current one.
  document.addEventListener("htmx:beforeSwap", (event) => {
    const xhr = event.detail.xhr;
    if (/^\s*<!doctype html/i.test(xhr.responseText) && xhr.responseURL) {
      event.detail.shouldSwap = false;
      window.location.assign(xhr.responseURL);
    }
  });

  // <form data-confirm="Sure?">: ask before submitting (no inline handlers, for a strict CSP).
  document.addEventListener("submit", (event) => {
    const message = event.target.dataset?.confirm;
    if (message && !window.confirm(message)) event.preventDefault();
  });

  // <button data-copy="#id">: copy that field's value, and say so on the button.
  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-copy]");
    const field = button && document.querySelector(button.dataset.copy);
    if (!field) return;
    field.select();
    navigator.clipboard?.writeText(field.value).then(() => {
      button.textContent = "Copied";
    });
  });
})();
