"""Registry pages: add and edit a passenger (refusals next to their fields, the reads in the
access log), a social object with its geofence drawn on the map, a carrier, a wheelchair van
and a driver; a carrier's staff refused; names shown as text."""

from __future__ import annotations

import psycopg
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import PASSWORD
from tests.integration.api.conftest import seed_basics

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]


def _log(db_url: str, passenger_id: int) -> list[tuple[str, str]]:
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT action, purpose FROM access_log WHERE passenger_id = %s ORDER BY id",
            (passenger_id,),
        ).fetchall()
    return [(a, p) for a, p in rows]


def test_add_and_edit_a_passenger(pages, live_app):
    pages.login("supervisor")
    page = pages.page
    pages.goto("/admin?kind=passengers")
    page.click("#add-entry")
    page.wait_for_url("**/admin/passengers/new")
    page.fill("#f-last_name", "<script>alert(1)</script>")
    page.fill("#f-first_name", "Анна")
    page.fill("#f-birth_date", "1944-05-09")
    page.fill("#f-phones", "+7 921 123-45-6")  # a digit missing
    page.fill("#f-snils", "112-233-445 96")  # wrong checksum
    page.check("#f-wheelchair")
    page.select_option("select[name=benefit_category_0]", "disabled_1")
    page.fill("input[name=benefit_from_0]", "2025-01-01")
    page.click("#save")
    expect(page.locator("#err-phones")).to_contain_text("не хватает цифры")
    expect(page.locator("#err-snils")).to_contain_text("контрольное число")
    expect(page.locator("#f-phones")).to_have_attribute("aria-invalid", "true")
    # what was typed stays, the name as text
    assert page.input_value("#f-last_name") == "<script>alert(1)</script>"
    assert page.is_checked("#f-wheelchair")

    page.fill("#f-phones", "+7 921 123-45-67, 8 (813) 700-00-01")
    page.fill("#f-snils", "112-233-445 95")
    page.click("#save")
    expect(page.locator("#entry-notice")).to_have_text("Запись добавлена")
    expect(page.locator("#entry-title")).to_contain_text("<script>alert(1)</script> Анна")
    pid = int(page.url.split("/admin/passengers/")[1].split("?")[0])
    assert page.input_value("#f-phones") == "+7 (921) 123-45-67, +7 (813) 700-00-01"
    assert page.input_value("#f-snils") == "112-233-445 95"
    assert page.input_value("select[name=benefit_category_0]") == "disabled_1"

    # edit: a bad birth date is refused next to it, then a good change is saved
    page.fill("#f-first_name", "Анна-Мария")
    page.fill("#f-birth_date", "1800-01-01")
    page.locator("#f-birth_date").evaluate("el => el.removeAttribute('min')")
    page.click("#save")
    expect(page.locator("#err-birth_date")).to_contain_text("Дата рождения")
    page.fill("#f-birth_date", "1944-05-09")
    page.fill("#f-home_address", "Мурино, Охтинская аллея, 4")
    page.click("#home-map")  # the point of the address, from the map
    assert page.input_value("#f-home_lat")
    page.click("#save")
    expect(page.locator("#entry-notice")).to_have_text("Изменения сохранены")
    assert page.input_value("#f-first_name") == "Анна-Мария"
    assert page.input_value("#f-home_address") == "Мурино, Охтинская аллея, 4"

    # the list: search by phone (POST, nothing personal in the URL), then deactivate
    pages.goto("/admin?kind=passengers")
    page.fill("#registry-q", "921 123 45")
    page.click("#registry-search")
    row = page.locator("#registry tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("<script>alert(1)</script> Анна-Мария")
    assert "921" not in page.url
    row.locator("a").click()
    page.click("#toggle-active")
    expect(page.locator("#entry-notice")).to_have_text("Запись выведена из реестра")
    expect(page.locator("#entry-title")).to_contain_text("выведен из реестра")

    log = _log(live_app.api.db_url, pid)
    actions = [a for a, _ in log]
    assert {p for _, p in log} == {"registry"}
    assert actions[0] == "create" and "update" in actions and "search" in actions
    assert "read" in actions and "list" in actions and actions[-2:] == ["deactivate", "read"]
    assert page.locator("main script").count() == 0  # the name is text, not an element


def test_social_object_geofence_drawn_on_the_map(pages, live_app):
    pages.login("admin")
    page = pages.page
    pages.goto("/admin/objects/new")
    page.fill("#f-name", "Дом культуры «Мурино»")
    page.select_option("#f-object_type", "culture_sport")
    page.fill("#f-address", "Мурино, ул. Центральная, 10")
    page.wait_for_load_state("networkidle")  # the road base layer is drawn and fitted
    m = page.locator("#geofence-map")
    expect(m).to_have_attribute("data-ready", "1")
    box = m.bounding_box()
    assert box is not None
    cx, cy = box["width"] / 2, box["height"] / 2
    # the point first (the editor starts there for a new object), then the outline around it
    expect(page.locator("#mode-point")).to_have_attribute("aria-pressed", "true")
    m.click(position={"x": cx, "y": cy})
    assert page.input_value("#f-lat") and page.input_value("#f-lon")
    expect(page.locator("#mode-polygon")).to_have_attribute("aria-pressed", "true")
    # a self-intersecting "bow tie" first: the server refuses it next to the field
    for dx, dy in ((-60, -40), (60, 40), (60, -40), (-60, 40)):
        m.click(position={"x": cx + dx, "y": cy + dy})
    expect(m).to_have_attribute("data-vertices", "4")
    assert page.is_checked("#zone-polygon")
    page.click("#save")
    expect(page.locator("#err-geofence")).to_contain_text("самопересекающийся")
    # the drawn vertices came back; clear them and draw a proper outline
    expect(page.locator("#geofence-map")).to_have_attribute("data-vertices", "4")
    page.click("#clear-polygon")
    m = page.locator("#geofence-map")
    box = m.bounding_box()
    assert box is not None
    cx, cy = box["width"] / 2, box["height"] / 2
    for dx, dy in ((-60, -40), (60, -40), (60, 40), (-60, 40), (-60, 0)):
        m.click(position={"x": cx + dx, "y": cy + dy})
    page.click("#undo-vertex")  # the fifth one was a slip
    expect(m).to_have_attribute("data-vertices", "4")
    page.click("#save")
    expect(page.locator("#entry-notice")).to_have_text("Запись добавлена")
    assert len(page.input_value("#f-geofence").splitlines()) == 4
    assert page.is_checked("#zone-polygon")
    oid = int(page.url.split("/admin/objects/")[1].split("?")[0])
    with psycopg.connect(live_app.api.db_url) as conn:
        (fence,) = conn.execute(
            "SELECT geofence FROM social_objects WHERE id = %s", (oid,)
        ).fetchone()
    assert fence["type"] == "Polygon" and len(fence["coordinates"][0]) == 5

    # moving the point out of the outline is refused (the point must be inside)
    page.fill("#f-lat", "60.2")
    page.click("#save")
    expect(page.locator("#err-geofence")).to_contain_text("точка объекта должна быть внутри")
    pages.goto("/admin?kind=objects")
    expect(page.locator("#registry")).to_contain_text("Дом культуры «Мурино»")
    expect(page.locator("#registry")).to_contain_text("контур")


def test_carrier_vehicle_driver_and_carrier_staff_refused(pages, browser, live_app):
    pages.login("admin")
    page = pages.page
    pages.goto("/admin/carriers/new")
    page.fill("#f-name", "ООО «Забота» <b>")
    page.fill("#f-inn", "12345")
    page.click("#save")
    expect(page.locator("#err-inn")).to_contain_text("ИНН")
    page.fill("#f-inn", "4703000001")
    page.fill("#f-depot_address", "Мурино, ул. Шувалова, 1")
    page.click("#save")
    expect(page.locator("#entry-notice")).to_have_text("Запись добавлена")
    cid = int(page.url.split("/admin/carriers/")[1].split("?")[0])

    pages.goto("/admin/vehicles/new")
    page.select_option("#f-carrier_id", str(cid))
    page.fill("#f-plate", "к777мм 47")
    page.select_option("#f-vehicle_type", "wheelchair_van")
    page.fill("#f-seats", "3")
    page.fill("#f-wheelchair_places", "1")
    page.fill("#f-mqtt_id", "van 7")  # a space: refused
    page.click("#save")
    expect(page.locator("#err-mqtt_id")).to_contain_text("MQTT")
    page.fill("#f-mqtt_id", "van-7")
    page.click("#save")
    expect(page.locator("#entry-notice")).to_have_text("Запись добавлена")
    expect(page.locator("#entry-title")).to_have_text("Автомобиль К777ММ47")

    pages.goto("/admin/drivers/new")
    page.select_option("#f-carrier_id", str(cid))
    page.fill("#f-full_name", "Иванов Иван")
    page.fill("#f-license_no", "47 00 123456")
    page.click("#save")
    expect(page.locator("#entry-notice")).to_have_text("Запись добавлена")
    pages.goto("/admin?kind=drivers")
    expect(page.locator("#registry")).to_contain_text("ООО «Забота» <b>")  # carrier, as text

    # a second driver with the same licence: refused next to the field
    pages.goto("/admin/drivers/new")
    page.select_option("#f-carrier_id", str(cid))
    page.fill("#f-full_name", "Петров Пётр")
    page.fill("#f-license_no", "47 00 123456")
    page.click("#save")
    expect(page.locator("#err-license_no")).to_contain_text("удостоверения уже есть")

    # the carrier's own staff: a dispatcher (role refused), and one holding every role (the
    # service refuses carrier staff whatever their roles)
    with psycopg.connect(live_app.api.db_url, autocommit=True) as conn:
        for login, roles in (("c_disp", ("dispatcher",)), ("c_all", ("dispatcher", "supervisor"))):
            uid = conn.execute(
                "INSERT INTO users (login, full_name, password_hash, carrier_id)"
                " SELECT %s, %s, password_hash, %s FROM users WHERE login = 'admin' RETURNING id",
                (login, login, cid),
            ).fetchone()[0]
            for r in roles:
                conn.execute("INSERT INTO user_roles VALUES (%s, %s)", (uid, r))
    for login in ("c_disp", "c_all"):
        ctx = browser.new_context()
        try:
            p = ctx.new_page()
            p.goto(live_app.base_url + "/login")
            p.fill("input[name=login]", login)
            p.fill("input[name=password]", PASSWORD)
            p.click("button[type=submit]")
            p.wait_for_load_state("networkidle")
            # the passenger register is never theirs, whatever the roles
            assert ctx.request.get(live_app.base_url + "/admin?kind=passengers").status == 403
            if login == "c_disp":
                for kind in ("passengers", "objects", "carriers", "vehicles", "drivers"):
                    for path in (f"/admin/{kind}/new", f"/admin?kind={kind}"):
                        assert ctx.request.get(live_app.base_url + path).status == 403, path
                assert ctx.request.get(live_app.base_url + f"/admin/carriers/{cid}").status == 403
            else:
                p.goto(live_app.base_url + "/admin/drivers/new")
                p.select_option("#f-carrier_id", str(cid))
                p.fill("#f-full_name", "Сидоров Сидор")
                p.fill("#f-license_no", "47 00 999999")
                p.click("#save")
                expect(p.locator("main")).to_contain_text("Сотрудникам перевозчика недоступно")
        finally:
            ctx.close()
    with psycopg.connect(live_app.api.db_url) as conn:
        assert conn.execute("SELECT count(*) FROM drivers").fetchone()[0] == 1


def test_edit_a_seeded_object_and_vehicle(pages, live_app):
    ids = seed_basics(live_app.api)
    pages.login("supervisor")
    page = pages.page
    pages.goto(f"/admin/objects/{ids['clinic']}")
    assert page.is_checked("#zone-circle")
    assert page.input_value("#f-radius_m") == "120"
    page.fill("#f-radius_m", "0")
    page.locator("#f-radius_m").evaluate("el => el.removeAttribute('min')")
    page.click("#save")
    expect(page.locator("#err-radius_m")).to_contain_text("Радиус")
    page.fill("#f-radius_m", "200")
    page.click("#save")
    expect(page.locator("#entry-notice")).to_have_text("Изменения сохранены")
    assert page.input_value("#f-radius_m") == "200"
    pages.goto(f"/admin/vehicles/{ids['van']}")
    page.fill("#f-seats", "60")
    page.locator("#f-seats").evaluate("el => el.removeAttribute('max')")
    page.click("#save")
    expect(page.locator("#err-seats")).to_contain_text("Мест")
    page.fill("#f-seats", "4")
    page.click("#save")
    expect(page.locator("#entry-notice")).to_have_text("Изменения сохранены")


def test_geofence_drawn_with_the_keyboard(pages, live_app):
    pages.login("admin")
    page = pages.page
    pages.goto("/admin/objects/new")
    page.wait_for_load_state("networkidle")
    page.fill("#f-name", "Библиотека")
    page.select_option("#f-object_type", "culture_sport")
    page.fill("#f-address", "Мурино, пр. Авиаторов Балтики, 5")
    page.focus("#geofence-map")
    page.keyboard.press("Enter")  # the object's point at the map's centre
    assert page.input_value("#f-lat")
    # arrows move the map (Leaflet pans 80 px a press), Enter puts a vertex at its centre
    for keys in (("ArrowUp", "ArrowLeft"), ("ArrowRight", "ArrowRight"),
                 ("ArrowDown", "ArrowDown"), ("ArrowLeft", "ArrowLeft")):  # fmt: skip
        for k in keys:
            page.keyboard.press(k)
            page.wait_for_timeout(350)  # the pan's animation (a press during it is dropped)
        page.keyboard.press("Enter")
    expect(page.locator("#geofence-map")).to_have_attribute("data-vertices", "4")
    page.focus("#save")
    page.keyboard.press("Enter")
    expect(page.locator("#entry-notice")).to_have_text("Запись добавлена")
    ring = [tuple(map(float, ln.split(","))) for ln in page.input_value("#f-geofence").splitlines()]
    lat, lon = float(page.input_value("#f-lat")), float(page.input_value("#f-lon"))
    assert len(ring) == 4 and len({r[0] for r in ring}) == 2 and len({r[1] for r in ring}) == 2
    # the outline went round the point: two vertices north of it, two south, two east, two west
    assert sorted(r[0] > lat for r in ring) == [False, False, True, True]
    assert sorted(r[1] > lon for r in ring) == [False, False, True, True]


@pytest.mark.parametrize("size", [(1366, 768), (768, 1024)])
def test_registry_forms_fit_the_screen(pages, live_app, size):
    ids = seed_basics(live_app.api)
    pages.page.set_viewport_size({"width": size[0], "height": size[1]})
    pages.login("admin")
    paths = [
        f"/admin/{k}/new" for k in ("passengers", "objects", "carriers", "vehicles", "drivers")
    ]
    paths += [f"/admin/passengers/{ids['passenger']}", f"/admin/objects/{ids['clinic']}",
              "/admin?kind=passengers"]  # fmt: skip
    for path in paths:
        pages.goto(path)
        pages.page.wait_for_load_state("networkidle")
        overflow = pages.page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, (path, size, overflow)
