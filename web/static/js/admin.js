// Small enhancements for every admin page; each page works without them.
"use strict";
(function () {
  // Times: the server writes UTC; show them on the reader's own clock, UTC on hover.
  function localTimes(root) {
    var lang = document.documentElement.lang || undefined;
    var format = new Intl.DateTimeFormat(lang, {
      year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
    });
    root.querySelectorAll("time[data-local]").forEach(function (el) {
      var when = new Date(el.getAttribute("datetime"));
      if (!isNaN(when)) { el.textContent = format.format(when); }
    });
  }
  // A <select data-autosubmit> sends its form when changed; its submit button is then not needed.
  function autosubmit(root) {
    root.querySelectorAll("select[data-autosubmit]").forEach(function (el) {
      el.addEventListener("change", function () { el.form.requestSubmit(); });
    });
    root.querySelectorAll("[data-hide-with-js]").forEach(function (el) { el.hidden = true; });
  }
  function enhance(root) { localTimes(root); autosubmit(root); }
  document.addEventListener("DOMContentLoaded", function () { enhance(document); });
  window.TouchlineAdmin = { enhance: enhance }; // not window.Touchline: that is the in-app snippet's
})();
