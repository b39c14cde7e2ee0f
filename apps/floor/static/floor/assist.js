// Alerts and tips on a conversation's pages (the agent's assist view above all): "alert" and
// "tip" events from the page's live script (js/live-conversation.js, which orders them and
// fetches any it missed) are added as they arrive; a supervisor's tip form sends through the
// API without leaving the page. Without JavaScript the panel shows as of the page's load.
(() => {
  const panel = document.querySelector("[data-live-coaching]");
  if (!panel || !window.fetch) return;
  const alerts = panel.querySelector("[data-alert-list]");
  const tips = panel.querySelector("[data-tip-list]");
  const form = panel.querySelector("[data-tip-form]");
  const SEVERITY = { critical: "danger", warning: "warning", info: "info" };

  function addAlert(alert) {
    const known = alerts.querySelector(`[data-alert-id="${alert.id}"]`);
    const li = document.createElement("li");
    li.className = `small alert alert-${SEVERITY[alert.severity] || "info"} py-1 px-2 mb-0`;
    li.dataset.testid = "alert";
    li.dataset.alertId = alert.id;
    const title = document.createElement("strong");
    title.textContent = alert.title;
    li.append(title);
    if (alert.detail) li.append(` · ${alert.detail}`);
    if (known) known.replaceWith(li);
    else alerts.prepend(li);
    panel.hidden = false;
  }

  function addTip(tip) {
    if (tips.querySelector(`[data-tip-id="${tip.id}"]`)) return;
    const li = document.createElement("li");
    li.className = "small border-start border-3 border-primary ps-2 line-new";
    li.dataset.testid = "tip";
    li.dataset.tipId = tip.id;
    const who = document.createElement("span");
    who.className = "text-body-secondary";
    who.textContent = `${tip.author} · ${new Date(tip.created_at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hourCycle: "h23" })}`;
    li.append(who, document.createElement("br"), tip.text);
    tips.prepend(li);
    panel.hidden = false;
  }

  document.addEventListener("ccportal:live", (event) => {
    const { event: kind, payload } = event.detail;
    if (kind === "alert") addAlert(payload);
    if (kind === "tip") addTip(payload);
  });

  form?.addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = form.querySelector("[name=text]");
    // The cookie as it is now (a sign-in elsewhere rotates it), else the form's token.
    const cookie = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
    const token = cookie ? decodeURIComponent(cookie[1]) : form.querySelector("[name=csrfmiddlewaretoken]").value;
    const button = form.querySelector("[type=submit]");
    button.disabled = true;
    try {
      const response = await fetch(panel.dataset.tipsUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": token },
        body: JSON.stringify({ text: input.value }),
      });
      if (response.ok) {
        addTip(await response.json());
        input.value = "";
        input.setCustomValidity("");
      } else {
        const answer = await response.json().catch(() => ({}));
        const errors = answer.errors || (answer.extra && answer.extra.errors) || {};
        input.setCustomValidity(Object.values(errors).flat().join(" ") || answer.detail || "Not sent.");
        input.reportValidity();
      }
    } catch (error) {
      input.setCustomValidity("Not sent: the portal cannot be reached.");
      input.reportValidity();
    } finally {
      button.disabled = false;
    }
  });
  form?.querySelector("[name=text]").addEventListener("input", (event) => event.target.setCustomValidity(""));
})();
