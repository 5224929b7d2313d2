// The demo product's own script, as a customer's page would have one: switch the contact,
// and start Touchline's snippet with a token from this product's backend.
"use strict";
(function () {
  var form = document.getElementById("viewing-as");
  if (form) {
    form.querySelectorAll("[data-hide-with-js]").forEach(function (el) { el.hidden = true; });
    form.elements.contact.addEventListener("change", function () { form.requestSubmit(); });
  }
  var config = document.getElementById("touchline-config");
  // No config: no contact to show, or the page was opened at an address the API refuses.
  // No window.Touchline: the script did not load (Touchline down); the page works without it.
  if (!config || !window.Touchline) return;
  window.Touchline.init({
    endpoint: config.dataset.endpoint,
    app: config.dataset.app,
    token: function () {
      return fetch(config.dataset.tokenUrl, { credentials: "same-origin", cache: "no-store" }).then(function (response) {
        if (!response.ok) throw new Error("token: HTTP " + response.status);
        return response.text();
      });
    },
  });
})();
