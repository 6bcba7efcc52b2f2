"""The package's import graph keeps its layers (ARCHITECTURE's "Dialects as
data"): no module imports one that imports it back, the sans-IO core imports
no I/O, dialects see their port only through its interface.

Every import counts, at module level, under TYPE_CHECKING or inside a
function: a cycle that only typing or a late import hides is still a cycle
in the design.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "bridge"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in ROOT.rglob("*.py")}


def imports_of(name: str) -> set[str]:
    """The modules ``name`` imports (for ``from pkg import x``, pkg.x when it
    is a module of ours, else pkg)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            found.update(f"{target}.{alias.name}" if f"{target}.{alias.name}" in MODULES
                         else target for alias in node.names)
    return found


GRAPH = {name: imports_of(name) for name in MODULES}


def ours(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    return {name: {target for target in targets if target in MODULES}
            for name, targets in graph.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), and
    modules that import themselves."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph[node]:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles() -> None:
    assert cycles(ours(GRAPH)) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    """The check above can fail."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert cycles(graph) == [["a", "b", "c"], ["e"]]


def under(package: str) -> list[str]:
    return [name for name in MODULES if name == package or name.startswith(package + ".")]


@pytest.mark.parametrize("module", under("bridge.at"))
def test_the_at_core_is_sans_io(module: str) -> None:
    """bridge/at imports no trio, no sockets and nothing that does I/O."""
    forbidden = ("trio", "socket", "OpenSSL", "bridge.links", "bridge.net", "bridge.port",
                 "bridge.dialects", "bridge.output", "bridge.store")
    assert not {target for target in GRAPH[module]
                if target.startswith(forbidden)}


@pytest.mark.parametrize("module", under("bridge.dialects"))
def test_dialects_never_import_the_port(module: str) -> None:
    assert not {target for target in GRAPH[module]
                if target in ("bridge.port", "bridge.daemon")}


def package_imports(source: str, target: str) -> bool:
    return any(imported.startswith(target) for name in under(source) for imported in GRAPH[name])


def test_links_and_net_do_not_import_each_other_both_ways() -> None:
    assert not (package_imports("bridge.links", "bridge.net")
                and package_imports("bridge.net", "bridge.links"))


def test_metrics_does_not_import_the_daemon() -> None:
    assert not package_imports("bridge.metrics", "bridge.daemon")


def reached(module: str) -> set[str]:
    """Every module ``module`` imports, directly or through ours."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        for target in GRAPH[todo.pop()]:
            if target not in seen:
                seen.add(target)
                if target in MODULES:
                    todo.append(target)
    return seen


#: what Locust's processes import (gevent patches the standard library there,
#: and Trio cannot run after that), and the sans-IO modules the Trio load
#: test shares with it
GEVENT_SIDE = [*under("bridge.locust"), "bridge.loadtest.check", "bridge.loadtest.stats",
               "bridge.loadtest.dialect", "bridge.loadtest.port_host",
               "bridge.loadtest.payloads", "bridge.loadtest.daemon_config",
               "bridge.loadtest.report", "bridge.testing.host", "bridge.testing.spawn",
               "bridge.testing.procstat", "bridge.testing.wire"]


@pytest.mark.parametrize("module", GEVENT_SIDE)
def test_no_trio_on_the_gevent_side(module: str) -> None:
    assert not {target for target in reached(module) if target.split(".")[0] == "trio"}
