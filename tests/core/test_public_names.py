"""The shape of the package tree, read from the source with ast (nothing is imported to build the graph):

- every package declares its public names in ``__all__`` and each of them exists;
- a module of one package imports from another package only what that package declares (its ``__all__``), and never
  a ``_private`` name;
- no import cycle, counting imports inside functions (a late import is still a loop), except the OS scheduler back
  ends, which import the task module they plug into. ``if TYPE_CHECKING:`` imports do not count (never run).
"""
from __future__ import annotations

import ast
import functools
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
IC = ROOT / "ic"

# the OS scheduler back ends import ic.scheduling.task (shared helpers) and task imports the back end it runs on
ALLOWED_CYCLE_MODULES = {"ic.scheduling.task", "ic.scheduling.task_cron", "ic.scheduling.task_windows",
                         "ic.scheduling.task_systemd"}

# found when this test was written, in other helpers' work of the same session; each names its owner. The test
# fails when a pair here is gone too (remove it then) or when a new one appears.
PENDING_CYCLES: dict[frozenset, str] = {}
PENDING_PRIVATE: dict[tuple[str, str, str], str] = {}


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(IC.rglob("*.py")):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


MODULES = _modules()
PACKAGES = {name for name, path in MODULES.items() if path.name == "__init__.py"}


def _package(module: str) -> str:
    return module if module in PACKAGES else module.rpartition(".")[0]


def _resolve(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return skip


@functools.cache
def imports_of(module: str) -> tuple[tuple[str, str | None], ...]:
    """(imported module, name taken from it or None) for every import the module can run, late ones included."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _type_checking_nodes(tree)
    out: list[tuple[str, str | None]] = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out += [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = _package(module).split(".")[: len(_package(module).split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                out.append((sub, None) if sub in MODULES else (base, alias.name))
    return tuple((m, n) for m, n in out if m == "ic" or m.startswith("ic."))


@functools.cache
def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for module in MODULES:
        for target, _ in imports_of(module):
            resolved = _resolve(target)
            if resolved and resolved != module:
                graph[module].add(resolved)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    counter = 0
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(component)
    return found


# --- __all__ ---------------------------------------------------------------------------------------------------------
@functools.cache
def _declared(package: str) -> tuple[str, ...]:
    tree = ast.parse(MODULES[package].read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
            return tuple(ast.literal_eval(node.value))
    raise AssertionError(f"{package} declares no __all__")


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_every_package_declares_its_public_names(package):
    names = list(_declared(package))
    assert names == list(dict.fromkeys(names)), f"{package}.__all__ names one thing twice"
    for name in names:
        if f"{package}.{name}" in MODULES:
            continue
        if package.startswith("ic.gui"):  # importing the window needs Tk: the names are checked as text here
            source = MODULES[package].read_text(encoding="utf-8")
            assert name in source, f"{package}.__all__ names {name}, which it does not define"
            continue
        assert hasattr(importlib.import_module(package), name), f"{package}.__all__ names {name}, which is missing"


def test_other_packages_import_only_declared_names():
    undeclared, private = [], []
    for module in MODULES:
        for target, name in imports_of(module):
            resolved = _resolve(target)
            if resolved is None:
                continue
            owner = _package(resolved)
            if module == owner or module.startswith(owner + "."):
                continue  # inside its own package: anything goes
            if name and name.startswith("_") and not name.startswith("__"):
                if (module, resolved, name) not in PENDING_PRIVATE:
                    private.append(f"{module} imports {resolved}.{name}")
            if resolved != owner and owner != "ic":  # a submodule of another package: must be declared
                if resolved.rpartition(".")[2] not in _declared(owner):
                    undeclared.append(f"{module} imports {resolved}, not in {owner}.__all__")
    assert not private, "private names used across packages:\n" + "\n".join(private)
    assert not undeclared, "add the module to the package's __all__ (or do not use it):\n" + "\n".join(undeclared)


# --- cycles ----------------------------------------------------------------------------------------------------------
def test_no_import_cycle_outside_the_scheduler_back_ends():
    found = [c for c in cycles(import_graph()) if not c <= ALLOWED_CYCLE_MODULES]
    new = [sorted(c) for c in found if not any(pair <= c for pair in PENDING_CYCLES)]
    assert not new, f"import cycles: {new}"
    gone = [owner for pair, owner in PENDING_CYCLES.items() if not any(pair <= c for c in found)]
    assert not gone, f"fixed, remove from PENDING_CYCLES: {gone}"


def test_the_settings_store_and_the_plugins_do_not_import_each_other():
    graph = import_graph()
    settings = {m for m in MODULES if m.startswith("ic.settings")}
    plugins = {m for m in MODULES if m.startswith("ic.destinations")}
    def reach(start: set[str]) -> set[str]:
        seen, todo = set(start), list(start)
        while todo:
            for nxt in graph[todo.pop()] - seen:
                seen.add(nxt)
                todo.append(nxt)
        return seen

    assert not reach(settings) & plugins, "the settings package reaches a plugin module (use ic.dburl)"
    assert not reach(plugins) & settings, "a plugin module reaches the settings package"


def test_the_cycle_finder_finds_a_late_import_loop():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]
    assert cycles({"a": {"b"}, "b": set()}) == []
