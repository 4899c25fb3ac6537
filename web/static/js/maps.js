// Leaflet maps of the pages, from data-* attributes (no inline script, no tile server: the base
// layer is the road graph served by /map/roads.json, drawn on a canvas).
(function () {
  "use strict";
  var roadsPromise = null;
  var DEFAULT_CENTER = [60.05, 30.45];

  function roads() {
    if (!roadsPromise) {
      roadsPromise = fetch("/map/roads.json", { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : { lines: [], bounds: null }; })
        .catch(function () { return { lines: [], bounds: null }; });
    }
    return roadsPromise;
  }

  function latlon(text) {
    if (!text) return null;
    var p = text.split(",").map(parseFloat);
    return (p.length === 2 && isFinite(p[0]) && isFinite(p[1])) ? p : null;
  }

  function makeMap(el) {
    var renderer = L.canvas({ padding: 0.3 });
    var map = L.map(el, { preferCanvas: true, renderer: renderer, zoomControl: true,
                          attributionControl: true, keyboard: true });
    map.attributionControl.setPrefix(false);
    map.attributionControl.addAttribution("© участники OpenStreetMap");
    map.setView(DEFAULT_CENTER, 13);
    roads().then(function (data) {
      if (data.lines.length) {
        var segs = data.lines.map(function (s) { return [[s[0], s[1]], [s[2], s[3]]]; });
        L.polyline(segs, { color: "#9aa3ad", weight: 1.5, interactive: false, renderer: renderer })
          .addTo(map);
      }
      if (!el.dataset.fitted && data.bounds) map.fitBounds(data.bounds);
    });
    el._map = map;
    return map;
  }

  function fit(el, map, bounds) {
    if (bounds.isValid()) { el.dataset.fitted = "1"; map.fitBounds(bounds.pad(0.2), { maxZoom: 16 }); }
  }

  function initPick(el) {
    var map = makeMap(el);
    var names = el.dataset.pick.split(",");
    var latInput = document.getElementById(names[0]);
    var lonInput = document.getElementById(names[1]);
    var marker = null;
    function place(ll) {
      if (marker) marker.setLatLng(ll); else marker = L.marker(ll, { keyboard: true }).addTo(map);
      var at = L.latLng(ll);
      el.dataset.point = at.lat.toFixed(6) + "," + at.lng.toFixed(6);
    }
    // wizard.js: an address chosen from the search puts the point there (null: takes it away)
    el.addEventListener("pick:set", function (e) {
      if (e.detail) { place(e.detail); map.setView(e.detail, 16); }
      else if (marker) { map.removeLayer(marker); marker = null; delete el.dataset.point; }
    });
    var start = latInput.value && lonInput.value ? [+latInput.value, +lonInput.value] : null;
    if (start) { place(start); map.setView(start, 15); el.dataset.fitted = "1"; }
    else {
      var home = latlon(el.dataset.home);
      if (home) { map.setView(home, 15); el.dataset.fitted = "1"; }
    }
    function choose(latlng) {
      delete latInput.dataset.source;  // a point of the map's own, kept when the text is edited
      latInput.value = latlng.lat.toFixed(6);
      lonInput.value = latlng.lng.toFixed(6);
      place(latlng);
      var radio = document.querySelector("input[name=pickup_kind][value=address]");
      if (radio) radio.checked = true;
      latInput.dispatchEvent(new Event("change", { bubbles: true }));
    }
    map.on("click", function (e) { choose(e.latlng); });
    // keyboard: arrows move the map, +/- zoom, Enter puts the point at the centre
    el.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && e.target === el) { e.preventDefault(); choose(map.getCenter()); }
    });
  }

  function initObjects(el) {
    var map = el._map || makeMap(el);
    var layer = L.layerGroup().addTo(map);
    function draw() {
      layer.clearLayers();
      var bounds = L.latLngBounds([]);
      document.querySelectorAll(el.dataset.objectsFrom + " input[name=destination_id]").forEach(function (r) {
        var ll = [parseFloat(r.dataset.lat), parseFloat(r.dataset.lon)];
        var selected = r.checked;
        L.circle(ll, { radius: parseFloat(r.dataset.radius) || 100, color: selected ? "#c0392b" : "#2e86c1",
                       weight: selected ? 3 : 1, fillOpacity: 0.15, interactive: false }).addTo(layer);
        var m = L.circleMarker(ll, { radius: selected ? 9 : 6, color: selected ? "#c0392b" : "#1b4f72",
                                     fillOpacity: 0.9 }).addTo(layer);
        m.bindTooltip(r.dataset.name);
        m.on("click", function () { r.checked = true; r.dispatchEvent(new Event("change", { bubbles: true })); draw(); });
        bounds.extend(ll);
      });
      el.dataset.markers = String(layer.getLayers().length / 2);
      if (!el.dataset.fitted) fit(el, map, bounds);
    }
    draw();
    document.addEventListener("change", function (e) {
      if (e.target && e.target.name === "destination_id") draw();
    });
    document.body.addEventListener("htmx:afterSettle", function (e) {
      if (e.detail.target && e.detail.target.matches(el.dataset.objectsFrom)) draw();
    });
  }

  function initRoute(el) {
    var map = makeMap(el);
    var bounds = L.latLngBounds([]);
    var route = el.dataset.route ? JSON.parse(el.dataset.route) : null;
    if (route) {
      var gj = L.geoJSON(route, { style: { color: "#c0392b", weight: 4 } }).addTo(map);
      bounds.extend(gj.getBounds());
      el.dataset.drawn = "route";
    }
    var from = latlon(el.dataset.from), to = latlon(el.dataset.to);
    if (from) { L.circleMarker(from, { radius: 8, color: "#1e8449", fillOpacity: 1 }).bindTooltip("Подача").addTo(map); bounds.extend(from); }
    if (to) { L.circleMarker(to, { radius: 8, color: "#c0392b", fillOpacity: 1 }).bindTooltip("Назначение").addTo(map); bounds.extend(to); }
    fit(el, map, bounds);
  }

  function init(root) {
    if (!window.L) return;
    root.querySelectorAll(".map").forEach(function (el) {
      if (el.dataset.ready) return;
      el.dataset.ready = "1";
      if (el.dataset.pick) initPick(el);
      else if (el.dataset.objectsFrom) initObjects(el);
      else if (el.dataset.route !== undefined) initRoute(el);
      else if (el.dataset.geofence !== undefined) initGeofence(el);
      else if (el.dataset.findingFrom) initFinding(el);
    });
  }

  function initGeofence(el) {
    var map = makeMap(el);
    var center = latlon(el.dataset.center);
    var bounds = L.latLngBounds([]);
    if (el.dataset.geofence) {
      var gj = L.geoJSON(JSON.parse(el.dataset.geofence), { style: { color: "#8e44ad" } }).addTo(map);
      bounds.extend(gj.getBounds());
    } else if (center) {
      var c = L.circle(center, { radius: parseFloat(el.dataset.radius) || 150, color: "#8e44ad" }).addTo(map);
      bounds.extend(c.getBounds());
    }
    if (center) { L.circleMarker(center, { radius: 6 }).addTo(map); bounds.extend(center); }
    fit(el, map, bounds);
  }

  var ROLE_STYLE = {
    planned: { color: "#2e86c1", weight: 4, dashArray: "6 6" },
    actual: { color: "#1c2833", weight: 3 },
    approach: { color: "#1c2833", weight: 3 },
    off_route: { color: "#e74c3c", weight: 6 }
  };

  function initFinding(el) {
    var data = JSON.parse(document.querySelector(el.dataset.findingFrom).textContent);
    var map = makeMap(el);
    var bounds = L.latLngBounds([]);
    var track = null;
    var gj = L.geoJSON(data.geometry, {
      style: function (f) { return ROLE_STYLE[f.properties.role] || { color: "#e74c3c", weight: 5 }; },
      pointToLayer: function (f, ll) {
        return L.circleMarker(ll, { radius: 7, color: "#d68910", fillOpacity: 0.9 });
      },
      onEachFeature: function (f, layer) {
        var role = f.properties.role;
        var label = data.roles[role] || role;
        if (f.properties.at) label += " " + new Date(f.properties.at).toLocaleTimeString("ru-RU");
        layer.bindTooltip(label);
        if ((role === "actual" || role === "approach") && f.geometry.type === "LineString" && !track) {
          track = f.geometry.coordinates;
        }
      }
    }).addTo(map);
    if (data.geometry.features.length) bounds.extend(gj.getBounds());
    var p = [data.pickup.lat, data.pickup.lon];
    L.circle(p, { radius: data.pickup_radius_m, color: "#8e44ad", weight: 2, fillOpacity: 0.08 })
      .bindTooltip("Геозона подачи").addTo(map);
    bounds.extend(p);
    var d = [data.dest.lat, data.dest.lon];
    if (data.dest.geofence) {
      var fence = L.geoJSON(data.dest.geofence, { style: { color: "#8e44ad", weight: 2, fillOpacity: 0.08 } })
        .bindTooltip("Геозона назначения").addTo(map);
      bounds.extend(fence.getBounds());
    } else {
      L.circle(d, { radius: data.dest.radius_m || 150, color: "#8e44ad", weight: 2, fillOpacity: 0.08 })
        .bindTooltip("Геозона назначения").addTo(map);
    }
    bounds.extend(d);
    data.events.forEach(function (e) {
      L.circleMarker([e.lat, e.lon], { radius: 5, color: "#117a65", fillOpacity: 1 })
        .bindTooltip(e.label).addTo(map);
    });
    fit(el, map, bounds);
    el.dataset.features = String(data.geometry.features.length);
    el.dataset.events = String(data.events.length);
    el.dataset.roles = data.geometry.features.map(function (f) { return f.properties.role; }).sort().join(",");

    var button = document.getElementById("replay");
    var state = document.getElementById("replay-state");
    if (!button) return;
    if (!track || track.length < 2) { button.disabled = true; state.textContent = "трека нет"; return; }
    var car = null, timer = null;
    button.addEventListener("click", function () {
      if (timer) { clearInterval(timer); timer = null; }
      var i = 0;
      var ll = [track[0][1], track[0][0]];
      if (!car) car = L.circleMarker(ll, { radius: 8, color: "#c0392b", fillOpacity: 1 }).addTo(map);
      car.setLatLng(ll);
      var step = Math.max(1, Math.floor(track.length / 200));  // about 200 frames
      timer = setInterval(function () {
        i = Math.min(track.length - 1, i + step);
        car.setLatLng([track[i][1], track[i][0]]);
        state.textContent = "точка " + (i + 1) + " из " + track.length;
        el.dataset.replay = String(i + 1);
        if (i >= track.length - 1) { clearInterval(timer); timer = null; }
      }, 50);
    });
  }

  window.socialtaxiMaps = { makeMap: makeMap };
  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:afterSettle", function (e) { init(e.detail.elt || document); });
})();
