// The social object's geofence editor (admin page): place the object's point, draw and edit the
// polygon on a Leaflet map. Written by hand rather than vendoring Leaflet.draw / Geoman: all it
// needs is click-to-add, drag, remove and undo of vertices, kept in sync with a plain textarea
// («широта, долгота» per line) that the server reads — so the form also works from the keyboard
// and without this script. The server checks the polygon (valid, contains the point, sane area).
(function () {
  "use strict";

  // The base layer is the road graph (no tile server offline), as in maps.js.
  function addRoads(map, el) {
    fetch("/map/roads.json", { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : { lines: [], bounds: null }; })
      .catch(function () { return { lines: [], bounds: null }; })
      .then(function (data) {
        if (data.lines.length) {
          var segs = data.lines.map(function (s) { return [[s[0], s[1]], [s[2], s[3]]]; });
          L.polyline(segs, { color: "#9aa3ad", weight: 1.5, interactive: false,
                             renderer: L.canvas({ padding: 0.3 }) }).addTo(map);
        }
        if (!el.dataset.fitted && data.bounds) map.fitBounds(data.bounds);
        el.dataset.roads = "1";
      });
  }

  function num(text) {
    var x = parseFloat(String(text).replace(",", "."));
    return isFinite(x) ? x : null;
  }

  function parseRing(text) {
    var out = [];
    text.split(/[\n;]/).forEach(function (line) {
      line = line.trim();
      if (!line) return;
      var p = line.split(/[\s,]+/);
      if (p.length === 4) p = [p[0] + "." + p[1], p[2] + "." + p[3]];
      var lat = num(p[0]), lon = num(p[1]);
      if (p.length === 2 && lat !== null && lon !== null) out.push(L.latLng(lat, lon));
    });
    if (out.length > 1 && out[0].equals(out[out.length - 1])) out.pop();
    return out;
  }

  function init(el) {
    var latIn = document.getElementById(el.dataset.lat);
    var lonIn = document.getElementById(el.dataset.lon);
    var ringIn = document.getElementById(el.dataset.ring);
    var radiusIn = document.getElementById(el.dataset.radius);
    var polygonRadio = document.getElementById("zone-polygon");
    var circleRadio = document.getElementById("zone-circle");
    var status = document.getElementById("editor-status");
    var buttons = { point: document.getElementById("mode-point"), polygon: document.getElementById("mode-polygon") };

    var map = L.map(el, { preferCanvas: false, keyboard: true });
    map.attributionControl.setPrefix(false);
    map.attributionControl.addAttribution("© участники OpenStreetMap");
    map.setView([60.05, 30.45], 13);
    addRoads(map, el);

    var vertices = parseRing(ringIn.value);
    var mode = "polygon";
    var shape = L.polygon([], { color: "#8e44ad", weight: 3, fillOpacity: 0.15, interactive: false }).addTo(map);
    var circle = L.circle([0, 0], { radius: 1, color: "#8e44ad", dashArray: "6 6", fillOpacity: 0.08, interactive: false });
    var handles = L.layerGroup().addTo(map);
    var pointMarker = null;

    function setMode(m) {
      mode = m;
      Object.keys(buttons).forEach(function (k) { buttons[k].setAttribute("aria-pressed", String(k === m)); });
      el.dataset.mode = m;
    }

    function point() {
      var lat = num(latIn.value), lon = num(lonIn.value);
      return lat === null || lon === null ? null : L.latLng(lat, lon);
    }

    function writeRing() {
      ringIn.value = vertices.map(function (v) { return v.lat.toFixed(6) + ", " + v.lng.toFixed(6); }).join("\n");
      if (vertices.length && polygonRadio) polygonRadio.checked = true;
      ringIn.dispatchEvent(new Event("change", { bubbles: true }));  // app.js keeps the draft
    }

    function redraw() {
      shape.setLatLngs(vertices);
      handles.clearLayers();
      vertices.forEach(function (v, i) {
        var h = L.marker(v, { draggable: true, keyboard: false, title: "Вершина " + (i + 1),
                              icon: L.divIcon({ className: "vertex", iconSize: [12, 12] }) });
        h.on("drag", function (e) { vertices[i] = e.target.getLatLng(); shape.setLatLngs(vertices); });
        h.on("dragend", function () { writeRing(); redraw(); });
        h.on("contextmenu", function () { vertices.splice(i, 1); writeRing(); redraw(); });
        handles.addLayer(h);
      });
      var p = point();
      if (p) {
        if (pointMarker) pointMarker.setLatLng(p);
        else pointMarker = L.circleMarker(p, { radius: 7, color: "#c0392b", fillOpacity: 1, interactive: false }).addTo(map);
      }
      var r = num(radiusIn.value);
      if (p && r && circleRadio && circleRadio.checked) {
        circle.setLatLng(p).setRadius(r).addTo(map);
      } else {
        circle.remove();
      }
      el.dataset.vertices = String(vertices.length);
      status.textContent = vertices.length ? "Вершин в контуре: " + vertices.length : "Контур не нарисован";
    }

    function add(latlng) {
      if (mode === "point") {
        latIn.value = latlng.lat.toFixed(6);
        lonIn.value = latlng.lng.toFixed(6);
        latIn.dispatchEvent(new Event("change", { bubbles: true }));
        setMode("polygon");  // the point first, then the outline around it
      } else {
        vertices.push(latlng);
        writeRing();
      }
      redraw();
    }

    map.on("click", function (e) { add(e.latlng); });
    el.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && e.target === el) { e.preventDefault(); add(map.getCenter()); }
    });
    buttons.point.addEventListener("click", function () { setMode("point"); });
    buttons.polygon.addEventListener("click", function () { setMode("polygon"); });
    document.getElementById("undo-vertex").addEventListener("click", function () {
      vertices.pop(); writeRing(); redraw();
    });
    document.getElementById("clear-polygon").addEventListener("click", function () {
      vertices = []; writeRing(); redraw();
    });
    ringIn.addEventListener("input", function () { vertices = parseRing(ringIn.value); redraw(); });
    [latIn, lonIn, radiusIn, polygonRadio, circleRadio].forEach(function (x) {
      if (x) x.addEventListener("input", redraw);
      if (x) x.addEventListener("change", redraw);
    });

    setMode(point() ? "polygon" : "point");
    redraw();
    var bounds = L.latLngBounds(vertices);
    var p = point();
    if (p) bounds.extend(p);
    if (bounds.isValid()) {
      el.dataset.fitted = "1";
      if (vertices.length > 2) map.fitBounds(bounds.pad(0.3), { maxZoom: 17 });
      else map.setView(p, 16);
    }
    el.dataset.ready = "1";
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (!window.L) return;
    document.querySelectorAll("[data-editor]").forEach(init);
  });
})();
