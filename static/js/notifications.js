// The bell: the unread count updates live (a WebSocket on the user's own group), the drop-down
// loads the latest notifications when opened, and a new one shows briefly as a toast. Without
// this script the bell is a link to the notifications page and the count is as of page load.
(() => {
  const root = document.querySelector("[data-notifications]");
  if (!root || !window.fetch) return;
  const badge = root.querySelector("[data-unread]");
  const body = root.querySelector("[data-menu-body]");
  const bell = root.querySelector(".bell");
  const menuUrl = root.dataset.menu;
  let open = false;

  function setUnread(count) {
    const n = Number(count) || 0;
    badge.textContent = n > 99 ? "99+" : String(n);
    badge.hidden = n === 0;
    bell.setAttribute("aria-label", n ? `Notifications: ${n} unread` : "Notifications");
  }

  async function loadMenu() {
    try {
      const response = await fetch(menuUrl, { credentials: "same-origin", headers: { Accept: "text/html" } });
      if (!response.ok) return;
      body.innerHTML = await response.text();
      const holder = body.querySelector("[data-unread-count]");
      if (holder) setUnread(holder.dataset.unreadCount);
    } catch (error) {
      /* offline: the menu keeps what it had */
    }
  }

  root.addEventListener("show.bs.dropdown", () => {
    open = true;
    loadMenu();
  });
  root.addEventListener("hidden.bs.dropdown", () => {
    open = false;
  });

  function toast(item) {
    const box = document.createElement("div");
    box.className = "toast show align-items-center border-0 shadow notification-toast";
    box.setAttribute("role", "status");
    box.dataset.testid = "notification-toast";
    const inner = document.createElement("div");
    inner.className = "d-flex";
    const text = document.createElement(item.url ? "a" : "div");
    text.className = "toast-body text-reset text-decoration-none";
    if (item.url) text.href = item.url;
    const title = document.createElement("strong");
    title.className = "d-block";
    title.textContent = item.title;
    text.append(title);
    if (item.body) {
      const detail = document.createElement("span");
      detail.className = "small text-body-secondary";
      detail.textContent = item.body;
      text.append(detail);
    }
    const close = document.createElement("button");
    close.type = "button";
    close.className = "btn-close me-2 m-auto";
    close.setAttribute("aria-label", "Close");
    close.addEventListener("click", () => box.remove());
    inner.append(text, close);
    box.append(inner);
    let stack = document.querySelector(".notification-toasts");
    if (!stack) {
      stack = document.createElement("div");
      stack.className = "toast-container position-fixed bottom-0 end-0 p-3 notification-toasts";
      stack.setAttribute("aria-live", "polite");
      document.body.append(stack);
    }
    stack.append(box);
    setTimeout(() => box.remove(), 8000);
  }

  if (!("WebSocket" in window)) return;
  const scheme = window.location.protocol === "https:" ? "wss" : "ws";
  const url = `${scheme}://${window.location.host}${root.dataset.socket}`;
  let delay = 1000;
  let everOpened = false;

  function connect() {
    const socket = new WebSocket(url);
    socket.addEventListener("open", () => {
      delay = 1000;
      // Anything sent while we were away: the menu's count is the truth.
      if (everOpened) loadMenu();
      everOpened = true;
    });
    socket.addEventListener("message", (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch (error) {
        return;
      }
      if (message.event !== "notification") return;
      const payload = message.payload || {};
      if ("unread" in payload) setUnread(payload.unread);
      if (payload.notification) {
        toast(payload.notification);
        if (open) loadMenu();
      }
    });
    socket.addEventListener("close", (event) => {
      if (event.code === 4403 || event.code === 4401) return;
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    });
  }
  connect();
})();
