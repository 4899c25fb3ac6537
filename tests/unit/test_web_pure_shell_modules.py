"""Unit tests of the pure modules behind the API: search parsing, CSV parsing, document sniffing,
Russian validation messages, tokens, log masking; and that they stay free of I/O imports."""

from __future__ import annotations

import hashlib
import logging
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta

import pytest
from pydantic import ValidationError

from dispatch.documents import check_document, sniff_content_type
from dispatch.errors import Invalid
from dispatch.imports import parse_csv
from dispatch.models import PassengerIn
from dispatch.search import NameQuery, PhoneQuery, parse_query
from tests.conftest import sample_image, sample_pdf
from web.validation_ru import error_ru, row_error_ru

IO_MODULES = (
    "psycopg",
    "psycopg_pool",
    "paho",
    "fastapi",
    "starlette",
    "uvicorn",
    "folium",
    "config.settings",
)


def io_loaded_by(*modules: str) -> list[str]:
    """The I/O modules (or their submodules) in ``sys.modules`` after importing ``modules`` in a
    fresh interpreter. Matched by whole dotted name, so ``config.settings`` is seen too."""
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        f"io = {IO_MODULES!r}\n"
        "print(' '.join(sorted({f for m in sys.modules for f in io"
        " if m == f or m.startswith(f + '.')})))"
    )
    run = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return run.stdout.split()


def test_pure_modules_do_not_load_io_libraries():
    pure = ("dispatch.search", "dispatch.imports", "dispatch.documents", "dispatch.models")
    assert io_loaded_by("config.rules") == []  # config/__init__.py re-exported the settings
    assert io_loaded_by(*pure) == []


def test_the_io_check_fires():
    """The check sees a dotted module (``config.settings``) and a library loaded through a
    project module; it once compared first path segments with 'config.settings' and so could
    never fire."""
    assert io_loaded_by("config.settings") == ["config.settings"]
    assert io_loaded_by("dispatch.store.trips") == ["psycopg"]
    assert io_loaded_by("telemetry.mqtt") == ["paho"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("+7 (921) 123-45-67", PhoneQuery("79211234567")),
        ("8 921 123", PhoneQuery("7921123", "8921123")),
        ("+7 921 123", PhoneQuery("7921123")),
        ("45-67", PhoneQuery("4567")),
        ("СЕМЁНОВА  Мария", NameQuery("семенова мария", None)),
        ("Семёнова Мария 12.03.1941", NameQuery("семенова мария", date(1941, 3, 12))),
        ("Семёнова 1941-03-12", NameQuery("семенова", date(1941, 3, 12))),
    ],
)
def test_parse_query_free_text(text, expected):
    assert parse_query(text) == expected


def test_parse_query_layout_homoglyphs_and_two_digit_years():
    today = date(2026, 12, 1)
    assert parse_query("Bdfyjdf", today=today) == NameQuery("bdfyjdf", None, "иванова")
    assert parse_query("Ивaнова", today=today) == NameQuery("иванова", None)
    assert parse_query("Иванова 12.3.41", today=today) == NameQuery("иванова", date(1941, 3, 12))
    for bad, code in (("Иванова 12.3.24", "ambiguous_year"), ("Иванова 12.3", "bad_date"),
                      ("Иванова 1941", "bad_date"), ("Иванова 31.2.41", "bad_date")):  # fmt: skip
        with pytest.raises(Invalid) as exc:
            parse_query(bad, today=today)
        assert exc.value.code == code


def test_parse_query_explicit_fields_and_refusals():
    assert parse_query(phone="8-921-000-00-01") == PhoneQuery("79210000001")
    assert parse_query(phone="876-543") == PhoneQuery("776543", "876543")
    assert parse_query(phone="812-34") == PhoneQuery("81234")
    assert parse_query(name="Иванов", birth_date=date(1940, 1, 1)) == NameQuery(
        "иванов", date(1940, 1, 1)
    )
    for bad in ("", "12", "Ив", "Иванов 31.02.1941"):
        with pytest.raises(Invalid):
            parse_query(bad)


def test_document_sniffing_ignores_the_declared_type():
    assert sniff_content_type(b"%PDF-1.7\n") == "application/pdf"
    assert sniff_content_type(b"\xff\xd8\xff\xe0JFIF") == "image/jpeg"
    assert sniff_content_type(b"\x89PNG\r\n\x1a\n....") == "image/png"
    assert sniff_content_type(b"GIF89a") is None
    assert sniff_content_type(b"<html>%PDF-") is None  # junk before the header: a polyglot
    pdf = sample_pdf()
    doc = check_document(pdf)
    assert doc.sha256 == hashlib.sha256(pdf).hexdigest() and doc.size_bytes == len(pdf)
    assert check_document(sample_image("JPEG")).content_type == "image/jpeg"
    with pytest.raises(Invalid, match="не читается как PDF"):
        check_document(b"%PDF-1.4 x")
    with pytest.raises(Invalid, match="только файлы PDF"):
        check_document(b"MZ\x90\x00")
    with pytest.raises(Invalid, match="больше"):
        check_document(b"%PDF-" + b"0" * 100, max_bytes=50)
    with pytest.raises(Invalid, match="пустой"):
        check_document(b"")


def test_csv_reports_lines_and_reasons():
    text = (
        "last_name,first_name,birth_date,phones,wheelchair\n"
        "Иванов,Иван,1940-01-01,+79210000001;89210000002,да\n"
        "\n"
        "Петров,,1940-01-01,,\n"
        '"Сидоров","Сидор","01.13.1940",,\n'
        "Орлов,Олег,1940-01-01,,может быть\n"
        "Лишний,Столбец,1940-01-01,,нет,x\n"
    )
    parsed = parse_csv(text.encode(), kind="passengers")
    assert [(line, p.last_name, p.phones, p.wheelchair) for line, p in parsed.rows] == [
        (2, "Иванов", ["79210000001", "79210000002"], True)
    ]
    errors = {e.line: row_error_ru(e) for e in parsed.errors}
    assert set(errors) == {4, 5, 6, 7}
    assert errors[4] == "Имя: не может быть пустым"
    assert "неверная дата" in errors[5] and "да/нет" in errors[6] and "Лишние столбцы" in errors[7]
    with pytest.raises(Invalid):
        parse_csv(b"", kind="passengers")
    with pytest.raises(Invalid):
        parse_csv(b"a,b\n", kind="nothing")


def test_validation_messages_are_russian():
    with pytest.raises(ValidationError) as exc:
        PassengerIn.model_validate({"last_name": "", "birth_date": "1800-01-01", "snils": "123"})
    msgs = {error_ru(e)[0]: error_ru(e)[1] for e in exc.value.errors()}
    assert msgs["last_name"] == "Фамилия: не может быть пустым"
    assert msgs["first_name"] == "Имя: обязательное поле"
    assert msgs["birth_date"] == "Дата рождения: Дата рождения вне допустимого диапазона"
    assert msgs["snils"].startswith("СНИЛС: Неверный СНИЛС")


def test_session_tokens_and_lifetimes():
    from web.credentials import (
        SessionState,
        SessionTimes,
        TokenInvalid,
        new_token,
        parse_token,
        session_state,
        token_digest,
    )

    token = new_token()
    assert parse_token(token) == token and token != new_token()
    assert len(token_digest(token)) == 32
    for bad in ("", "garbage", token[:-1], token + "A", "v1.e30.x", token[:-1] + "ж", None, 5):
        with pytest.raises(TokenInvalid):
            parse_token(bad)
    t0 = datetime(2026, 3, 16, 6, tzinfo=UTC)
    s = SessionTimes(t0, t0, t0 + timedelta(hours=12), None)
    idle = timedelta(minutes=30)
    state = session_state
    assert state(s, user_active=True, now=t0 + timedelta(minutes=29), idle=idle) == "active"
    assert state(s, user_active=True, now=t0 + timedelta(minutes=30), idle=idle) == "idle"
    late = SessionTimes(t0, t0 + timedelta(hours=12), t0 + timedelta(hours=12), None)
    assert state(late, user_active=True, now=t0 + timedelta(hours=12), idle=idle) == "expired"
    ended = SessionTimes(t0, t0, t0 + timedelta(hours=12), t0)
    assert state(ended, user_active=True, now=t0, idle=idle) is SessionState.ENDED
    assert state(s, user_active=False, now=t0, idle=idle) is SessionState.USER_INACTIVE


def test_lockout_backs_off_and_is_capped():
    from web.credentials import LockoutPolicy, locked_for, lockout_after

    p = LockoutPolicy(max_failures=5, base_s=60, max_s=3600)
    assert [lockout_after(n, p) for n in range(5)] == [None] * 5
    assert [lockout_after(n, p).total_seconds() for n in (5, 6, 7, 12, 1000)] == [
        60, 120, 240, 3600, 3600,
    ]  # fmt: skip
    now = datetime(2026, 3, 16, 6, tzinfo=UTC)
    assert locked_for(None, now) is None and locked_for(now, now) is None
    assert locked_for(now + timedelta(seconds=5), now) == timedelta(seconds=5)


def test_password_hashing_is_argon2id():
    from web.auth import hash_password, verify_password

    h = hash_password("пароль-1234")
    assert h.startswith("$argon2id$") and verify_password(h, "пароль-1234")
    assert not verify_password(h, "пароль-1235") and not verify_password("garbage", "x")


def test_log_filter_masks_query_strings_and_numbers(caplog):
    from web.logmask import PiiFilter

    logger = logging.getLogger("test.web.mask")
    logger.addFilter(PiiFilter())
    with caplog.at_level(logging.INFO, logger="test.web.mask"):
        logger.info(
            '%s - "%s %s HTTP/1.1" %d',
            "127.0.0.1:5000",
            "GET",
            "/api/v1/passengers?purpose=проверка&phone=89217654321",
            200,
        )
        logger.info("СНИЛС 112-233-445 95 and phone +7 921 765-43-21")
    assert "89217654321" not in caplog.text and "проверка" not in caplog.text
    assert "112-233-445" not in caplog.text and "765-43" not in caplog.text
    assert "/api/v1/passengers?purpose=***&phone=***" in caplog.text
