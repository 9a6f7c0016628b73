// The console's only script: confirmations before actions, and live regions refreshed by
// fetching their server-rendered fragment again (the server escapes it; nothing here builds
// markup from data). No key, token or state is kept in the browser beyond the page itself.
"use strict";

(function () {
  var EVERY_MS = 2000;

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });

  function refresh(region) {
    // Not while hidden, nor while the keyboard's focus is inside: replacing the region would
    // take the focus away from the link (a batch, "older →") a person has tabbed to.
    if (document.hidden || region.contains(document.activeElement)) {
      return Promise.resolve();
    }
    return fetch(region.getAttribute("data-live"), {
      credentials: "same-origin",
      headers: { Accept: "text/html" },
    }).then(function (response) {
      if (response.status === 401) {
        // The console's root as the server sees the browser reach it (a proxy's prefix too).
        window.location.assign(document.body.getAttribute("data-root") + "/login");
        return;
      }
      if (!response.ok) {
        return;
      }
      return response.text().then(function (html) {
        region.innerHTML = html;
        region.setAttribute("data-refreshed", String(Date.now()));
      });
    }).catch(function () {
      // The API is away for a moment: keep what is shown, try again at the next turn.
    });
  }

  function loop(region) {
    refresh(region).then(function () {
      window.setTimeout(function () { loop(region); }, EVERY_MS);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var regions = document.querySelectorAll("[data-live]");
    for (var i = 0; i < regions.length; i += 1) {
      (function (region) {
        window.setTimeout(function () { loop(region); }, EVERY_MS);
      })(regions[i]);
    }
  });
})();
