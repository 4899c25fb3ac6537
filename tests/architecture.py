"""The purity contract, an import-linter contract type (``[tool.importlinter]`` in
``pyproject.toml``; run with ``lint-imports`` or ``tests/unit/test_architecture.py``).

A module is *pure* unless its place says it is a shell (I/O) module: the ``shell`` patterns are
matched against dotted module names, so a new ``audit/rules.py`` is checked without being listed
anywhere. A pure module may not reach a ``forbidden`` module (an I/O library, the settings
object) by any chain of imports through the project, checked on the whole import graph.

Written by hand because import-linter's own ``forbidden`` contract takes an explicit list of
source modules (so a new module would escape it) and follows import statements only: importing
``a.b.c`` also runs ``a/__init__.py`` and ``a/b/__init__.py``, which this contract follows too
(a package ``__init__`` that re-exports a store module makes every module of the package reach
psycopg). Imports inside functions and under ``TYPE_CHECKING`` count like any other.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from fnmatch import fnmatchcase

import grimp
from importlinter.application import output
from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck

PACKAGE_INIT = "package __init__"


@dataclass(frozen=True)
class Violation:
    """A pure module and the shortest import chain from it to a forbidden module."""

    module: str
    forbidden: str
    chain: tuple[tuple[str, str, str], ...]  # (importer, imported, where: line numbers or init)

    def describe(self) -> str:
        steps = " -> ".join([self.chain[0][0]] + [f"{b} ({how})" for _a, b, how in self.chain])
        return f"{self.module} reaches {self.forbidden}: {steps}"


def is_shell(module: str, patterns: list[str] | tuple[str, ...]) -> bool:
    """Whether ``module`` (a dotted name) is an I/O module by its place."""
    return any(fnmatchcase(module, p) for p in patterns)


def _forbidden_match(module: str, forbidden: list[str] | tuple[str, ...]) -> str | None:
    for f in forbidden:
        if module == f or module.startswith(f + "."):
            return f
    return None


def _ancestors(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(len(parts) - 1, 0, -1)]


def _where(graph: grimp.ImportGraph, importer: str, imported: str) -> str:
    details = graph.get_import_details(importer=importer, imported=imported)
    lines = sorted({d["line_number"] for d in details})
    return "l. " + ", ".join(map(str, lines)) if lines else "import"


def find_violations(
    graph: grimp.ImportGraph,
    *,
    root_packages: list[str] | tuple[str, ...],
    shell: list[str] | tuple[str, ...],
    forbidden: list[str] | tuple[str, ...],
) -> tuple[list[str], list[Violation]]:
    """The pure modules of ``root_packages`` and every (pure module, forbidden module) pair one
    reaches, with a shortest chain (breadth-first over imports and parent packages)."""
    internal = sorted(m for m in graph.modules if m.split(".")[0] in root_packages)
    known = set(graph.modules)
    pure = [m for m in internal if not is_shell(m, shell) and not _forbidden_match(m, forbidden)]
    out: list[Violation] = []
    for start in pure:
        prev: dict[str, tuple[str, str]] = {start: ("", "")}
        queue = deque([start])
        hits: dict[str, str] = {}  # forbidden name -> first module of it reached
        while queue:
            m = queue.popleft()
            bad = _forbidden_match(m, forbidden)
            if bad is not None:
                hits.setdefault(bad, m)
                continue  # no need to look behind a forbidden module
            nexts = [(a, PACKAGE_INIT) for a in _ancestors(m) if a in known]
            nexts += [(i, "") for i in sorted(graph.find_modules_directly_imported_by(m))]
            for nxt, how in nexts:
                if nxt not in prev:
                    prev[nxt] = (m, how)
                    queue.append(nxt)
        for bad, reached in sorted(hits.items()):
            chain: list[tuple[str, str, str]] = []
            node = reached
            while node != start:
                parent, how = prev[node]
                chain.append((parent, node, how or _where(graph, parent, node)))
                node = parent
            out.append(Violation(start, bad, tuple(reversed(chain))))
    return pure, out


class PurityContract(Contract):
    """Pure modules (all but the ``shell`` patterns) reach none of the ``forbidden`` modules.

    Configuration::

        [[tool.importlinter.contracts]]
        name = "..."
        type = "purity"
        shell = ["*.store", "*.store.*", "web", "web.*", "*.cli"]
        forbidden = ["psycopg", "paho", "config.settings"]
    """

    shell = fields.ListField(subfield=fields.StringField())
    forbidden = fields.ListField(subfield=fields.StringField())

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        roots = self.session_options.get("root_packages") or [self.session_options["root_package"]]
        pure, violations = find_violations(
            graph,
            root_packages=list(roots),
            shell=list(self.shell),  # type: ignore[call-overload]
            forbidden=list(self.forbidden),  # type: ignore[call-overload]
        )
        output.verbose_print(verbose, f"{len(pure)} pure modules checked")
        return ContractCheck(
            kept=not violations,
            metadata={"pure": pure, "violations": [v.describe() for v in violations]},
        )

    def render_broken_contract(self, check: ContractCheck) -> None:
        for line in check.metadata["violations"]:
            output.print_error(line, bold=False)
            output.new_line()
