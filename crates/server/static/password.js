// Password fields: a show/hide toggle on each (created here, so without script there is
// no dead button), and the policy checklist ticked as the user types (icon and words,
// not colour alone; the server's check decides).
(function () {
  "use strict";
  var body = document.body;
  var show = body.getAttribute("data-show") || "Show";
  var hide = body.getAttribute("data-hide") || "Hide";
  document.querySelectorAll("input[type=password]").forEach(function (input) {
    var label = document.querySelector("label[for='" + input.id + "']");
    var what = label ? " : " + label.textContent.trim() : "";
    var b = document.createElement("button");
    b.type = "button";
    b.className = "secondary reveal";
    b.setAttribute("aria-controls", input.id);
    function name(shown) {
      b.textContent = shown ? hide : show;
      b.setAttribute("aria-label", (shown ? hide : show) + what);
    }
    name(false);
    b.addEventListener("click", function () {
      var shown = input.type === "text";
      input.type = shown ? "password" : "text";
      name(!shown);
      input.focus();
    });
    input.insertAdjacentElement("afterend", b);
  });
  // A password shown in clear goes back to hidden on submit (so the browser neither
  // keeps it in form history nor misses it for its password manager).
  document.querySelectorAll("input[type=password]").forEach(function (i) {
    if (i.form) {
      i.form.addEventListener("submit", function () { i.type = "password"; });
    }
  });
})();
(function () {
  "use strict";
  var input = document.getElementById("password");
  var list = document.getElementById("policy");
  if (!input || !list) { return; }
  var items = list.querySelectorAll("li[data-rule]");
  var metText = list.getAttribute("data-met") || "";
  var unmetText = list.getAttribute("data-unmet") || "";
  function ok(rule, value, pw) {
    var chars = Array.from(pw);
    switch (rule) {
      case "min_length": return chars.length >= Number(value);
      case "max_length": return chars.length <= Number(value);
      case "uppercase": return /[A-Z]/.test(pw);
      case "lowercase": return /[a-z]/.test(pw);
      case "digit": return /[0-9]/.test(pw);
      case "special": return chars.some(function (c) { return value.indexOf(c) >= 0; });
      case "no_spaces": return !/\s/.test(pw);
      case "only_allowed": return chars.every(function (c) { return /[A-Za-z0-9]/.test(c) || value.indexOf(c) >= 0 || /\s/.test(c); });
      default: return false;
    }
  }
  input.addEventListener("input", function () {
    items.forEach(function (li) {
      var met = ok(li.dataset.rule, li.dataset.value || "", input.value);
      var unmet = !met && input.value.length > 0;
      li.classList.toggle("met", met);
      li.classList.toggle("unmet", unmet);
      var state = li.querySelector(".rule-state");
      if (state) { state.textContent = met ? " " + metText : (unmet ? " " + unmetText : ""); }
    });
  });
})();
