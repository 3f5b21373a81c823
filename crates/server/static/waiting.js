// « lien envoyé »: when the link is opened on another device, this tab moves on by itself
// once the account is active (the button does the same without script).
(function () {
  "use strict";
  var box = document.getElementById("waiting");
  if (!box) { return; }
  var status = box.getAttribute("data-status");
  var next = box.getAttribute("data-continue");
  var tries = 0;
  function ask() {
    if (++tries > 800) { return; } // about forty minutes
    fetch(status, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : { active: false }; })
      .then(function (body) {
        if (body.active) { window.location.assign(next); } else { setTimeout(ask, 3000); }
      })
      .catch(function () { setTimeout(ask, 10000); });
  }
  setTimeout(ask, 3000);
})();
