// Search as you type on « Sélectionnez votre établissement » (the page works without it).
// Renders the same buttons as the server; when more institutions match than one page
// holds, says how many and links to the server's next page: nothing is hidden.
(function () {
  "use strict";
  var input = document.getElementById("q");
  var list = document.getElementById("results");
  var count = document.getElementById("count");
  if (!input || !list || !count) { return; }
  var none = document.getElementById("no-results");
  var pages = document.querySelector("nav.pages");
  var timer = null;
  var seq = 0;
  function span(cls, text) {
    var s = document.createElement("span");
    s.className = cls;
    if (text) { s.textContent = text; }
    return s;
  }
  function entry(i) {
    var li = document.createElement("li");
    var b = document.createElement("button");
    b.type = "submit";
    b.name = "idp";
    b.value = i.entity_id;
    b.className = "choice";
    if (i.logo) {
      var img = document.createElement("img");
      img.src = i.logo;
      img.alt = "";
      img.width = 32;
      img.height = 32;
      b.appendChild(img);
    } else {
      var blank = span("choice-nologo");
      blank.setAttribute("aria-hidden", "true");
      b.appendChild(blank);
    }
    var text = span("choice-text");
    text.appendChild(span("choice-name", i.name));
    if (i.domains && i.domains.length) {
      text.appendChild(document.createTextNode(" "));
      text.appendChild(span("choice-domains", i.domains.join(", ")));
    }
    b.appendChild(text);
    li.appendChild(b);
    return li;
  }
  function show(q, body) {
    var items = body.institutions || [];
    var total = body.total || 0;
    while (list.firstChild) { list.removeChild(list.firstChild); }
    items.forEach(function (i) { list.appendChild(entry(i)); });
    if (pages) { pages.hidden = true; }
    count.textContent = "";
    if (total > items.length) {
      count.textContent = (count.getAttribute("data-more") || "").replace("{total}", total) + " ";
      var a = document.createElement("a");
      a.href = "/activate?q=" + encodeURIComponent(q) + "&page=2#results";
      a.id = "next-page";
      a.textContent = count.getAttribute("data-next") || "";
      count.appendChild(a);
    } else if (items.length) {
      count.textContent = (count.getAttribute("data-count") || "")
        .replace("{first}", "1").replace("{last}", String(items.length))
        .replace("{total}", String(total));
    }
    if (none) { none.hidden = !(q.length >= 2 && items.length === 0); }
  }
  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(function () {
      var q = input.value.trim();
      var mine = ++seq;
      if (q.length < 2) { show(q, { institutions: [], total: 0 }); return; }
      fetch("/institutions?q=" + encodeURIComponent(q), { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : { institutions: [], total: 0 }; })
        .then(function (body) { if (mine === seq) { show(q, body); } })
        .catch(function () {});
    }, 150);
  });
})();
