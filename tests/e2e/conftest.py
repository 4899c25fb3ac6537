"""Browser tests: Debian's Chromium (never downloaded) driven by Playwright against the real app
(uvicorn in a thread on a free port), the real PostgreSQL and Mosquitto.

Every page's requests are recorded; a test fails if any goes to a host other than the app's. A
failing test leaves a screenshot and the page's HTML in ``.e2e-artifacts/`` (or
``$SOCIALTAXI_E2E_ARTIFACTS``).
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.integration.api.conftest import (  # noqa: F401  (fixtures)
    PASSWORD,
    SECRET,
    Api,
    Clock,
    api_settings,
    make_api,
    murino_graph,
    password_hash,
)
from tests.integration.telemetry.conftest import (  # noqa: F401  (fixtures)
    ingest_factory,
    publisher_factory,
)

CHROMIUM = "/usr/bin/chromium"
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("SOCIALTAXI_E2E_ARTIFACTS", REPO / ".e2e-artifacts"))

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveApp:
    """The running app: its base URL, the seeding API helper (same database) and the clock."""

    base_url: str
    api: Api
    app: Any
    ids: dict[str, int] = field(default_factory=dict)

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).netloc


@pytest.fixture
def live_app(db_url, murino_graph, password_hash) -> Iterator[LiveApp]:  # noqa: F811
    import uvicorn

    from web.app import create_app

    api_gen = make_api(db_url, murino_graph, password_hash)
    api = next(api_gen)
    settings = api_settings(db_url, db_pool_max=6)
    app = create_app(settings, graph=murino_graph, clock=api.clock)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    app.state.live_poll_s = 0.2
    try:
        yield LiveApp(f"http://127.0.0.1:{port}", api, app)
    finally:
        server.should_exit = True
        thread.join(15)
        try:
            next(api_gen)
        except StopIteration:
            pass


# Module scope, not session: Playwright's sync API keeps an event loop running in the main thread
# while it is open, and a later test's asyncio.run() (tests/security) would find it.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} missing: apt-get install -y chromium (scripts/setup.sh)")
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        yield b
        b.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


class Pages:
    """One browser context (a fresh session) with every request recorded."""

    def __init__(self, browser: Any, live: LiveApp) -> None:
        self.live = live
        self.context = browser.new_context(
            viewport={"width": 1366, "height": 768}, locale="ru-RU", accept_downloads=True
        )
        self.requests: list[str] = []
        self.context.on("request", lambda r: self.requests.append(r.url))
        self.page = self.context.new_page()
        # what the Content-Security-Policy refused (an inline style or script the pages need)
        self.csp_errors: list[str] = []
        self.page.on(
            "console",
            lambda m: (
                self.csp_errors.append(m.text) if "Content Security Policy" in m.text else None
            ),
        )
        self.page.set_default_timeout(15_000)

    def url(self, path: str) -> str:
        return self.live.base_url + path

    def goto(self, path: str) -> Any:
        return self.page.goto(self.url(path))

    def login(self, login: str, password: str = PASSWORD) -> None:
        self.goto("/login")
        self.page.fill("input[name=login]", login)
        self.page.fill("input[name=password]", password)
        self.page.click("button[type=submit]")
        self.page.wait_for_load_state("networkidle")

    def foreign_requests(self) -> list[str]:
        out = []
        for url in self.requests:
            parts = urlsplit(url)
            if parts.scheme in ("data", "blob", "about"):
                continue
            if parts.netloc != self.live.host:
                out.append(url)
        return out


@pytest.fixture
def pages(browser, live_app, request) -> Iterator[Pages]:
    p = Pages(browser, live_app)
    yield p
    failed = any(
        getattr(request.node, f"rep_{w}", None) is not None
        and getattr(request.node, f"rep_{w}").failed
        for w in ("setup", "call")
    )
    # SOCIALTAXI_E2E_SHOTS=1 keeps the last screen of every test, to look at the pages
    if failed or os.environ.get("SOCIALTAXI_E2E_SHOTS"):
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)[-150:]
        try:
            p.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
            (ARTIFACTS / f"{name}.html").write_text(p.page.content(), encoding="utf-8")
        except Exception as exc:  # the page may be gone; the test's own error matters more
            print(f"could not save the failure artefacts: {exc}")
    foreign = p.foreign_requests()
    p.context.close()
    assert not foreign, f"requests to foreign hosts: {foreign}"
    assert not p.csp_errors, f"refused by the Content-Security-Policy: {p.csp_errors}"
