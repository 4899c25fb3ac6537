"""Booking (quote, single, recurring), trip reads, lifecycle actions and documents.

(No ``from __future__ import annotations``: the lifecycle handlers are built in a loop and their
annotations must be real objects for FastAPI.)
"""

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Path, Query, Response, UploadFile, status

from dispatch.documents import MAX_BYTES
from dispatch.lifecycle import TripAction, TripStatus
from dispatch.models import (
    Document,
    RecurringRequest,
    RecurringResult,
    SaneDateTime,
    SeriesRefusal,
    Trip,
    TripEvent,
    TripQuote,
    TripRequest,
)
from dispatch.services import booking as book_svc
from dispatch.services import trips as trip_svc
from web.auth import Anyone, Canceller, Dispatcher, Operator
from web.deps import Conn, GraphDep, NowDep, RulesDep
from web.routes._common import Limit, Offset, Purpose, read_upload
from web.schemas import CancelIn, OptionalReasonIn, ReasonIn

router = APIRouter(tags=["Поездки"])
TripId = Annotated[int, Path(ge=1, le=2**63 - 1)]
DocId = Annotated[int, Path(ge=1, le=2**63 - 1)]


@router.post("/trips/quote", response_model=TripQuote)
def quote_trip(
    body: TripRequest, conn: Conn, rules: RulesDep, graph: GraphDep, now: NowDep, user: Operator
) -> TripQuote:
    """Preview without booking: quota left, co-payment due, planned route and ETA. With
    ``return_pickup_at`` the return is quoted too (``return_trip``) and both legs are priced as
    the booking charges them: the co-payment band from the pair's total distance (``band_km``),
    ``total_copay_kop`` and ``quota_after`` with the pair counted as the rules say."""
    return book_svc.quote_trip(conn, req=body, rules=rules, graph=graph, actor=user, now=now)


@router.post("/trips", response_model=Trip, status_code=status.HTTP_201_CREATED)
def book_trip(
    body: TripRequest, conn: Conn, rules: RulesDep, graph: GraphDep, now: NowDep, user: Operator
) -> Trip:
    """Book a trip. Over the quota it needs ``override_reason`` from a supervisor or admin."""
    return book_svc.book_trip(conn, req=body, rules=rules, graph=graph, actor=user, now=now)


@router.post(
    "/trips/recurring", response_model=RecurringResult, status_code=status.HTTP_201_CREATED
)
def book_recurring(
    body: RecurringRequest,
    conn: Conn,
    rules: RulesDep,
    graph: GraphDep,
    now: NowDep,
    user: Operator,
) -> RecurringResult:
    """Store a rolling series and book its dates within the horizon now; later dates are
    ``pending`` and booked by the daily job (``socialtaxi series expand``) as they come within
    it. Each date is checked on its own; refused dates are listed with reasons."""
    return book_svc.book_recurring(conn, req=body, rules=rules, graph=graph, actor=user, now=now)


@router.get("/trips/recurring/refused", response_model=list[SeriesRefusal])
def series_refusals_all(conn: Conn, user: Operator, limit: Limit = 200) -> list[SeriesRefusal]:
    """Dates of every series that could not be booked (at creation or by the daily job)."""
    return book_svc.series_refusals(conn, recurrence_id=None, actor=user, limit=limit)


@router.get("/trips/recurring/{recurrence_id}/refused", response_model=list[SeriesRefusal])
def series_refusals(
    recurrence_id: Annotated[int, Path(ge=1, le=2**63 - 1)], conn: Conn, user: Operator
) -> list[SeriesRefusal]:
    """The refused dates of one series, with the reasons."""
    return book_svc.series_refusals(conn, recurrence_id=recurrence_id, actor=user)


@router.get("/trips", response_model=list[Trip])
def list_trips(
    conn: Conn,
    user: Anyone,
    start: Annotated[
        SaneDateTime | None, Query(description="Подача не раньше (ISO 8601 с поясом)")
    ] = None,
    end: Annotated[SaneDateTime | None, Query(description="Подача раньше")] = None,
    status_: Annotated[TripStatus | None, Query(alias="status")] = None,
    passenger_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    vehicle_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    limit: Limit = 100,
    offset: Offset = 0,
    purpose: Purpose = "dispatch",
) -> list[Trip]:
    return trip_svc.read_trips(
        conn,
        actor=user,
        purpose=purpose,
        start=start,
        end=end,
        status=status_,
        passenger_id=passenger_id,
        vehicle_id=vehicle_id,
        limit=limit,
        offset=offset,
    )


@router.get("/trips/{trip_id}", response_model=Trip)
def get_trip(trip_id: TripId, conn: Conn, user: Anyone, purpose: Purpose = "view") -> Trip:
    return trip_svc.read_trip(conn, trip_id=trip_id, actor=user, purpose=purpose)


@router.get("/trips/{trip_id}/events", response_model=list[TripEvent])
def trip_events(
    trip_id: TripId, conn: Conn, user: Anyone, purpose: Purpose = "view"
) -> list[TripEvent]:
    return trip_svc.list_events(conn, trip_id=trip_id, actor=user, purpose=purpose)


def _act(action: TripAction, summary: str, *, reason_model: type | None, who: Any) -> None:
    path = f"/trips/{{trip_id}}/{action.value.replace('_', '-')}"

    def with_reason(
        trip_id: TripId,
        body: ReasonIn,
        conn: Conn,
        rules: RulesDep,
        now: NowDep,
        user: who,  # type: ignore[valid-type]
    ) -> Trip:
        return trip_svc.act(
            conn, trip_id=trip_id, action=action, actor=user, now=now, rules=rules,
            reason=body.reason,
        )  # fmt: skip

    def without_reason(
        trip_id: TripId,
        conn: Conn,
        rules: RulesDep,
        now: NowDep,
        user: who,  # type: ignore[valid-type]
        body: OptionalReasonIn | None = None,
    ) -> Trip:
        return trip_svc.act(
            conn, trip_id=trip_id, action=action, actor=user, now=now, rules=rules,
            reason=body.reason if body else None,
        )  # fmt: skip

    handler = with_reason if reason_model is ReasonIn else without_reason
    router.add_api_route(
        path,
        handler,
        methods=["POST"],
        response_model=Trip,
        summary=summary,
        name=f"trip_{action.value}",
        responses={409: {"description": "Недопустимый переход состояния"}},
    )


_act(TripAction.START, "Машина выехала к пассажиру", reason_model=None, who=Dispatcher)
_act(TripAction.ARRIVE, "Машина на месте подачи", reason_model=None, who=Dispatcher)
_act(TripAction.BOARD, "Пассажир в машине", reason_model=None, who=Dispatcher)
_act(TripAction.COMPLETE, "Поездка завершена", reason_model=None, who=Dispatcher)
_act(TripAction.UNASSIGN, "Снять назначение машины", reason_model=None, who=Dispatcher)


@router.post(
    "/trips/{trip_id}/cancel",
    response_model=Trip,
    summary="Отменить поездку (причина и кто отменяет обязательны)",
    name="trip_cancel",
    responses={409: {"description": "Недопустимый переход состояния"}},
)
def cancel_trip(
    trip_id: TripId, body: CancelIn, conn: Conn, rules: RulesDep, now: NowDep, user: Canceller
) -> Trip:
    """Whether the cancellation counts against the quota follows the rules file
    (``[cancellation]``: initiator × timing); both are stored on the trip."""
    return trip_svc.act(
        conn, trip_id=trip_id, action=TripAction.CANCEL, actor=user, now=now, rules=rules,
        reason=body.reason, initiator=body.initiator,
    )  # fmt: skip


_act(
    TripAction.NO_SHOW,
    "Неявка пассажира (причина обязательна)",
    reason_model=ReasonIn,
    who=Dispatcher,
)


@router.post(
    "/trips/{trip_id}/documents", response_model=Document, status_code=status.HTTP_201_CREATED
)
def upload_document(
    trip_id: TripId,
    conn: Conn,
    user: Operator,
    file: Annotated[UploadFile, File(description="PDF, JPEG или PNG, до 10 МБ")],
    kind: Annotated[str, Form(min_length=1, max_length=50)] = "referral",
) -> Document:
    """Attach a document; its type is judged by content (magic bytes), its SHA-256 stored."""
    content = read_upload(file, max_bytes=MAX_BYTES)
    return trip_svc.attach_document(
        conn,
        trip_id=trip_id,
        filename=file.filename or "document",
        content=content,
        kind=kind,
        actor=user,
        max_bytes=MAX_BYTES,
    )


@router.get("/trips/{trip_id}/documents", response_model=list[Document])
def list_documents(
    trip_id: TripId, conn: Conn, user: Anyone, purpose: Purpose = "view"
) -> list[Document]:
    return trip_svc.list_documents(conn, trip_id=trip_id, actor=user, purpose=purpose)


@router.get(
    "/documents/{document_id}/content",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}, "image/jpeg": {}, "image/png": {}}}},
)
def document_content(
    document_id: DocId, conn: Conn, user: Anyone, purpose: Purpose = "view"
) -> Response:
    doc, content = trip_svc.read_document(
        conn, document_id=document_id, actor=user, purpose=purpose
    )
    return Response(
        content,
        media_type=doc.content_type,
        headers={"X-Content-SHA256": doc.sha256, "X-Content-Type-Options": "nosniff"},
    )
