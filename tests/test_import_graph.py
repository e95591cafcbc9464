"""The package's import graph has no circles, lazy (function-level) imports included.

The layer contract (`lint-imports`, run by `make test`) forbids upward imports between layers;
a circle inside one layer (such as the former reports.parse <-> reports.sections, hidden behind a
function-level import) is what it cannot see, so this test looks for strongly connected groups.
"""

from __future__ import annotations

import grimp


def _circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Groups of modules that reach each other (Tarjan's strongly connected components, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    groups: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return groups


def test_the_circle_finder_finds_a_circle() -> None:
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _circles({"a": {"b"}, "b": set()}) == []


def test_vipet_has_no_import_circle() -> None:
    graph = grimp.build_graph("vipet")
    edges = {m: {i for i in graph.find_modules_directly_imported_by(m) if i.startswith("vipet")} for m in graph.modules}
    assert _circles(edges) == []


def _guarded_package_imports(source: str) -> list[int]:
    """Lines of `import vipet...` / relative imports inside a `try` whose handler catches ImportError."""
    import ast

    lines = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Try):
            continue
        caught = {getattr(h.type, "id", None) for h in node.handlers}
        caught |= {getattr(e, "id", None) for h in node.handlers if isinstance(h.type, ast.Tuple) for e in h.type.elts}
        if not caught & {"ImportError", "ModuleNotFoundError"}:
            continue
        for inner in (n for statement in node.body for n in ast.walk(statement)):
            if isinstance(inner, ast.ImportFrom) and (inner.level or (inner.module or "").startswith("vipet")):
                lines.append(inner.lineno)
            elif isinstance(inner, ast.Import) and any(a.name.startswith("vipet") for a in inner.names):
                lines.append(inner.lineno)
    return lines


def test_the_guard_finder_sees_a_guarded_package_import() -> None:
    source = "try:\n    from vipet.reports import vqa\nexcept ImportError:\n    vqa = None\n"
    assert _guarded_package_imports(source) == [2]
    assert _guarded_package_imports("try:\n    import ray\nexcept ImportError:\n    raise SystemExit(1)\n") == []


def test_no_package_import_is_guarded_by_except_import_error() -> None:
    """A packaging bug must fail loudly, not silently drop ground truth, renders or metrics."""
    from pathlib import Path

    import vipet

    root = Path(vipet.__file__).parent
    found = {str(p.relative_to(root)): lines for p in sorted(root.rglob("*.py"))
             if (lines := _guarded_package_imports(p.read_text(encoding="utf-8")))}
    assert found == {}
