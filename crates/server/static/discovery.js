// Search as you type on « Sélectionnez votre établissement » (the page works without it).
(function () {
  "use strict";
  var input = document.getElementById("q");
  var list = document.getElementById("results");
  if (!input || !list) { return; }
  var timer = null;
  var seq = 0;
  function show(items) {
    while (list.firstChild) { list.removeChild(list.firstChild); }
    items.forEach(function (i) {
      var li = document.createElement("li");
      var a = document.createElement("a");
      a.href = i.login;
      a.textContent = i.name;
      li.appendChild(a);
      list.appendChild(li);
    });
    var none = document.getElementById("no-results");
    if (none) { none.hidden = items.length !== 0; }
  }
  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(function () {
      var q = input.value.trim();
      var mine = ++seq;
      if (q.length < 2) { show([]); return; }
      fetch("/institutions?q=" + encodeURIComponent(q), { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : { institutions: [] }; })
        .then(function (body) { if (mine === seq) { show(body.institutions || []); } })
        .catch(function () {});
    }, 150);
  });
})();
