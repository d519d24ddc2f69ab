// breakglass dashboard: refresh the live timeline fragment and count regulatory clocks down.
// No framework: a fetch every few seconds, same origin, with the session cookie.
(function () {
  "use strict";

  function refresh(box) {
    var url = box.getAttribute("data-refresh");
    var every = Math.max(2, parseInt(box.getAttribute("data-every") || "5", 10)) * 1000;
    function tick() {
      if (document.hidden) { return; }
      fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (r) {
          if (r.ok && !r.redirected) { return r.text(); }
          throw new Error(String(r.status));
        })
        .then(function (html) {
          // The fragment is server-rendered with autoescaping; it replaces the box's content.
          if (box.innerHTML !== html) { box.innerHTML = html; }
          box.removeAttribute("data-stale");
        })
        .catch(function () { box.setAttribute("data-stale", "true"); });
    }
    window.setInterval(tick, every);
  }

  function pad(n) { return n < 10 ? "0" + n : String(n); }

  function countdown(el) {
    var due = Date.parse(el.getAttribute("data-due"));
    if (isNaN(due)) { return; }
    function tick() {
      var left = Math.round((due - Date.now()) / 1000);
      var sign = left < 0 ? "overdue " : "";
      left = Math.abs(left);
      var d = Math.floor(left / 86400), h = Math.floor((left % 86400) / 3600);
      var m = Math.floor((left % 3600) / 60), s = left % 60;
      el.textContent = sign + (d ? d + "d " : "") + pad(h) + ":" + pad(m) + ":" + pad(s);
      el.classList.toggle("late", sign !== "");
    }
    tick();
    window.setInterval(tick, 1000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll("[data-refresh]"), refresh);
    Array.prototype.forEach.call(document.querySelectorAll(".countdown[data-due]"), countdown);
  });
})();
