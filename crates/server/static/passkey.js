// Passkeys: sign in on the portal (browser autofill and a button), confirm the
// console's second factor, and add one on the account page. Everything else works without this script; without it (or without
// WebAuthn in the browser) no passkey control is shown at all.
(function () {
  "use strict";
  if (!window.PublicKeyCredential || !navigator.credentials) return;

  function b64uToBytes(s) {
    var b = atob(s.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((s.length + 3) % 4));
    var out = new Uint8Array(b.length);
    for (var i = 0; i < b.length; i++) out[i] = b.charCodeAt(i);
    return out.buffer;
  }
  function bytesToB64u(buf) {
    var bytes = new Uint8Array(buf), s = "";
    for (var i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function csrf(form) { return form.querySelector("input[name=csrf]").value; }
  function post(url, token) {
    var body = new URLSearchParams();
    body.set("csrf", token);
    return fetch(url, { method: "POST", body: body, credentials: "same-origin" })
      .then(function (r) { if (!r.ok) throw new Error("options " + r.status); return r.json(); });
  }

  // Sign-in (the portal) and the console's second factor: a hidden form carries the
  // browser's answer back as an ordinary POST. The portal also asks through autofill
  // (conditional mediation) as soon as it opens; the button asks with the browser's
  // own dialog.
  function setupGet(form) {
    var controller = null;
    var ask = function (conditional) {
      if (controller) controller.abort();
      controller = new AbortController();
      return post(form.getAttribute("data-options"), csrf(form)).then(function (o) {
        var pk = o.options.publicKey;
        pk.challenge = b64uToBytes(pk.challenge);
        (pk.allowCredentials || []).forEach(function (c) { c.id = b64uToBytes(c.id); });
        var req = { publicKey: pk, signal: controller.signal };
        if (conditional) req.mediation = "conditional";
        return navigator.credentials.get(req).then(function (cred) {
          if (!cred) return;
          var r = cred.response;
          form.querySelector("input[name=ceremony]").value = o.ceremony;
          form.querySelector("input[name=credential]").value = JSON.stringify({
            id: cred.id, rawId: bytesToB64u(cred.rawId), type: cred.type,
            response: {
              authenticatorData: bytesToB64u(r.authenticatorData),
              clientDataJSON: bytesToB64u(r.clientDataJSON),
              signature: bytesToB64u(r.signature),
              userHandle: r.userHandle ? bytesToB64u(r.userHandle) : null
            },
            extensions: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {}
          });
          form.submit();
        });
      });
    };
    var button = document.createElement("button");
    button.type = "button";
    button.id = form.id + "-button";
    if (form.getAttribute("data-conditional") === "1") button.className = "secondary";
    button.textContent = form.getAttribute("data-label");
    button.addEventListener("click", function () {
      ask(false).catch(function (e) { if (e.name !== "AbortError") console.warn(e); });
    });
    form.parentNode.insertBefore(button, form);
    if (form.getAttribute("data-conditional") === "1" && PublicKeyCredential.isConditionalMediationAvailable) {
      PublicKeyCredential.isConditionalMediationAvailable().then(function (ok) {
        if (ok) ask(true).catch(function () {});
      });
    }
  }
  ["passkey-form", "passkey-factor"].forEach(function (id) {
    var form = document.getElementById(id);
    if (form) setupGet(form);
  });

  // Adding a passkey: the form gets the browser's answer, then is sent as usual.
  var add = document.getElementById("add-passkey");
  if (add) {
    add.hidden = false;
    add.addEventListener("submit", function (ev) {
      if (add.querySelector("input[name=credential]").value) return;
      ev.preventDefault();
      post("/account/passkeys/options", csrf(add)).then(function (o) {
        var pk = o.options.publicKey;
        pk.challenge = b64uToBytes(pk.challenge);
        pk.user.id = b64uToBytes(pk.user.id);
        (pk.excludeCredentials || []).forEach(function (c) { c.id = b64uToBytes(c.id); });
        return navigator.credentials.create({ publicKey: pk }).then(function (cred) {
          var r = cred.response;
          add.querySelector("input[name=ceremony]").value = o.ceremony;
          add.querySelector("input[name=credential]").value = JSON.stringify({
            id: cred.id, rawId: bytesToB64u(cred.rawId), type: cred.type,
            response: {
              attestationObject: bytesToB64u(r.attestationObject),
              clientDataJSON: bytesToB64u(r.clientDataJSON),
              transports: r.getTransports ? r.getTransports() : []
            },
            extensions: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {}
          });
          add.submit();
        });
      }).catch(function (e) {
        var out = document.getElementById("passkey-error");
        if (out) { out.hidden = false; }
        console.warn(e);
      });
    });
  }
})();
