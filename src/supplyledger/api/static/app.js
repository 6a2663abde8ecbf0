// supplyledger web UI: live block height over server-sent events, the main menu folded
// behind a button on a phone, the enrol form's roles narrowed to those of the chosen
// organisation, a question before an irreversible step, what an amount with a decimal
// point should have been typed as, and a refusal tied to the field it is about.
// Pages work without JavaScript (htmx only spares full reloads; the server refuses a role
// the organisation may not hold).
(function () {
  "use strict";
  var body = document.body;
  if (!body || !body.dataset.height || !window.EventSource) { return; }
  var height = document.getElementById("height");
  var toast = document.getElementById("toast");
  var timer = null;
  var from = parseInt(body.dataset.height, 10) + 1;
  var source = new EventSource("/api/events?from_height=" + from);
  source.addEventListener("block", function (e) {
    var b = JSON.parse(e.data);
    if (height) { height.textContent = b.height; }
    if (toast) {
      toast.textContent = "Block " + b.height + " committed (" + b.tx_count + " transaction" +
        (b.tx_count === 1 ? "" : "s") + ")";
      toast.hidden = false;
      clearTimeout(timer);
      timer = setTimeout(function () { toast.hidden = true; }, 4000);
    }
  });
  // The server ends the stream when the session ends or the participant is revoked:
  // reconnecting would only meet a 401, so stop and say why.
  source.addEventListener("end", function (e) {
    source.close();
    if (toast) {
      toast.textContent = "Live updates stopped: " + JSON.parse(e.data).message;
      toast.hidden = false;
    }
  });
})();

(function () {
  "use strict";
  // The menu button shows only on a narrow screen (app.css); the menu starts folded there.
  var button = document.querySelector("nav.main-nav .menu-toggle");
  if (!button) { return; }
  var nav = button.parentElement;
  button.hidden = false;
  nav.classList.add("foldable");
  button.addEventListener("click", function () {
    var open = nav.classList.toggle("open");
    button.setAttribute("aria-expanded", open ? "true" : "false");
  });
})();

(function () {
  "use strict";
  var org = document.getElementById("en-org");
  var roles = document.getElementById("en-roles");
  if (!org || !roles) { return; }
  var boxes = roles.querySelectorAll("input[name=roles]");
  var list = org.tagName === "SELECT" ? org : document.getElementById("dl-orgs");
  function listed(id) {
    if (!list) { return false; }
    for (var i = 0; i < list.options.length; i++) {
      if (list.options[i].value === id) { return true; }
    }
    return false;
  }
  function narrow() {
    // Each role lists the organisations that may hold it. An organisation typed in that
    // is not among those listed keeps every role: the server decides.
    var known = listed(org.value);
    boxes.forEach(function (box) {
      var ok = !known || box.dataset.orgs.split(" ").indexOf(org.value) >= 0;
      box.closest("label").hidden = !ok;
      if (!ok) { box.checked = false; }
    });
  }
  org.addEventListener("change", narrow);
  org.addEventListener("input", narrow);
  narrow();
})();

(function () {
  "use strict";
  // A button with data-confirm asks before its form is sent (erasing a private record
  // cannot be undone). Inline handlers are barred by the page's content security policy.
  document.addEventListener("submit", function (e) {
    var button = e.submitter;
    var question = button && button.getAttribute("data-confirm");
    if (question && !window.confirm(question)) { e.preventDefault(); }
  });
})();

(function () {
  "use strict";
  // Amounts are whole minor units: the browser's own word on "18.50" ("the two nearest
  // valid values are 18 and 19") leads to 0.18. Say what to type instead.
  function check(input) {
    var typed = input.value.trim();
    var m = /^(\d*)[.,](\d{1,2})$/.exec(typed);
    var msg = "";
    if (m && input.validity.stepMismatch) {
      var minor = String(parseInt((m[1] || "0") + (m[2] + "0").slice(0, 2), 10));
      msg = "Amounts are in whole minor units (cents): type " + minor + " for " + typed + ".";
    } else if (input.validity.stepMismatch || input.validity.badInput) {
      msg = "Amounts are in whole minor units (cents), without a decimal point: 1850 is 18.50.";
    }
    input.setCustomValidity(msg);
  }
  document.addEventListener("input", function (e) {
    var t = e.target;
    if (t && t.matches && t.matches("input[data-amount=minor]")) { check(t); }
  });
})();

(function () {
  "use strict";
  // A refusal naming the argument it is about (data-arg on its notice) marks that field
  // invalid and describes it by the message: the alert is read once, the field says why
  // whenever the user returns to it. Whole pages and htmx results alike; a result swapped
  // out (the corrected form committed) unties its field.
  var count = 0;
  function untie(field, id) {
    var ids = (field.getAttribute("aria-describedby") || "").split(" ").filter(function (x) {
      return x && x !== id;
    });
    if (ids.length) { field.setAttribute("aria-describedby", ids.join(" ")); }
    else { field.removeAttribute("aria-describedby"); }
    field.removeAttribute("aria-invalid");
    field.removeAttribute("data-refused-by");
  }
  function tie() {
    document.querySelectorAll("[data-refused-by]").forEach(function (field) {
      var id = field.getAttribute("data-refused-by");
      if (!document.getElementById(id)) { untie(field, id); }
    });
    document.querySelectorAll(".notice[data-arg]").forEach(function (notice) {
      if (!notice.id) { notice.id = "refusal-" + (++count); }
      var scope = notice.closest("details.method, section, main") || document;
      var name = CSS.escape(notice.getAttribute("data-arg"));
      scope.querySelectorAll("[name=" + name + "]").forEach(function (field) {
        if (field.type === "hidden" || !/^(INPUT|SELECT|TEXTAREA)$/.test(field.tagName)) { return; }
        var ids = (field.getAttribute("aria-describedby") || "").split(" ");
        if (ids.indexOf(notice.id) < 0) {
          ids.push(notice.id);
          field.setAttribute("aria-describedby", ids.filter(Boolean).join(" "));
        }
        field.setAttribute("aria-invalid", "true");
        field.setAttribute("data-refused-by", notice.id);
      });
    });
  }
  tie();
  document.body.addEventListener("htmx:afterSettle", tie);
})();
