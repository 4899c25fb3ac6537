"""Import contracts over the whole tree (STYLE.md "Layers" and habits 1, 2, 6).

The contracts live in ``pyproject.toml`` (``[tool.importlinter]``): a *layers* contract
(config → db → routing → dispatch → telemetry → audit : simulators → web → socialtaxi) and a
*purity* contract (:mod:`tests.architecture`): every module that is not an I/O module by its
place reaches no I/O library and not ``config.settings``, by any chain through the project.
The pure set is derived from the tree, so a new module is checked without being listed.
"""

from __future__ import annotations

import logging
import textwrap
import tomllib
from pathlib import Path

import grimp
import pytest
from importlinter import api, cli
from importlinter.contracts.layers import LayersContract

from tests.architecture import PurityContract, find_violations, is_shell

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = REPO / "pyproject.toml"


@pytest.fixture(autouse=True)
def _loggers_stay_enabled():  # type: ignore[no-untyped-def]
    """import-linter's CLI configures logging with ``dictConfig``, which disables every logger
    that exists (``disable_existing_loggers`` defaults to true): restore them afterwards, or a
    later test's ``caplog`` would see nothing from ``web.security`` and the like."""
    loggers = logging.Logger.manager.loggerDict
    before = {n: lg.disabled for n, lg in loggers.items() if isinstance(lg, logging.Logger)}
    yield
    for name, lg in list(loggers.items()):
        if isinstance(lg, logging.Logger):
            lg.disabled = before.get(name, False)


@pytest.fixture(scope="module")
def config() -> dict:
    return api.read_configuration(str(PYPROJECT))


def _contract(config: dict, contract_id: str):
    options = next(c for c in config["contracts_options"] if c["id"] == contract_id)
    cls = {"layers": LayersContract, "purity": PurityContract}[options["type"]]
    fields = {k: v for k, v in options.items() if k not in ("name", "type", "id")}
    return cls(options["name"], config["session_options"], fields)


def _graph_copy(config: dict) -> grimp.ImportGraph:
    return grimp.build_graph(
        *config["session_options"]["root_packages"], include_external_packages=True, cache_dir=None
    )


def test_the_import_contracts_hold(monkeypatch, capsys):
    """``lint-imports`` as CI would run it, from the repository root."""
    monkeypatch.chdir(REPO)
    rc = cli.lint_imports(config_filename=str(PYPROJECT), no_cache=True, no_logo=True)
    report = capsys.readouterr().out
    assert rc == cli.EXIT_STATUS_SUCCESS, report
    assert "2 kept, 0 broken" in report


def test_every_project_package_is_a_layer(config):
    """A new top-level package must be placed in the layers (else nothing checks it)."""
    roots = set(config["session_options"]["root_packages"])
    layers = _contract(config, "layers").layers  # type: ignore[attr-defined]
    in_layers = {tail.name for layer in layers for tail in layer.module_tails}
    assert in_layers == roots
    packages = {
        p.parent.name
        for p in REPO.glob("*/__init__.py")
        if p.parent.name not in ("tests", "bench", "scripts", "deploy", "docs")
    }
    assert packages == roots, "add the new package to [tool.importlinter] root_packages"


@pytest.mark.parametrize(
    ("importer", "imported"),
    [
        ("config.rules", "db.connect"),  # config is the bottom
        ("db.migrate", "dispatch.quota"),  # db imports no domain package
        ("routing.graph", "dispatch.lifecycle"),  # routing is the bottom of the domain
        ("dispatch.quota", "telemetry.model"),  # dispatch is below telemetry
        ("telemetry.pipeline", "audit"),  # telemetry is below audit
        ("dispatch.tariff", "web.errors"),  # the domain never imports web
        ("web.app", "socialtaxi.cli"),  # web never imports the command line
    ],
)
def test_the_layers_contract_fires_on_an_upward_import(config, importer, imported):
    graph = _graph_copy(config)
    contract = _contract(config, "layers")
    assert contract.check(graph, verbose=False).kept
    graph.add_import(importer=importer, imported=imported, line_number=1, line_contents="import x")
    assert not contract.check(graph, verbose=False).kept


def test_audit_and_simulators_may_use_each_other(config):
    graph = _graph_copy(config)
    graph.add_import(importer="audit", imported="simulators", line_number=1, line_contents="")
    graph.add_import(importer="simulators", imported="audit", line_number=1, line_contents="")
    assert _contract(config, "layers").check(graph, verbose=False).kept


def test_a_new_pure_module_is_checked_without_being_listed(config):
    """``audit/rules.py`` reaching psycopg through a dispatch store module: refused."""
    graph = _graph_copy(config)
    contract = _contract(config, "purity")
    graph.add_module("audit.rules")
    graph.add_import(
        importer="audit.rules", imported="dispatch.quota", line_number=3, line_contents=""
    )
    assert contract.check(graph, verbose=False).kept  # pure → pure: fine
    graph.add_import(
        importer="audit.rules", imported="dispatch.store.trips", line_number=4, line_contents=""
    )
    check = contract.check(graph, verbose=False)
    assert not check.kept
    assert "audit.rules" in check.metadata["pure"]
    assert any(
        v.startswith("audit.rules reaches psycopg: audit.rules -> dispatch.store.trips (l. 4)")
        for v in check.metadata["violations"]
    ), check.metadata["violations"]


def test_shell_modules_are_recognised_by_their_place(config):
    shell = _contract(config, "purity").shell  # type: ignore[attr-defined]
    for module in (
        "dispatch.store.trips",
        "telemetry.store",
        "routing.store",
        "routing.address_store",
        "dispatch.services.booking",
        "telemetry.service",
        "telemetry.mqtt",
        "telemetry.publish",
        "web.routes.trips",
        "audit.cli",
        "db.migrate",
        "telemetry.__main__",
    ):
        assert is_shell(module, shell), module
    for module in ("audit.rules", "dispatch.quota", "telemetry.pipeline", "routing.graph"):
        assert not is_shell(module, shell), module


def _write_tree(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


THROWAWAY = {
    "stx_tmp/__init__.py": "",
    "stx_tmp/errors.py": "class Bad(Exception): ...\n",
    "stx_tmp/settings.py": "VALUE = 1\n",
    # a store module (shell by its place) may import psycopg ...
    "stx_tmp/store.py": "import psycopg\n\n\ndef load():\n    return psycopg\n",
    "stx_tmp/cli.py": "import paho.mqtt.client\nfrom stx_tmp import settings\n",
    # ... a pure module may not reach it through the store module
    "stx_tmp/rules.py": "from stx_tmp.errors import Bad\nfrom stx_tmp.store import load\n",
    # nor through its package's __init__, nor with an import inside a function
    "stx_tmp/geo/__init__.py": "from stx_tmp.store import load\n",
    "stx_tmp/geo/dist.py": "import math\n",
    "stx_tmp/lazy.py": "def f():\n    from stx_tmp import settings\n    return settings\n",
    "stx_tmp/clean.py": "import math\n\nfrom stx_tmp.errors import Bad\n",
}


def test_the_purity_checker_fires_on_a_throwaway_tree(tmp_path, monkeypatch, config):
    """A pure module importing a project store module that imports psycopg is reported, with
    the chain; so are a package ``__init__`` path and a function-level import."""
    _write_tree(tmp_path, THROWAWAY)
    monkeypatch.syspath_prepend(str(tmp_path))
    purity = _contract(config, "purity")
    graph = grimp.build_graph("stx_tmp", include_external_packages=True, cache_dir=None)
    pure, violations = find_violations(
        graph,
        root_packages=["stx_tmp"],
        shell=purity.shell,  # type: ignore[attr-defined]
        forbidden=[*purity.forbidden, "stx_tmp.settings"],  # type: ignore[attr-defined]
    )
    assert {(v.module, v.forbidden) for v in violations} == {
        ("stx_tmp.rules", "psycopg"),
        ("stx_tmp.geo", "psycopg"),
        ("stx_tmp.geo.dist", "psycopg"),
        ("stx_tmp.lazy", "stx_tmp.settings"),
    }
    assert {"stx_tmp.clean", "stx_tmp.errors", "stx_tmp.rules"} <= set(pure)
    assert "stx_tmp.store" not in pure and "stx_tmp.cli" not in pure
    rules = next(v for v in violations if v.module == "stx_tmp.rules")
    assert rules.describe() == (
        "stx_tmp.rules reaches psycopg: stx_tmp.rules -> stx_tmp.store (l. 2) -> psycopg (l. 1)"
    )
    dist = next(v for v in violations if v.module == "stx_tmp.geo.dist")
    assert [step[:2] for step in dist.chain] == [
        ("stx_tmp.geo.dist", "stx_tmp.geo"),
        ("stx_tmp.geo", "stx_tmp.store"),
        ("stx_tmp.store", "psycopg"),
    ]


def test_lint_imports_fails_on_the_throwaway_tree(tmp_path, monkeypatch, capsys, config):
    """The same through the ``lint-imports`` entry point with the project's contract options."""
    _write_tree(tmp_path, THROWAWAY)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(REPO)  # where tests.architecture is importable from
    ours = tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]
    purity = next(c for c in ours["contracts"] if c["id"] == "purity")
    shell = ", ".join(f'"{p}"' for p in purity["shell"])
    forbidden = ", ".join(f'"{p}"' for p in purity["forbidden"])
    cfg = tmp_path / "contracts.toml"
    cfg.write_text(
        "[tool.importlinter]\n"
        'root_packages = ["stx_tmp"]\n'
        "include_external_packages = true\n"
        f"contract_types = {ours['contract_types']!r}\n"
        "[[tool.importlinter.contracts]]\n"
        'name = "purity"\ntype = "purity"\n'
        f"shell = [{shell}]\nforbidden = [{forbidden}]\n".replace("'", '"')
    )
    rc = cli.lint_imports(config_filename=str(cfg), no_cache=True, no_logo=True)
    report = capsys.readouterr().out
    assert rc == cli.EXIT_STATUS_ERROR
    assert "stx_tmp.rules reaches psycopg" in report and "stx_tmp.clean" not in report
