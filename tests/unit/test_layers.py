"""The package's layers and import graph, read from the sources with ``ast`` (nothing is imported; < 1 s).

Rules (DEVELOPERS.md, "Where things go"):

* a method package ``trustlab.methods.<m>`` imports only the shared layer and itself, never another method package;
* the shared layer (everything outside ``trustlab.methods``) imports no method package. The one allowed way in is
  ``trustlab.methods`` itself, the package whose ``__init__`` imports every method package (found by walking the
  folder) to register them: the CLI, recipes, catalog, run cache and bench import it inside functions;
* no import circle between modules, of any length.

Every ``import`` counts, also those inside functions: a function-level import still ties the two modules together
(moving it to the top would make the circle fail at import time), it only hides the circle. Imports under
``if TYPE_CHECKING:`` count for the layer rules but not for circles (they never run). An import of a module's own
ancestor package (``import trustlab.methods.ood`` inside ``trustlab.methods.ood.common``, to make sure the package
registered its detectors) is no edge: Python has begun importing every ancestor before the module runs.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
ROOT = "trustlab"
REGISTER_ALL = "trustlab.methods"  # imports every method package to register them; the shared layer may import it

# Circles that exist today (untie, then remove the entry). A circle passes when its modules are a subset of one entry;
# any other circle, or one that grows, fails. The three (advsim scenarios <-> stack, peerpl bc <-> method,
# runs loggers <-> store) are gone.
KNOWN_CIRCLES: list[frozenset[str]] = [
    # coop: pretrain.py <-> shipped.py, both inside functions (pretrained_arrays() asks shipped.load_if_matching();
    # shipped's build()/unpack() call pretrain's pretrain()/portable_token_init/recipe_settings). Untie with the
    # method-package layout work (issue 24, item 3): the loader (load_if_matching, unpack, portable_token_init) in a
    # leaf module that both import.
    frozenset({"trustlab.methods.coop.pretrain", "trustlab.methods.coop.shipped"}),
]


def module_files(src: Path = SRC, root: str = ROOT) -> dict[str, Path]:
    """``{dotted module name: file}`` for every module and package under ``src/<root>``."""
    out = {}
    for path in sorted((src / root).rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """ids of the import nodes under ``if TYPE_CHECKING:`` (or ``typing.TYPE_CHECKING``)."""
    ids: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            name = test.id if isinstance(test, ast.Name) else test.attr if isinstance(test, ast.Attribute) else ""
            if name == "TYPE_CHECKING":
                ids.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return ids


def imports_of(module: str, path: Path, modules: Iterable[str]) -> dict[str, bool]:
    """``{imported module: runs}`` of one file (``runs`` is False for TYPE_CHECKING-only imports); targets are
    resolved to the deepest known module (``from a.b import c`` is ``a.b.c`` when that is a module, else ``a.b``),
    relative imports included; imports outside the package are left out."""
    known = set(modules)
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    static = _type_checking_nodes(tree)
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    out: dict[str, bool] = {}

    def add(target: str, node: ast.AST) -> None:
        while target and target not in known:
            target = target.rpartition(".")[0]
        if target:
            out[target] = out.get(target, False) or id(node) not in static

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base, node)
    out.pop(module, None)
    return out


def import_graph(src: Path = SRC, root: str = ROOT) -> dict[str, dict[str, bool]]:
    files = module_files(src, root)
    return {m: imports_of(m, p, files) for m, p in files.items()}


def method_of(module: str, methods: str = REGISTER_ALL) -> str | None:
    """``"okd"`` for ``trustlab.methods.okd.recipes``; None for the shared layer and for ``trustlab.methods``."""
    if module.startswith(methods + "."):
        return module[len(methods) + 1:].split(".")[0]
    return None


def layer_violations(graph: Mapping[str, Mapping[str, bool]], methods: str = REGISTER_ALL) -> list[str]:
    bad = []
    for a, targets in sorted(graph.items()):
        for b in sorted(targets):
            ma, mb = method_of(a, methods), method_of(b, methods)
            if mb is None:
                continue
            if ma is None and a != methods:
                bad.append(f"shared layer {a} imports method package {b} (import {methods} to register them all)")
            elif ma is not None and ma != mb:
                bad.append(f"method {ma}: {a} imports {b} of method {mb} (move what both need to the shared layer)")
    return bad


def circles(graph: Mapping[str, Mapping[str, bool]]) -> list[list[str]]:
    """Strongly connected components of more than one module over the imports that run (Tarjan, iterative);
    edges to a module's own ancestor packages are left out (module doc)."""
    edges = {a: sorted(b for b, runs in t.items() if runs and b in graph and not a.startswith(b + "."))
             for a, t in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(edges[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(edges[w])))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        found.append(sorted(comp))
    return sorted(found)


def unknown_circles(found: list[list[str]], known: Iterable[frozenset[str]] = KNOWN_CIRCLES) -> list[list[str]]:
    known = list(known)
    return [c for c in found if not any(set(c) <= k for k in known)]


@pytest.fixture(scope="module")
def graph() -> dict[str, dict[str, bool]]:
    return import_graph()


def test_the_scan_sees_the_package(graph):
    assert len(graph) > 100 and REGISTER_ALL in graph
    assert "trustlab.registry" in graph["trustlab.methods.erm.method"]
    # a function-level import counts: the CLI registers every method inside a function
    assert graph["trustlab.cli"].get(REGISTER_ALL) is True


def test_no_method_imports_another_and_the_shared_layer_imports_none(graph):
    bad = layer_violations(graph)
    assert not bad, "\n".join(bad)


def test_no_new_import_circle(graph):
    new = unknown_circles(circles(graph))
    assert not new, "import circles: " + "; ".join(" <-> ".join(c) for c in new)


# Private names still imported from another module, in packages being rewritten by others (remove when gone).
KNOWN_PRIVATE_IMPORTS: set[tuple[str, str]] = set()  # pmtiqa uses report.figures.new_figure now


def private_imports(src: Path = SRC, root: str = ROOT) -> set[tuple[str, str]]:
    """``(module, "other.module._name")`` for every ``from other.module import _name`` across modules."""
    files = module_files(src, root)
    found = set()
    for module, path in files.items():
        package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
                for alias in node.names:
                    if alias.name.startswith("_") and not alias.name.startswith("__") and base.startswith(root):
                        found.add((module, f"{base}.{alias.name}"))
    return found


def test_no_private_name_imported_across_modules():
    new = sorted(private_imports() - KNOWN_PRIVATE_IMPORTS)
    assert not new, "private names imported from another module (make them public): " + "; ".join(
        f"{m} imports {n}" for m, n in new)


# ---- the checks themselves, on a fabricated package (so a broken scan cannot pass silently) ----

def _write(src: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        p = src / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)


def test_checks_catch_each_kind_of_violation(tmp_path):
    _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/registry.py": "",
        "pkg/report.py": "def f():\n    from pkg.methods.b import model\n",           # shared -> method
        "pkg/cli.py": "def f():\n    import pkg.methods\n",                            # allowed
        "pkg/methods/__init__.py": "",
        "pkg/methods/a/__init__.py": "from . import run\n",
        "pkg/methods/a/run.py": "from pkg.methods.a import data\nimport pkg.methods.a\n",  # ancestor: no edge
        "pkg/methods/a/data.py": "from ..b.model import X\n",                          # method -> method
        "pkg/methods/b/__init__.py": "",
        "pkg/methods/b/model.py": "from pkg.methods.b import train\nfrom typing import TYPE_CHECKING\n"
                                  "if TYPE_CHECKING:\n    from pkg.methods.b import plots\n",
        "pkg/methods/b/train.py": "def f():\n    from pkg.methods.b.loop import g\n",
        "pkg/methods/b/loop.py": "from pkg.methods.b import model\n",               # 3-circle, in a function
        "pkg/methods/b/plots.py": "from pkg.methods.b import model\n",              # TYPE_CHECKING only: no circle
    })
    g = import_graph(tmp_path, "pkg")
    assert g["pkg.methods.a.data"] == {"pkg.methods.b.model": True}
    assert g["pkg.methods.b.model"]["pkg.methods.b.plots"] is False
    bad = layer_violations(g, "pkg.methods")
    assert len(bad) == 2
    assert any(b.startswith("shared layer pkg.report imports method package pkg.methods.b.model") for b in bad)
    assert any(b.startswith("method a: pkg.methods.a.data imports pkg.methods.b.model") for b in bad)
    assert private_imports(tmp_path, "pkg") == set()
    _write(tmp_path, {"pkg/methods/b/plots.py": "from pkg.methods.b.model import _helper\n"})
    assert private_imports(tmp_path, "pkg") == {("pkg.methods.b.plots", "pkg.methods.b.model._helper")}
    found = circles(g)
    assert found == [["pkg.methods.b.loop", "pkg.methods.b.model", "pkg.methods.b.train"]]
    assert unknown_circles(found, []) == found
    assert unknown_circles(found, [frozenset(found[0]) | {"pkg.x"}]) == []
    assert unknown_circles(found, [frozenset(found[0][:2])]) == found  # a grown circle is new
