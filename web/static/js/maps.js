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
    // the roads on a canvas of their own, under the markers': moving a marker redraws only its
    // canvas, not thousands of road segments (the live map moves 2,000 markers a second)
    map.createPane("roads").style.zIndex = 350;
    var roadsRenderer = L.canvas({ padding: 0.3, pane: "roads" });
    roads().then(function (data) {
      if (data.lines.length) {
        var segs = data.lines.map(function (s) { return [[s[0], s[1]], [s[2], s[3]]]; });
        L.polyline(segs, { color: "#9aa3ad", weight: 1.5, interactive: false, renderer: roadsRenderer })
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
    actual: { color: "#1c2833", weight: 2 },
    approach: { color: "#1c2833", weight: 2 },
    off_route: { color: "#e74c3c", weight: 7, opacity: 0.8 }
  };
  var RAW_STYLE = { color: "#1c2833", weight: 1.5, opacity: 0.9 };
  var RAW_DOT = { radius: 2, weight: 0, fillColor: "#1c2833", fillOpacity: 0.8, interactive: false };
  var MATCHED_STYLE = { color: "#27ae60", weight: 7, opacity: 0.55, lineCap: "round" };

  function swatch(cls, text) { return '<i class="dot ' + cls + '"></i>' + text; }

  // "10:03:15" in the region's zone and its offset ("+03:00"), from epoch milliseconds
  function clockIn(tz) {
    var fmt = new Intl.DateTimeFormat("ru-RU", { timeZone: tz, hour: "2-digit", minute: "2-digit",
                                                  second: "2-digit", hour12: false });
    var off = "";
    try {
      var parts = new Intl.DateTimeFormat("en-US", { timeZone: tz, timeZoneName: "longOffset" })
        .formatToParts(new Date());
      var name = parts.filter(function (p) { return p.type === "timeZoneName"; })[0];
      off = name ? name.value.replace("GMT", "") || "+00:00" : "";
    } catch (e) { off = ""; }
    return function (ms) { return fmt.format(new Date(ms)) + (off ? " (" + off + ")" : ""); };
  }

  function mmss(s) {
    s = Math.max(0, Math.round(s));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    var two = function (n) { return (n < 10 ? "0" : "") + n; };
    return (h ? h + ":" + two(m) : String(m)) + ":" + two(sec);
  }

  function initFinding(el) {
    var data = JSON.parse(document.querySelector(el.dataset.findingFrom).textContent);
    var map = makeMap(el);
    var renderer = map.options.renderer;
    var bounds = L.latLngBounds([]);
    var track = data.track || { raw: { t: [], lat: [], lon: [], speed_kmh: [] }, matched: [] };
    var raw = track.raw;
    var hasRaw = raw.t.length >= 2;
    var overlays = {};

    // the finding's own geometry: planned route, off-route stretches, its points; its copy of
    // the raw track only when the trip's fixes are not there
    var planned = L.layerGroup(), off = L.layerGroup(), points = L.layerGroup();
    var rawLayer = L.layerGroup(), matchedLayer = L.layerGroup();
    var roles = [];
    (data.geometry.features || []).forEach(function (f) {
      var role = f.properties.role;
      if ((role === "actual" || role === "approach") && hasRaw) return;
      roles.push(role);
      var target = role === "planned" ? planned : role === "off_route" ? off
        : (role === "actual" || role === "approach") ? rawLayer : points;
      var layer = L.geoJSON(f, {
        style: function () { return ROLE_STYLE[role] || { color: "#e74c3c", weight: 5 }; },
        pointToLayer: function (_f, ll) {
          return L.circleMarker(ll, { radius: 7, color: "#d68910", fillOpacity: 0.9 });
        }
      });
      var label = data.roles[role] || role;
      if (f.properties.at) label += " " + new Date(f.properties.at).toLocaleTimeString("ru-RU", { timeZone: data.tz });
      if (f.properties.length_m) label += ", " + (f.properties.length_m / 1000).toFixed(2).replace(".", ",") + " км";
      layer.bindTooltip(label);
      layer.addTo(target);
      bounds.extend(layer.getBounds());
    });

    // the raw track: every fix as a dot, joined in time order
    var rawLL = raw.lat.map(function (la, i) { return [la, raw.lon[i]]; });
    if (hasRaw) {
      L.polyline(rawLL, L.extend({ renderer: renderer }, RAW_STYLE))
        .bindTooltip("GPS-отметки: " + rawLL.length).addTo(rawLayer);
      rawLL.forEach(function (ll) { L.circleMarker(ll, L.extend({ renderer: renderer }, RAW_DOT)).addTo(rawLayer); });
      bounds.extend(L.latLngBounds(rawLL));
    }
    // the matched track: the audit's matcher, per part (approach, with the passenger)
    var matchedPoints = 0;
    track.matched.forEach(function (p) {
      if (!p.lines.length) return;
      var line = L.polyline(p.lines, L.extend({ renderer: renderer }, MATCHED_STYLE,
        p.part === "approach" ? { opacity: 0.35 } : {}));
      line.bindTooltip("По дорогам (" + (data.parts[p.part] || p.part) + "): " +
        (p.length_m / 1000).toFixed(2).replace(".", ",") + " км");
      line.addTo(matchedLayer);
      matchedPoints += p.points;
      bounds.extend(line.getBounds());
    });

    var fences = L.layerGroup();
    var pk = [data.pickup.lat, data.pickup.lon];
    L.circle(pk, { radius: data.pickup_radius_m, color: "#8e44ad", weight: 2, fillOpacity: 0.08 })
      .bindTooltip("Геозона подачи").addTo(fences);
    bounds.extend(pk);
    var d = [data.dest.lat, data.dest.lon];
    if (data.dest.geofence) {
      var fence = L.geoJSON(data.dest.geofence, { style: { color: "#8e44ad", weight: 2, fillOpacity: 0.08 } })
        .bindTooltip("Геозона назначения").addTo(fences);
      bounds.extend(fence.getBounds());
    } else {
      L.circle(d, { radius: data.dest.radius_m || 150, color: "#8e44ad", weight: 2, fillOpacity: 0.08 })
        .bindTooltip("Геозона назначения").addTo(fences);
    }
    bounds.extend(d);
    var events = L.layerGroup();
    data.events.forEach(function (e) {
      L.circleMarker([e.lat, e.lon], { radius: 5, color: "#117a65", fillOpacity: 1 })
        .bindTooltip(e.label, { permanent: false }).addTo(events);
    });

    // drawing order: matched under raw, off-route over both
    [fences, matchedLayer, planned, rawLayer, off, points, events].forEach(function (g) { g.addTo(map); });
    overlays[swatch("dot-planned", "Плановый маршрут")] = planned;
    overlays[swatch("dot-raw", "GPS-отметки (сырой трек)")] = rawLayer;
    overlays[swatch("dot-matched", "Трек по дорогам (сопоставлен)")] = matchedLayer;
    overlays[swatch("dot-off", "Отклонения")] = off;
    overlays[swatch("dot-fence", "Геозоны")] = fences;
    overlays[swatch("dot-event", "События")] = events;
    if (points.getLayers().length) overlays["Точки нарушения"] = points;
    L.control.layers(null, overlays, { collapsed: false }).addTo(map);
    fit(el, map, bounds);

    // what the browser tests read
    el.dataset.features = String(data.geometry.features.length);
    el.dataset.events = String(data.events.length);
    el.dataset.roles = roles.sort().join(",");
    el.dataset.rawPoints = String(hasRaw ? rawLL.length : 0);
    el.dataset.matchedPoints = String(matchedPoints);
    function visible() {
      el.dataset.rawVisible = map.hasLayer(rawLayer) ? "1" : "0";
      el.dataset.matchedVisible = map.hasLayer(matchedLayer) ? "1" : "0";
    }
    map.on("overlayadd overlayremove", visible);
    visible();

    initReplay(el, map, raw, track, data.tz);
  }

  // Track replay: a slider over the trip's time (seconds after the first fix), play/pause at a
  // chosen rate, step fix by fix; shows the current fix's local time, speed and elapsed time.
  function initReplay(el, map, raw, track, tz) {
    var play = document.getElementById("replay-play");
    var slider = document.getElementById("replay-slider");
    if (!play || !slider) return;
    var prev = document.getElementById("replay-prev"), next = document.getElementById("replay-next");
    var rate = document.getElementById("replay-rate");
    var clockEl = document.getElementById("replay-clock"), speedEl = document.getElementById("replay-speed");
    var elapsedEl = document.getElementById("replay-elapsed"), indexEl = document.getElementById("replay-index");
    var n = raw.t.length;
    if (n < 2) {
      [play, prev, next, slider, rate].forEach(function (c) { c.disabled = true; });
      clockEl.textContent = "трека нет";
      return;
    }
    var clock = clockIn(tz);
    var car = L.circleMarker([raw.lat[0], raw.lon[0]], { radius: 8, color: "#c0392b", weight: 3,
                                                        fillColor: "#fff", fillOpacity: 1 }).addTo(map);
    var start = track.start != null ? Math.max(0, track.start) : 0;
    var timer = null, current = -1, pos = 0;

    function indexAt(sec) {  // the last fix at or before sec
      var lo = 0, hi = n - 1;
      if (sec <= raw.t[0]) return 0;
      while (lo < hi) { var mid = (lo + hi + 1) >> 1; if (raw.t[mid] <= sec) lo = mid; else hi = mid - 1; }
      return lo;
    }
    function show(sec) {
      pos = Math.max(0, Math.min(raw.t[n - 1], sec));
      slider.value = String(Math.round(pos));
      var i = indexAt(pos);
      if (i === current) return;
      current = i;
      car.setLatLng([raw.lat[i], raw.lon[i]]);
      var when = clock((track.t0 + raw.t[i]) * 1000);
      var v = raw.speed_kmh[i];
      clockEl.textContent = when;
      speedEl.textContent = v == null ? "скорость —" : v + " км/ч";
      elapsedEl.textContent = "в пути " + mmss(raw.t[i] - start);
      indexEl.textContent = "отметка " + (i + 1) + " из " + n;
      slider.setAttribute("aria-valuetext", when + ", " + speedEl.textContent + ", " + elapsedEl.textContent);
      el.dataset.replay = String(i + 1);
      el.dataset.replayTime = when;
    }
    function stop() {
      if (timer) { clearInterval(timer); timer = null; }
      play.textContent = "▶ Воспроизвести"; play.setAttribute("aria-pressed", "false");
    }
    function go() {
      if (pos >= raw.t[n - 1]) show(0);
      play.textContent = "⏸ Пауза"; play.setAttribute("aria-pressed", "true");
      var last = Date.now();
      timer = setInterval(function () {
        var now = Date.now();
        show(pos + (now - last) / 1000 * (parseFloat(rate.value) || 30));
        last = now;
        if (pos >= raw.t[n - 1]) stop();
      }, 100);
    }
    function step(k) { stop(); show(raw.t[Math.max(0, Math.min(n - 1, indexAt(pos) + k))]); }
    play.addEventListener("click", function () { if (timer) stop(); else go(); });
    prev.addEventListener("click", function () { step(-1); });
    next.addEventListener("click", function () { step(1); });
    slider.addEventListener("input", function () { stop(); show(parseFloat(slider.value)); });
    slider.addEventListener("keydown", function (e) {  // arrows step fix by fix, not second by second
      if (e.key === "ArrowLeft" || e.key === "ArrowDown") { e.preventDefault(); step(-1); }
      else if (e.key === "ArrowRight" || e.key === "ArrowUp") { e.preventDefault(); step(1); }
    });
    show(0);
  }

  window.socialtaxiMaps = { makeMap: makeMap };
  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:afterSettle", function (e) { init(e.detail.elt || document); });
})();
