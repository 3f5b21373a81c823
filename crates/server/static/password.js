// Ticks the password policy checklist as the user types (the server's check decides).
(function () {
  "use strict";
  var input = document.getElementById("password");
  var items = document.querySelectorAll("#policy li[data-rule]");
  if (!input || !items.length) { return; }
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
      li.classList.toggle("met", met);
      li.classList.toggle("unmet", !met && input.value.length > 0);
    });
  });
})();
