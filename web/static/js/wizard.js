// The booking wizard's own behaviours (no inline script: the CSP allows only files from /static).
// Step 3: choosing a pickup address found in the offline index as the operator types.
// Step 5: the return trip — a change to it re-quotes, so what is booked is what was shown.
(function () {
  "use strict";

  function byId(id) { return document.getElementById(id); }

  function pickMap(detail) {
    var map = byId("pick-map");
    if (map) map.dispatchEvent(new CustomEvent("pick:set", { detail: detail }));
  }

  function chooseAddress(button) {
    var text = byId("pickup_address"), lat = byId("pickup_lat"), lon = byId("pickup_lon");
    text.value = button.dataset.label;
    lat.value = button.dataset.lat;
    lon.value = button.dataset.lon;
    lat.dataset.source = "search";
    var radio = document.querySelector("input[name=pickup_kind][value=address]");
    if (radio) radio.checked = true;
    byId("addr-hits").innerHTML = "";
    pickMap([parseFloat(button.dataset.lat), parseFloat(button.dataset.lon)]);
    text.dispatchEvent(new Event("change", { bubbles: true }));  // the form's draft
    text.focus();
  }

  document.addEventListener("click", function (e) {
    var hit = e.target.closest && e.target.closest("button.addr-hit");
    if (hit) { e.preventDefault(); chooseAddress(hit); }
  });

  document.addEventListener("input", function (e) {
    if (e.target.id !== "pickup_address") return;
    var radio = document.querySelector("input[name=pickup_kind][value=address]");
    if (radio && e.target.value) radio.checked = true;
    // the text changed after a search result was chosen: that point is no longer the text's
    var lat = byId("pickup_lat"), lon = byId("pickup_lon");
    if (lat.dataset.source === "search") {
      lat.value = ""; lon.value = ""; delete lat.dataset.source;
      pickMap(null);
    }
  });

  // keyboard: ↓ from the field to the first result, ↑/↓ along the list, Esc back to the field
  document.addEventListener("keydown", function (e) {
    var hits = Array.prototype.slice.call(document.querySelectorAll("#addr-hits button.addr-hit"));
    if (!hits.length) return;
    var i = hits.indexOf(document.activeElement);
    if (e.target.id === "pickup_address" && e.key === "ArrowDown") { e.preventDefault(); hits[0].focus(); }
    else if (i >= 0 && e.key === "ArrowDown") { e.preventDefault(); hits[Math.min(i + 1, hits.length - 1)].focus(); }
    else if (i >= 0 && e.key === "ArrowUp") { e.preventDefault(); (i ? hits[i - 1] : byId("pickup_address")).focus(); }
    else if (i >= 0 && e.key === "Escape") { e.preventDefault(); byId("pickup_address").focus(); }
  });

  function returnFields() {
    var on = byId("return_trip");
    if (!on) return;
    ["return_date", "return_time"].forEach(function (id) { byId(id).disabled = !on.checked; });
  }

  document.addEventListener("change", function (e) {
    if (!e.target.closest || !e.target.closest("#return-box")) return;
    returnFields();
    // a quote on screen no longer matches the booking: quote again
    if (byId("confirm")) byId("to-quote").click();
  });

  // A new quote replaces the old one whole: htmx would otherwise copy the old maps' attributes
  // (Leaflet's inline style among them, refused by the CSP) onto the new maps of the same id.
  document.addEventListener("htmx:beforeSwap", function (e) {
    if (e.detail.target && e.detail.target.id === "quote") e.detail.target.innerHTML = "";
  });

  document.addEventListener("DOMContentLoaded", returnFields);
  window.addEventListener("load", returnFields);  // after app.js restored a draft
})();
