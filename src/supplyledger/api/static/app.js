// supplyledger web UI: live block height over server-sent events. No other behaviour
// lives here; pages work without JavaScript (htmx only spares full reloads).
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
})();
