"""The operator's pages: the five-step booking wizard and the trip list.

Steps: (1) find the passenger, (2) the passenger's card, (3) pickup — home, a social object or
another address found in the offline address index as the operator types (or a point on the
map), (4) destination + referral, (5) confirmation, with the return trip offered on it. Steps 4
and 5 share one screen (the quote appears under the destination), so the referral file chosen in
step 4 is sent with the booking itself. Every step's POST carries the earlier steps' fields
(hidden inputs) and is validated on the server again.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from dispatch.documents import MAX_BYTES
from dispatch.errors import DispatchError, Invalid, NotFound
from dispatch.lifecycle import TripAction, TripStatus
from dispatch.models import SocialObject, User
from dispatch.services import BookingRefused, QuotaExceeded
from dispatch.services import booking as book_svc
from dispatch.services import registry as reg_svc
from dispatch.services import trips as trip_svc
from routing.address_store import search_addresses
from routing.errors import AddressError
from web.deps import Conn, GraphDep, NowDep, RulesDep
from web.pages.forms import (
    RETURN_FIELDS,
    Errors,
    carried,
    default_return,
    find_objects,
    trip_request,
)
from web.pages.render import STATUS_RU, render
from web.pages.session import Csrf, OperatorPage, page_roles

router = APIRouter(prefix="/operator", include_in_schema=False)
PassengerId = Annotated[int, Path(ge=1, le=2**63 - 1)]
TripId = Annotated[int, Path(ge=1, le=2**63 - 1)]
TripReader = Annotated[User, Depends(page_roles("operator", "dispatcher", "supervisor", "admin"))]
PURPOSE = "booking"
CANCEL_INITIATORS = {"passenger": "пассажир", "operator": "оператор", "carrier": "перевозчик"}
STEPS = ("Пассажир", "Карточка", "Подача", "Назначение", "Подтверждение")
#: The return trip offered by default this long after the outward pickup (the operator changes it)
RETURN_AFTER = timedelta(hours=3)
ADDRESS_KINDS = {"house": "дом", "street": "улица", "place": "населённый пункт"}


def _objects(conn: Any) -> list[SocialObject]:
    return reg_svc.list_entries(conn, table="social_objects", active=True, limit=500, offset=0)


def _errors_of(exc: DispatchError) -> Errors:
    errors = Errors()
    if isinstance(exc, BookingRefused):
        for r in exc.refusals:
            errors.add(r.field, r.message)
    elif isinstance(exc, QuotaExceeded):
        errors.add("override_reason", exc.message)
    else:
        errors.add(None, exc.message)
    return errors


async def _form(request: Request) -> dict[str, Any]:
    form = await request.form()
    return {k: v for k, v in form.items()}


# --- step 1 -------------------------------------------------------------------------------
@router.get("/book", response_class=HTMLResponse)
def book_start(request: Request, user: OperatorPage) -> HTMLResponse:
    return render(request, "book_find.html", user=user, steps=STEPS, step=1)


@router.post("/book/search", response_class=HTMLResponse, dependencies=[Csrf])
async def book_search(request: Request, conn: Conn, user: OperatorPage) -> HTMLResponse:
    """The passenger hits as the operator types (an htmx fragment; POST: PII stays out of URLs)."""
    form = await _form(request)
    text = str(form.get("q", "")).strip()[:200]
    hits: list[Any] = []
    message = None
    if len(text) >= 3:
        try:
            hits = reg_svc.search_passengers(conn, text=text, limit=20, actor=user, purpose=PURPOSE)
            if not hits:
                message = "Никого не найдено. Проверьте написание или ищите по телефону."
        except Invalid as exc:
            message = exc.message
    else:
        message = "Введите не меньше трёх знаков: телефон или фамилию (можно с датой рождения)"
    return render(request, "_hits.html", user=user, hits=hits, message=message)


# --- step 2 -------------------------------------------------------------------------------
def _card(conn: Any, *, passenger_id: int, rules: Any, now: datetime, user: User) -> dict[str, Any]:
    passenger = reg_svc.get_passenger(conn, passenger_id=passenger_id, actor=user, purpose=PURPOSE)
    quota = None
    quota_error = None
    try:
        quota = book_svc.passenger_quota(
            conn, passenger_id=passenger_id, at=now, object_type=None, rules=rules, actor=user,
            purpose=PURPOSE,
        )  # fmt: skip
    except Invalid as exc:
        quota_error = exc.message
    # the same choice the booking makes when the operator does not pick a type
    vehicle = book_svc._default_vehicle_type(passenger, rules)
    return {
        "p": passenger,
        "quota": quota,
        "quota_error": quota_error,
        "vehicle_type": vehicle,
        "vehicle_name": _vehicle_name(vehicle),
    }


def _vehicle_name(code: str) -> str:
    return {"car": "легковой автомобиль", "wheelchair_van": "машина с подъёмником"}.get(code, code)


@router.get("/book/{passenger_id}", response_class=HTMLResponse)
def book_card(
    request: Request,
    passenger_id: PassengerId,
    conn: Conn,
    rules: RulesDep,
    now: NowDep,
    user: OperatorPage,
) -> HTMLResponse:
    card = _card(conn, passenger_id=passenger_id, rules=rules, now=now, user=user)
    return render(request, "book_card.html", user=user, steps=STEPS, step=2, **card)


# --- step 3 -------------------------------------------------------------------------------
def _pickup_page(
    request: Request,
    *,
    user: User,
    card: dict[str, Any],
    objects: list[SocialObject],
    values: dict[str, str],
    errors: Errors,
    now: datetime,
    tz: str,
    status_code: int = 200,
) -> HTMLResponse:
    if not values.get("pickup_date"):
        tomorrow = (now.astimezone(ZoneInfo(tz)) + timedelta(days=1)).date()
        values = {**values, "pickup_date": tomorrow.isoformat()}
    return render(
        request,
        "book_pickup.html",
        user=user,
        steps=STEPS,
        step=3,
        objects=objects,
        v=values,
        errors=errors,
        status_code=status_code,
        **card,
    )


@router.get("/book/{passenger_id}/pickup", response_class=HTMLResponse)
def book_pickup(
    request: Request,
    passenger_id: PassengerId,
    conn: Conn,
    rules: RulesDep,
    now: NowDep,
    user: OperatorPage,
) -> HTMLResponse:
    card = _card(conn, passenger_id=passenger_id, rules=rules, now=now, user=user)
    return _pickup_page(
        request, user=user, card=card, objects=_objects(conn), values={"pickup_kind": "home"},
        errors=Errors(), now=now, tz=rules.timezone,
    )  # fmt: skip


@router.post("/book/{passenger_id}/pickup", response_class=HTMLResponse, dependencies=[Csrf])
async def book_pickup_submit(
    request: Request,
    passenger_id: PassengerId,
    conn: Conn,
    rules: RulesDep,
    now: NowDep,
    user: OperatorPage,
) -> HTMLResponse:
    form = await _form(request)
    objects = _objects(conn)
    _, errors = trip_request(
        form, passenger_id=passenger_id, objects=objects, tz=rules.timezone, need_destination=False
    )
    card = _card(conn, passenger_id=passenger_id, rules=rules, now=now, user=user)
    values = carried(form)
    if not errors and values["pickup_kind"] == "address" and not values["pickup_lat"]:
        # Typed, not chosen from the search nor on the map: the booking's own lookup decides now,
        # and the later steps carry the point it found.
        try:
            label, lat, lon = book_svc.find_pickup_address(
                conn, text=values["pickup_address"], actor=user
            )
        except DispatchError as exc:
            errors = _errors_of(exc)
        else:
            values.update(pickup_address=label, pickup_lat=f"{lat:.7f}", pickup_lon=f"{lon:.7f}")
    if errors:
        return _pickup_page(
            request, user=user, card=card, objects=objects, values=values, errors=errors, now=now,
            tz=rules.timezone, status_code=422,
        )  # fmt: skip
    return _dest_page(request, user=user, card=card, objects=objects, values=values, rules=rules)


@router.post("/addresses", response_class=HTMLResponse, dependencies=[Csrf])
async def addresses_fragment(request: Request, conn: Conn, user: OperatorPage) -> HTMLResponse:
    """Pickup addresses of the offline index as the operator types (an htmx fragment; POST: a
    passenger's address stays out of URLs and logs)."""
    form = await _form(request)
    text = str(form.get("pickup_address", "")).strip()[:300]
    hits: list[Any] = []
    message = None
    if len(text) < 3:
        message = "Введите не меньше трёх знаков адреса"
    else:
        try:
            hits = search_addresses(conn, query=text, limit=8)
        except AddressError as exc:
            message = exc.message
        if not hits and message is None:
            message = "В адресах карты ничего похожего нет: отметьте место подачи на карте"
    return render(request, "_addresses.html", user=user, hits=hits, message=message,
                  kinds=ADDRESS_KINDS)  # fmt: skip


# --- steps 4 and 5 --------------------------------------------------------------------------
def _dest_page(
    request: Request,
    *,
    user: User,
    card: dict[str, Any],
    objects: list[SocialObject],
    values: dict[str, str],
    rules: Any,
    errors: Errors | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    if not values.get("return_date") and not values.get("return_time"):
        day, at = default_return(values.get("pickup_date", ""), values.get("pickup_time", ""),
                                 rules.timezone, after=RETURN_AFTER)  # fmt: skip
        values = {**values, "return_date": day, "return_time": at}
    pickup_name = {
        "home": f"дом: {card['p'].home_address or '—'}",
        "address": values.get("pickup_address", ""),
    }.get(values.get("pickup_kind", "home"))
    if pickup_name is None:
        obj = next((o for o in objects if str(o.id) == values.get("pickup_object_id")), None)
        pickup_name = f"{obj.name}, {obj.address}" if obj else "—"
    return render(
        request,
        "book_dest.html",
        user=user,
        steps=STEPS,
        step=4,
        objects=objects,
        types=rules.social_object_types,
        v=values,
        pickup_name=pickup_name,
        errors=errors or Errors(),
        status_code=status_code,
        max_mb=MAX_BYTES // (1024 * 1024),
        **card,
    )


@router.get("/objects", response_class=HTMLResponse)
def objects_fragment(
    request: Request,
    conn: Conn,
    user: OperatorPage,
    q: Annotated[str, Query(max_length=200)] = "",
    object_type: Annotated[str, Query(max_length=50)] = "",
    selected: Annotated[str, Query(max_length=20)] = "",
) -> HTMLResponse:
    """The destination list filtered by name, address and type (an htmx fragment)."""
    found = find_objects(_objects(conn), query=q, object_type=object_type)
    return render(request, "_objects.html", user=user, objects=found, selected=selected)


@router.post("/book/{passenger_id}/preview", response_class=HTMLResponse, dependencies=[Csrf])
async def book_preview(
    request: Request,
    passenger_id: PassengerId,
    conn: Conn,
    rules: RulesDep,
    graph: GraphDep,
    now: NowDep,
    user: OperatorPage,
) -> HTMLResponse:
    """Step 5: the quote (route, ETA, distance, fare, co-payment, quota after) or the refusals."""
    form = await _form(request)
    objects = _objects(conn)
    req, errors = trip_request(
        form, passenger_id=passenger_id, objects=objects, tz=rules.timezone, need_destination=True
    )
    quote = None
    if req is not None:
        try:
            quote = book_svc.quote_trip(
                conn, req=req, rules=rules, graph=graph, actor=user, now=now
            )
        except DispatchError as exc:
            errors = _errors_of(exc)
    dest = next((o for o in objects if req and o.id == req.destination_id), None)
    can_override = bool({"supervisor", "admin"} & set(user.roles))
    return render(
        request,
        "_quote.html",
        user=user,
        quote=quote,
        dest=dest,
        errors=errors,
        can_override=can_override,
        pair_counts_one=rules.return_trips.pair_counts_as == "one",
        vehicle_name=_vehicle_name(quote.vehicle_type) if quote else "",
        headers={"HX-Trigger": "quote-ready"} if quote else None,
    )


@router.post("/book/{passenger_id}/confirm", response_class=HTMLResponse, dependencies=[Csrf])
async def book_confirm(
    request: Request,
    passenger_id: PassengerId,
    conn: Conn,
    rules: RulesDep,
    graph: GraphDep,
    now: NowDep,
    user: OperatorPage,
) -> Response:
    form = await request.form()
    values = {k: v for k, v in form.items()}
    objects = _objects(conn)
    req, errors = trip_request(
        values, passenger_id=passenger_id, objects=objects, tz=rules.timezone,
        need_destination=True,
    )  # fmt: skip
    upload = form.get("referral")
    content = b""
    if isinstance(upload, UploadFile) and upload.filename:
        content = await upload.read(MAX_BYTES + 1)
        if len(content) > MAX_BYTES:
            errors.add("referral", f"Файл больше {MAX_BYTES // (1024 * 1024)} МБ")
    if req is not None and not errors:
        try:
            trip = book_svc.book_trip(conn, req=req, rules=rules, graph=graph, actor=user, now=now)
            if content and isinstance(upload, UploadFile):
                trip_svc.attach_document(
                    conn, trip_id=trip.id, filename=upload.filename or "document",
                    content=content, kind="referral", actor=user, max_bytes=MAX_BYTES,
                )  # fmt: skip
            return RedirectResponse(f"/operator/trips/{trip.id}?booked=1", status_code=303)
        except DispatchError as exc:
            conn.rollback()  # neither the trip nor a half of it stays
            errors = _errors_of(exc)
            if isinstance(exc, Invalid) and exc.code.startswith(("bad_document", "file")):
                errors = Errors({"referral": exc.message})
    card = _card(conn, passenger_id=passenger_id, rules=rules, now=now, user=user)
    text = {k: v for k, v in values.items() if isinstance(v, str)}
    return _dest_page(
        request, user=user, card=card, objects=objects,
        values={**carried(text), **carried(text, RETURN_FIELDS),
                "destination_id": text.get("destination_id", "")},
        rules=rules, errors=errors, status_code=422,
    )  # fmt: skip


# --- trip list and trip page ------------------------------------------------------------------
@router.get("/trips", response_class=HTMLResponse)
def trips(
    request: Request,
    conn: Conn,
    rules: RulesDep,
    now: NowDep,
    user: TripReader,
    status: Annotated[str, Query(max_length=20)] = "",
    day_from: Annotated[str, Query(max_length=10)] = "",
    day_to: Annotated[str, Query(max_length=10)] = "",
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> HTMLResponse:
    tz = ZoneInfo(rules.timezone)
    errors = Errors()
    start = end = None
    try:
        if day_from:
            start = datetime.fromisoformat(day_from).replace(tzinfo=tz)
        if day_to:
            end = datetime.fromisoformat(day_to).replace(tzinfo=tz) + timedelta(days=1)
    except ValueError:
        errors.add("day_from", "Дата в формате ГГГГ-ММ-ДД")
    if status and status not in STATUS_RU:
        errors.add("status", "Неизвестный статус")
        status = ""
    per_page = 50
    rows = trip_svc.read_trips(
        conn, actor=user, purpose="trip_list", start=start, end=end,
        status=TripStatus(status) if status else None,
        limit=per_page + 1, offset=(page - 1) * per_page,
    )  # fmt: skip
    names = {o.id: o.name for o in _objects(conn)}
    return render(
        request,
        "trips.html",
        user=user,
        trips=rows[:per_page],
        more=len(rows) > per_page,
        page=page,
        names=names,
        f={"status": status, "day_from": day_from, "day_to": day_to},
        errors=errors,
    )


def _trip_page(
    request: Request, conn: Any, *, trip_id: int, user: User, status_code: int = 200, **extra: Any
) -> HTMLResponse:
    trip = trip_svc.read_trip(conn, trip_id=trip_id, actor=user, purpose="view")
    events = trip_svc.list_events(conn, trip_id=trip_id, actor=user, purpose="view")
    docs = trip_svc.list_documents(conn, trip_id=trip_id, actor=user, purpose="view")
    dest = next((o for o in _objects(conn) if o.id == trip.dest_object_id), None)
    # the other leg of a there-and-back pair (the pair's co-payment is both legs')
    other_id = trip.return_trip_id or (trip.pair_id if trip.pair_id != trip.id else None)
    other = (
        trip_svc.read_trip(conn, trip_id=other_id, actor=user, purpose="view") if other_id else None
    )
    return render(
        request, "trip.html", user=user, t=trip, events=events, docs=docs, dest=dest, other=other,
        initiators=CANCEL_INITIATORS,
        status_code=status_code, errors=extra.pop("errors", Errors()), **extra,
    )  # fmt: skip


@router.get("/trips/{trip_id}", response_class=HTMLResponse)
def trip_page(
    request: Request,
    trip_id: TripId,
    conn: Conn,
    user: TripReader,
    booked: bool = False,
) -> HTMLResponse:
    return _trip_page(request, conn, trip_id=trip_id, user=user, booked=booked)


@router.post("/trips/{trip_id}/cancel", response_class=HTMLResponse, dependencies=[Csrf])
async def trip_cancel(
    request: Request,
    trip_id: TripId,
    conn: Conn,
    rules: RulesDep,
    now: NowDep,
    user: TripReader,
) -> Response:
    form = await _form(request)
    reason = str(form.get("reason", "")).strip()
    initiator = str(form.get("initiator", ""))
    if initiator not in CANCEL_INITIATORS:
        errors = Errors({"initiator": "Укажите, кто отменяет поездку"})
        return _trip_page(request, conn, trip_id=trip_id, user=user, errors=errors, status_code=422)
    if not reason:
        errors = Errors({"reason": "Укажите причину отмены"})
        return _trip_page(request, conn, trip_id=trip_id, user=user, errors=errors, status_code=422)
    if len(reason) > 1000:
        errors = Errors({"reason": "Причина — не длиннее 1000 знаков"})
        return _trip_page(request, conn, trip_id=trip_id, user=user, errors=errors, status_code=422)
    try:
        trip_svc.act(
            conn, trip_id=trip_id, action=TripAction.CANCEL, actor=user, now=now, rules=rules,
            reason=reason, initiator=initiator,
        )  # fmt: skip
    except NotFound:
        raise
    except DispatchError as exc:
        conn.rollback()
        errors = Errors({"reason": exc.message})
        return _trip_page(request, conn, trip_id=trip_id, user=user, errors=errors, status_code=409)
    return RedirectResponse(f"/operator/trips/{trip_id}", status_code=303)
