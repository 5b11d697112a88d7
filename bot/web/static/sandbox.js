/* The sandbox's thread, live: re-read every second (an unchanged thread is a 304), and
   messages sent without reloading the page. Without this script the page still works:
   the form posts and the page comes back with the thread. */
(function () {
  "use strict";
  var thread = document.getElementById("sb-thread");
  var form = document.getElementById("sb-compose");
  var box = document.getElementById("sb-body");
  if (!thread || !form || !box || !window.fetch) return;
  var source = thread.getAttribute("data-src");
  var etag = null;
  var sending = false;
  var timer = null;

  function nonce() {
    return Date.now().toString(36) + Math.random().toString(36).slice(2, 12);
  }
  function atBottom() {
    var page = document.documentElement;
    return window.innerHeight + window.scrollY >= page.scrollHeight - 96;
  }
  function toBottom() {
    var end = document.getElementById("latest");
    if (end) end.scrollIntoView({ block: "end" });
  }
  function show(html, follow) {
    // Only what changed is touched: a screen reader hears the new messages (aria-live),
    // not the whole thread again, and a focused button stays where it is.
    var stay = follow || atBottom();
    var fresh = document.createElement("template");
    fresh.innerHTML = html;
    var wanted = {};
    Array.prototype.forEach.call(fresh.content.children, function (item) { wanted[item.id] = true; });
    Array.prototype.slice.call(thread.children).forEach(function (item) {
      if (!wanted[item.id]) thread.removeChild(item);
    });
    var at = 0;
    Array.prototype.slice.call(fresh.content.children).forEach(function (item) {
      var old = item.id ? document.getElementById(item.id) : null;
      if (old && old.parentNode === thread) {
        if (old.innerHTML !== item.innerHTML || old.className.replace(" sb-new", "") !== item.className) {
          thread.replaceChild(item, old);
        } else {
          item = old;
        }
      } else {
        item.classList.add("sb-new");  // arrives, gently
      }
      var here = thread.children[at] || null;
      if (here !== item) thread.insertBefore(item, here);
      at += 1;
    });
    if (stay) toBottom();
  }
  function later() {
    clearTimeout(timer);
    timer = setTimeout(refresh, document.hidden ? 5000 : 1000);
  }
  function refresh() {
    if (sending) return later();
    var headers = { Accept: "text/html" };
    if (etag) headers["If-None-Match"] = etag;
    fetch(source, { headers: headers, cache: "no-store", credentials: "same-origin" })
      .then(function (response) {
        if (response.status !== 200) return null;
        etag = response.headers.get("ETag");
        return response.text().then(function (html) { show(html, false); });
      })
      .catch(function () { /* offline for a moment: try again at the next tick */ })
      .then(later);
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var data = new URLSearchParams(new FormData(form));
    var by = event.submitter;
    if (by && by.name) data.set(by.name, by.value);
    if (!data.get("choice") && !(data.get("body") || "").trim()) return;
    data.set("nonce", nonce());  // each message its own: a repeat of one is sent once
    sending = true;
    form.classList.add("sb-busy");
    var url = form.action + (form.action.indexOf("?") < 0 ? "?" : "&") + "fragment=1";
    fetch(url, { method: "POST", body: data, credentials: "same-origin",
                 headers: { Accept: "text/html" } })
      .then(function (response) {
        if (!response.ok) throw new Error(String(response.status));
        return response.text();
      })
      .then(function (html) {
        if (!by || by.name !== "choice") box.value = "";
        etag = null;
        show(html, true);
      })
      .catch(function () { form.classList.add("sb-failed"); })
      .then(function () {
        sending = false;
        form.classList.remove("sb-busy");
      });
  });
  box.addEventListener("input", function () { form.classList.remove("sb-failed"); });
  box.addEventListener("keydown", function (event) {
    // Enter sends, Shift+Enter is a new line; never while an input method is composing.
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      if (form.requestSubmit) form.requestSubmit(); else form.submit();
    }
  });
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) refresh();
  });
  toBottom();
  later();
})();
