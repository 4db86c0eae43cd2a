// "Being prepared" pages: while the element with data-poll-state is on the page, ask the same
// URL for its state (JSON) every 3 s and reload the page once the state has changed. Stops
// after 10 minutes so that an open tab does not keep the session alive for ever.
(function () {
  "use strict";
  var holder = document.querySelector("[data-poll-state]");
  if (!holder || !window.fetch) { return; }
  var state = holder.getAttribute("data-poll-state");
  var tries = 0;
  function poll() {
    tries += 1;
    window.fetch(window.location.href, {
      headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store"
    }).then(function (response) {
      return response.ok ? response.json() : null;
    }).then(function (data) {
      if (data && data.state && data.state !== state) { window.location.reload(); return; }
      if (tries < 200) { window.setTimeout(poll, 3000); }
    }).catch(function () {
      if (tries < 200) { window.setTimeout(poll, 10000); }
    });
  }
  window.setTimeout(poll, 2000);
})();
