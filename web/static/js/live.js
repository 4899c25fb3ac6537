// The dispatcher's live map: canvas circle markers, moved by server-sent events
// (/dispatcher/live: a "snapshot" then "update" events with the vehicles that changed).
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var el = document.getElementById("fleet-map");
    if (!el || !window.L) return;
    var map = window.socialtaxiMaps.makeMap(el);
    var colours = JSON.parse(el.dataset.colours);
    var staleS = parseFloat(el.dataset.staleS) || 300;
    var markers = {};   // vehicle id -> circleMarker
    var stateEl = document.getElementById("live-state");
    var moves = 0;
    window.socialtaxiFleet = { markers: markers, map: map };  // read by the browser tests

    function colourOf(v) {
      var age = (Date.now() - Date.parse(v.ts)) / 1000;
      if (age > staleS) return colours.stale;
      return colours[v.status] || colours.free;
    }

    function popup(v) {
      var div = document.createElement("div");
      var b = document.createElement("b"); b.textContent = v.plate; div.appendChild(b);
      var p = document.createElement("p");
      p.textContent = "Отметка: " + new Date(v.ts).toLocaleTimeString("ru-RU") +
        (v.speed_kmh != null ? ", " + Math.round(v.speed_kmh) + " км/ч" : "");
      div.appendChild(p);
      if (v.trip) {
        var a = document.createElement("a");
        a.href = "/operator/trips/" + v.trip; a.textContent = "Текущая поездка № " + v.trip;
        div.appendChild(a);
      } else {
        div.appendChild(document.createTextNode("Свободна"));
      }
      return div;
    }

    // A bench-only hook: bench/web.py defines window.socialtaxiLiveProbe before the page loads
    // (Playwright's add_init_script); pages never do. For every batch of fixes shown it records
    // the vehicles, their fix times, when the markers were moved and when the next frame (the
    // canvas redraw Leaflet queued) ran — Date.now(), the machine's clock.
    var probe = window.socialtaxiLiveProbe || null;

    function upsert(v) {  // true when the marker now shows a newer fix
      var m = markers[v.id];
      var ll = [v.lat, v.lon];
      var fresh = true;
      if (!m) {
        m = L.circleMarker(ll, { radius: 7, weight: 1, color: "#17202a", fillOpacity: 0.95 }).addTo(map);
        m.on("click", function () { m.bindPopup(popup(m.vehicle)).openPopup(); });
        m.bindTooltip(v.plate);
        markers[v.id] = m;
      } else {
        var was = m.vehicle;
        fresh = was.ts !== v.ts;
        if (was.lat !== v.lat || was.lon !== v.lon) { m.setLatLng(ll); moves += 1; }
        if (was.plate !== v.plate) m.setTooltipContent(v.plate);
      }
      m.vehicle = v;
      var fill = colourOf(v);
      if (fill !== m.fill) { m.fill = fill; m.setStyle({ fillColor: fill }); }  // a redraw only on change
      return fresh;
    }

    var source = new EventSource(el.dataset.live);
    function handle(evt) {
      var t0 = probe ? performance.now() : 0;
      var body = JSON.parse(evt.data);
      var shown = probe ? [] : null;
      body.vehicles.forEach(function (v) { if (upsert(v) && shown) shown.push([v.id, v.ts]); });
      el.dataset.moves = String(moves);
      if (evt.type === "snapshot" && body.vehicles.length && !el.dataset.fleetFitted) {
        el.dataset.fitted = "1";
        el.dataset.fleetFitted = "1";
        map.fitBounds(L.latLngBounds(body.vehicles.map(function (v) { return [v.lat, v.lon]; })).pad(0.2), { maxZoom: 15 });
      }
      stateEl.textContent = "на связи: " + Object.keys(markers).length + " машин, обновлено " +
        new Date().toLocaleTimeString("ru-RU");
      if (shown && evt.type === "update") {
        var rec = { kind: evt.type, fixes: shown, moved: Date.now(), frame: null,
                    took: performance.now() - t0 };
        probe.batches.push(rec);
        requestAnimationFrame(function () { rec.frame = Date.now(); });
      }
    }
    source.addEventListener("snapshot", handle);
    source.addEventListener("update", handle);
    source.onerror = function () { stateEl.textContent = "нет связи с сервером, переподключение…"; };
    // stale colours change with time even without new fixes
    setInterval(function () {
      Object.keys(markers).forEach(function (id) {
        var m = markers[id], fill = colourOf(m.vehicle);
        if (fill !== m.fill) { m.fill = fill; m.setStyle({ fillColor: fill }); }
      });
    }, 30000);
  });
})();
