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

    function upsert(v) {
      var m = markers[v.id];
      var ll = [v.lat, v.lon];
      if (!m) {
        m = L.circleMarker(ll, { radius: 7, weight: 1, color: "#17202a", fillOpacity: 0.95 }).addTo(map);
        m.on("click", function () { m.bindPopup(popup(m.vehicle)).openPopup(); });
        markers[v.id] = m;
      } else {
        m.setLatLng(ll);
        moves += 1;
      }
      m.vehicle = v;
      m.setStyle({ fillColor: colourOf(v) });
      m.bindTooltip(v.plate);
      el.dataset.moves = String(moves);
    }

    var source = new EventSource(el.dataset.live);
    function handle(evt) {
      var body = JSON.parse(evt.data);
      body.vehicles.forEach(upsert);
      if (evt.type === "snapshot" && body.vehicles.length && !el.dataset.fleetFitted) {
        el.dataset.fitted = "1";
        el.dataset.fleetFitted = "1";
        map.fitBounds(L.latLngBounds(body.vehicles.map(function (v) { return [v.lat, v.lon]; })).pad(0.2), { maxZoom: 15 });
      }
      stateEl.textContent = "на связи: " + Object.keys(markers).length + " машин, обновлено " +
        new Date().toLocaleTimeString("ru-RU");
    }
    source.addEventListener("snapshot", handle);
    source.addEventListener("update", handle);
    source.onerror = function () { stateEl.textContent = "нет связи с сервером, переподключение…"; };
    // stale colours change with time even without new fixes
    setInterval(function () { Object.keys(markers).forEach(function (id) { var m = markers[id]; m.setStyle({ fillColor: colourOf(m.vehicle) }); }); }, 30000);
  });
})();
