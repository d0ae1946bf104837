// Herald's dashboard script: live refresh of lists, and the portal's key
// exchange. No framework, no build step.
(function () {
  "use strict";

  // Live regions: every element with data-live and an id is refreshed by
  // fetching the page again and swapping in the same element's new
  // content. A region the user is typing in is left alone.
  function refresh() {
    var regions = document.querySelectorAll("[data-live][id]");
    if (!regions.length || document.visibilityState !== "visible") return Promise.resolve();
    return fetch(location.href, { headers: { "X-Herald-Live": "1" }, credentials: "same-origin" })
      .then(function (res) { return res.ok ? res.text() : null; })
      .then(function (html) {
        if (!html) return;
        var doc = new DOMParser().parseFromString(html, "text/html");
        regions.forEach(function (el) {
          var next = doc.getElementById(el.id);
          if (!next || el.contains(document.activeElement) && document.activeElement.matches("input,select,textarea")) return;
          if (next.innerHTML === el.innerHTML) return;
          // Keep open what the reader opened.
          var open = {};
          el.querySelectorAll("details[open][data-key]").forEach(function (d) { open[d.dataset.key] = true; });
          el.innerHTML = next.innerHTML;
          el.querySelectorAll("details[data-key]").forEach(function (d) { if (open[d.dataset.key]) d.open = true; });
        });
        var stamp = document.getElementById("live-stamp");
        if (stamp) stamp.textContent = "Updated " + new Date().toLocaleTimeString();
      })
      .catch(function () {});
  }

  function startLive() {
    var every = parseInt(document.body.dataset.refresh || "0", 10);
    if (!every || !document.querySelector("[data-live]")) return;
    var busy = false;
    setInterval(function () {
      if (busy) return;
      busy = true;
      refresh().then(function () { busy = false; });
    }, every);
  }

  // Buttons with data-confirm ask before submitting their form.
  document.addEventListener("submit", function (e) {
    var b = e.submitter || e.target.querySelector("[data-confirm]");
    var msg = b && b.dataset ? b.dataset.confirm : null;
    if (msg && !window.confirm(msg)) e.preventDefault();
  });

  // Secret reveal toggles.
  document.addEventListener("click", function (e) {
    var t = e.target.closest("[data-reveal]");
    if (!t) return;
    var el = document.getElementById(t.dataset.reveal);
    if (!el) return;
    var hidden = el.classList.toggle("masked");
    t.textContent = hidden ? "Show" : "Hide";
  });

  // The portal's entry page: trade the key in the URL fragment for a
  // session cookie, then drop the key from the address bar.
  function portalEntry() {
    var box = document.getElementById("portal-entry");
    if (!box) return;
    var m = /(?:^|&)key=([^&]+)/.exec(location.hash.slice(1));
    history.replaceState(null, "", location.pathname);
    var status = document.getElementById("portal-status");
    if (!m) {
      location.replace("/ui/portal/home");
      return;
    }
    var body = new URLSearchParams();
    body.set("key", decodeURIComponent(m[1]));
    fetch("/ui/portal/session", { method: "POST", body: body, credentials: "same-origin" })
      .then(function (res) {
        if (res.ok) {
          location.replace("/ui/portal/home");
          return;
        }
        return res.text().then(function (t) {
          box.classList.add("problem");
          status.textContent = t.trim() || "This portal link is not valid.";
        });
      })
      .catch(function () {
        box.classList.add("problem");
        status.textContent = "Herald could not be reached. Try again.";
      });
  }

  startLive();
  portalEntry();
})();
