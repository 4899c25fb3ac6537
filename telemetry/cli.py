"""``socialtaxi ingest``: the MQTT ingest service (see ``docs/telemetry.md``)."""

from __future__ import annotations

import gc
import logging
import os
import signal
import socket
import threading

import typer

log = logging.getLogger("telemetry")


def register(root: typer.Typer) -> None:
    @root.command("ingest")
    def ingest(
        client_id: str = typer.Option(
            None,
            help="MQTT client id (default: setting mqtt_client_id). Keep it stable per "
            "instance: the broker keeps the persistent session under it.",
        ),
        share_group: str = typer.Option(
            None,
            help="Shared-subscription group (default: setting mqtt_share_group; "
            "'-' for a plain subscription).",
        ),
        owntracks_prefix: str = typer.Option(
            "owntracks", help="Topic root of OwnTracks devices ('-' to ignore OwnTracks)."
        ),
        batch_max: int = typer.Option(5000, min=1, help="Flush after this many messages."),
        flush_ms: int = typer.Option(100, min=1, help="...or when the oldest waited this long."),
        committers: int = typer.Option(
            2, min=1, max=8, help="Batches written at once, each on its own connection."
        ),
        metrics_host: str = typer.Option("127.0.0.1", help="Address of the metrics endpoint."),
        metrics_port: int = typer.Option(
            9310, min=0, max=65535, help="Port of /metrics and /metrics.json (0: off)."
        ),
        log_every: float = typer.Option(30.0, min=1, help="Log the counters every N seconds."),
        receive_maximum: int = typer.Option(
            65535,
            min=1,
            max=65535,
            help="Unacknowledged messages the broker may send us (the backlog while the "
            "database is down).",
        ),
        public_paho: bool = typer.Option(
            False,
            "--public-paho",
            help="Use paho-mqtt's public API only (slower: see docs/telemetry.md) instead of the "
            "tuned client, which overrides private paho methods.",
        ),
        paho_without: list[str] = typer.Option(
            [],
            "--paho-without",
            help="Leave one tuning of the client out (read_buffer, batch_acks, "
            "direct_dispatch); repeatable. For measuring each one (bench/ingest.py).",
        ),
    ) -> None:
        """Receive GPS fixes and trip events over MQTT and store them (until SIGTERM/SIGINT)."""
        from config.rules import RulesError, load_rules
        from config.settings import get_settings
        from telemetry.mqtt import (
            ALL_TUNINGS,
            MqttOptions,
            MqttReceiver,
            PahoMismatch,
            check_paho_internals,
            subscriptions,
        )
        from telemetry.pipeline import Limits
        from telemetry.service import IngestConfig, IngestService, serve_metrics
        from telemetry.store import TelemetryStore

        s = get_settings()
        try:
            rules = load_rules(s.rules_file)
        except RulesError as exc:
            typer.echo(f"Ошибка: {exc}", err=True)
            raise typer.Exit(1) from None
        tunings = frozenset() if public_paho else ALL_TUNINGS - set(paho_without)
        try:
            check_paho_internals(tunings=tunings | (set(paho_without) - ALL_TUNINGS))
        except PahoMismatch as exc:  # at start-up, not mid-stream
            typer.echo(f"Ошибка: {exc}", err=True)
            raise typer.Exit(1) from None
        ot = None if owntracks_prefix in ("", "-") else owntracks_prefix
        group = s.mqtt_share_group if share_group is None else share_group
        limits = Limits.from_rules(
            rules.telemetry,
            prefix=s.mqtt_topic_prefix,
            owntracks_prefix=ot,
            max_age_s=s.positions_retention_days * 86400.0,
        )
        config = IngestConfig(
            limits=limits,
            batch_max_messages=batch_max,
            flush_interval_s=flush_ms / 1000,
            log_every_s=log_every,
            committers=committers,
        )
        service = IngestService(
            config,
            TelemetryStore(s.database_url, no_show=rules.no_show, timezone=rules.timezone),
        )
        receiver = MqttReceiver(
            MqttOptions(
                host=s.mqtt_host,
                port=s.mqtt_port,
                client_id=client_id or s.mqtt_client_id,
                share_group=None if group in ("", "-") else group,
                topics=subscriptions(s.mqtt_topic_prefix, ot),
                username=s.mqtt_username,
                password=s.mqtt_password.get_secret_value() if s.mqtt_password else None,
                receive_maximum=receive_maximum,
                paho_tunings=tunings,
            ),
            service.on_inbound,
            on_state=service.on_mqtt_state,
        )
        service.acker = receiver
        stop = threading.Event()

        def _stop(signum: int, _frame: object) -> None:
            log.info("signal %d: flushing and stopping", signum)
            stop.set()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        server = None
        if metrics_port:
            try:
                server = serve_metrics(service.snapshot, metrics_host, metrics_port)
            except OSError as exc:
                typer.echo(f"Ошибка: порт метрик {metrics_port} занят: {exc}", err=True)
                raise typer.Exit(1) from None
        log.info(
            "ingest %s (pid %d, host %s): topics %s, metrics %s",
            client_id or s.mqtt_client_id,
            os.getpid(),
            socket.gethostname(),
            ", ".join(subscriptions(s.mqtt_topic_prefix, ot)),
            f"http://{metrics_host}:{metrics_port}/metrics" if server else "off",
        )
        # Everything imported so far lives as long as the process: keep it out of the collector's
        # scans, and collect young objects less often (ingest allocates a few per message and
        # makes no reference cycles in its hot path; py-spy showed the collections at ~10 % of
        # the writer under a backlog).
        gc.collect()
        gc.freeze()
        gc.set_threshold(50_000, 20, 20)
        receiver.start()
        try:
            service.run(stop)
        finally:
            receiver.stop()
            service.store.close()
            if server is not None:
                server.shutdown()
        log.info("ingest stopped")
