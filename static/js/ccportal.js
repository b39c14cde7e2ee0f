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

  // What inline attributes used to do; the Content-Security-Policy forbids inline script and
  // style (docs/security.md), so pages mark elements with data attributes instead.

  // data-bar-width="42.5": a bar's width in percent, set through the CSSOM (which the policy
  // allows), on the page and on whatever htmx or a script adds later.
  const sizeBars = (root) => {
    const bars = root.matches?.("[data-bar-width]") ? [root] : [];
    bars.push(...(root.querySelectorAll?.("[data-bar-width]") ?? []));
    for (const bar of bars) {
      const percent = Math.max(0, Math.min(100, Number.parseFloat(bar.dataset.barWidth) || 0));
      bar.style.width = `${percent}%`;
    }
  };
  sizeBars(document);
  new MutationObserver((changes) => {
    for (const change of changes) {
      for (const node of change.addedNodes) {
        if (node.nodeType === Node.ELEMENT_NODE) sizeBars(node);
      }
      if (change.type === "attributes") sizeBars(change.target);
    }
  }).observe(document.documentElement, {
    childList: true,
    subtree: true,
    attributes: true,
    attributeFilter: ["data-bar-width"],
  });

  // <form data-confirm="Sure?">: asks before it is sent.
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

  // <select data-autosubmit>: sends its form when changed.
  document.addEventListener("change", (event) => {
    const field = event.target;
    if (field.matches?.("[data-autosubmit]") && field.form) field.form.requestSubmit();
  });

  // <a data-back href="fallback">: back in the history, or to the fallback when opened afresh.
  document.addEventListener("click", (event) => {
    const link = event.target.closest?.("a[data-back]");
    if (!link || event.defaultPrevented || event.button !== 0 || event.ctrlKey || event.metaKey) {
      return;
    }
    if (window.history.length > 1 && document.referrer) {
      event.preventDefault();
      window.history.back();
    }
  });
})();
