"""Request dependencies as ``Annotated`` aliases: a pooled connection (one transaction per
request), the settings, the rules, the road graph and the clock — all from ``app.state``, set up
once in the lifespan (:func:`web.app.create_app`)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any

import psycopg
from fastapi import Depends, Request
from psycopg_pool import ConnectionPool

from config.rules import Rules
from config.settings import Settings


def get_conn(request: Request) -> Iterator[psycopg.Connection]:
    """A connection from the pool; committed when the request succeeds, rolled back otherwise."""
    with request.app.state.pool.connection() as conn:
        yield conn


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


def get_rules(request: Request) -> Rules:
    return request.app.state.rules


def get_now(request: Request) -> datetime:
    """The current time, UTC-aware (tests may freeze it with ``create_app(clock=...)``)."""
    return request.app.state.clock()


# scope="function": the transaction ends (commit or rollback) when the handler returns, BEFORE
# the response is sent — a commit that fails is an error response, never a "201 Created" for
# data that was not saved (the default "request" scope would commit after sending).
Conn = Annotated[psycopg.Connection, Depends(get_conn, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
RulesDep = Annotated[Rules, Depends(get_rules)]
NowDep = Annotated[datetime, Depends(get_now)]


def get_graph(request: Request, conn: Conn) -> Any:
    """The road graphs to route on (``routing.profiled.HourlyGraphs``: the model's speeds, or
    the active speed profile's by hour of the week — services pick the hour with
    ``routing.profiled.graph_at``); ``None`` when no map is configured. Looks up the active
    profile on the request's own connection (one one-row query)."""
    graphs = request.app.state.graphs
    return None if graphs is None else graphs.current(conn)


GraphDep = Annotated[Any, Depends(get_graph)]


def get_pool(request: Request) -> ConnectionPool:
    """The pool itself, for the few handlers that need a transaction of their own (login)."""
    return request.app.state.pool


PoolDep = Annotated[ConnectionPool, Depends(get_pool)]
