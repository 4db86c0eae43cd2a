"""The layers of docs/ARCHITECTURE.md, from the source: the core (``cmer/``) imports no app, and
no module imports itself back through others (an import circle).

Every ``import`` statement counts, module level or inside a function: a function-level import
hides a circle from Python at start-up, not from a reader. Migrations are left out (Django loads
them by name). An app is reached from the core only through registries (``cmer.home``,
``cmer.accounts.admin.register_membership_column``, ``cmer.audit.labels.register_sentence``,
the per-app ``demo.seed_demo``) or by its URLs and settings, which name it as text.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORE = "cmer"
APPS = ("cases", "meetings", "training", "conventions")
NEVER_IMPORTED = ("tests", "bench")

# Circles known when this test was written, each being removed by its owner: the entry goes
# when the circle does (the test below fails on an entry that no longer matches a circle).
KNOWN_CIRCLES: dict[frozenset[str], str] = {}
# Core → app imports still to become registries. Same rule: an entry goes when its import does.
KNOWN_CORE_IMPORTS: dict[tuple[str, str], str] = {}


def _modules() -> dict[str, Path]:
    found = {}
    for package in (CORE, *APPS):
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _imported(name: str, path: Path, modules: dict[str, Path]) -> set[tuple[str, int]]:
    """``(module, line)`` for every import in the file, resolved to the longest known module
    (``from cases import access`` → ``cases.access``), or the top-level name if outside."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    targets: set[tuple[str, int]] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found = [f"{module}.{alias.name}" for alias in node.names]
            found = [name if name in modules else module for name in found]
        else:
            continue
        for target in found:
            parts = target.split(".")
            while len(parts) > 1 and ".".join(parts) not in modules:
                parts.pop()
            targets.add((".".join(parts), node.lineno))
    return targets


def _graph() -> tuple[dict[str, set[str]], dict[str, set[tuple[str, int]]]]:
    modules = _modules()
    imports = {name: _imported(name, path, modules) for name, path in modules.items()}
    graph = {
        name: {target for target, _line in found if target in modules and target != name}
        for name, found in imports.items()
    }
    return graph, imports


def _circles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
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
                    circles.append(frozenset(component))
    return circles


def test_the_core_imports_no_app():
    imports = _graph()[1]
    found = {
        (name, target): line
        for name, targets in imports.items()
        if name == CORE or name.startswith(CORE + ".")
        for target, line in targets
        if target.split(".")[0] in (*APPS, *NEVER_IMPORTED)
    }
    offending = sorted(
        f"{name} line {line} imports {target}"
        for (name, target), line in found.items()
        if (name, target) not in KNOWN_CORE_IMPORTS
    )
    assert offending == [], "cmer/ is the core: register from the app instead (see docstring)"
    gone = [pair for pair in KNOWN_CORE_IMPORTS if pair not in found]
    assert gone == [], f"import removed: delete {gone} from KNOWN_CORE_IMPORTS"


def test_no_application_module_imports_tests_or_benchmarks():
    imports = _graph()[1]
    offending = sorted(
        f"{name} line {line} imports {target}"
        for name, found in imports.items()
        for target, line in found
        if target.split(".")[0] in NEVER_IMPORTED
    )
    assert offending == []


def test_no_new_import_circle():
    graph, _imports = _graph()
    circles = _circles(graph)
    new = [sorted(circle) for circle in circles if circle not in KNOWN_CIRCLES]
    assert new == [], "an import circle: queue tasks by name, move the shared part down a layer"
    gone = [owner for circle, owner in KNOWN_CIRCLES.items() if circle not in circles]
    assert gone == [], f"circle removed by {gone}: delete its entry from KNOWN_CIRCLES"


def test_the_circle_finder_finds_circles():
    """The finder itself: a circle of three, a self-import ignored, a chain without circle."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert _circles(graph) == [frozenset({"a", "b", "c"})]
    assert _circles({"a": {"b"}, "b": set()}) == []


# View modules stay readable: one journey per module, about 400 lines at most (issue 18).
VIEW_MODULE_MAX_LINES = 400


def test_no_view_module_over_400_lines():
    views = [
        path
        for package in (CORE, *APPS)
        for path in (ROOT / package).rglob("*.py")
        if path.name == "views.py" or path.parent.name == "views"
    ]
    assert views, "the view modules must be found for the test to mean anything"
    long = {
        str(path.relative_to(ROOT))
        for path in views
        if len(path.read_text(encoding="utf-8").splitlines()) > VIEW_MODULE_MAX_LINES
    }
    assert long == set(), "split the module by journey"
