"""The API refuses a social object's polygon that does not fit its point (as the admin pages)."""

from __future__ import annotations

from tests.integration.api.conftest import CLINIC

FENCE = {
    "type": "Polygon",
    "coordinates": [[[30.469, 60.059], [30.471, 60.059], [30.471, 60.061], [30.469, 60.061],
                     [30.469, 60.059]]],
}  # fmt: skip
BODY = {"name": "Поликлиника", "object_type": "medical", "address": "ул. Оборонная, 2"}


def test_polygon_must_contain_the_point_on_create_and_update(api):
    r = api.post("social-objects", json={**BODY, "lat": 60.07, "lon": 30.47, "geofence": FENCE})
    assert r.status_code == 422 and "внутри контура" in r.json()["detail"]
    o = api.ok("POST", "social-objects", 201,
               json={**BODY, "lat": CLINIC[0], "lon": CLINIC[1], "geofence": FENCE})  # fmt: skip
    # moving the point out of the kept polygon is refused; so is a polygon elsewhere
    r = api.patch(f"social-objects/{o['id']}", json={"lat": 60.07})
    assert r.status_code == 422 and "внутри контура" in r.json()["detail"]
    far = {"type": "Polygon", "coordinates": [[[lon + 0.01, lat] for lon, lat in
                                               FENCE["coordinates"][0]]]}  # fmt: skip
    assert api.patch(f"social-objects/{o['id']}", json={"geofence": far}).status_code == 422
    # both together, consistent: accepted
    moved = api.ok("PATCH", f"social-objects/{o['id']}",
                   json={"geofence": far, "lon": CLINIC[1] + 0.01})  # fmt: skip
    assert moved["lon"] == CLINIC[1] + 0.01
