"""The package's import structure: imports flow one way (no circle), the package imports no experiment file and
holds no ablation's variant ids, and no module uses another's private names.

`python tests/test_structure.py [ROOT]` prints the counts: modules ("rooms"), floors (the longest chain of
imports below a module, plus one), import arrows and circles.
"""
import ast
import csv
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def modules(root: Path = ROOT) -> dict:
    """{dotted module name: path} of the package segformer_lab under `root`."""
    found = {}
    for path in sorted((root / "segformer_lab").rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imported(name: str, path: Path, known: dict) -> list:
    """[(module imported, names taken from it)] by one module, at any depth of its code (a function's import is an
    arrow too), resolved to the package's modules."""
    tree, package = ast.parse(path.read_text()), name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names if a.name in known]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if sub in known:  # `from . import analysis`: the submodule itself
                    out.append((sub, []))
                elif base in known:
                    out.append((base, [alias.name]))
    return out


def graph(root: Path = ROOT) -> dict:
    """{module: {module it imports}} of the package (itself excluded)."""
    known = modules(root)
    return {name: {m for m, _ in imported(name, path, known) if m != name} for name, path in known.items()}


def circles(edges: dict) -> list:
    """The strongly connected components of more than one module (Tarjan's algorithm): each a circle."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10000)
    for v in edges:
        if v not in index:
            visit(v)
    return found


def floors(edges: dict) -> int:
    """The number of floors: the longest chain of imports (cycles broken by ignoring arrows into a module being
    visited) plus one."""
    depth: dict = {}

    def down(v, seen=()):
        if v in depth:
            return depth[v]
        below = [down(w, seen + (v,)) for w in edges.get(v, ()) if w not in seen and w != v]
        depth[v] = 1 + max(below, default=0)
        return depth[v]
    return max(down(v) for v in edges)


def counts(root: Path = ROOT) -> dict:
    edges = graph(root)
    return {"rooms": len(edges), "floors": floors(edges), "arrows": sum(map(len, edges.values())),
            "circles": len(circles(edges))}


def test_imports_flow_one_way():
    assert circles(graph()) == []


def test_the_package_imports_no_experiment_file():
    for name, path in modules().items():
        text = path.read_text()
        assert not re.search(r"^\s*(from|import) experiments\b", text, re.M), f"{path} imports an experiment file"
        assert not re.search(r"load_(experiment|module)\(\s*[\"']", text), f"{path} loads an experiment by name"


def test_no_private_name_used_across_modules():
    known = modules()
    for name, path in known.items():
        for module, names in imported(name, path, known):
            private = [n for n in names if n.startswith("_") and n != "__version__"]
            assert not private, f"{path} imports {private} from {module}"
        tree = ast.parse(path.read_text())
        aliases = {a.asname or a.name.split(".")[-1] for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))
                   for a in n.names}
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                    and f"segformer_lab.{node.value.id}" in known and node.attr.startswith("_")
                    and not node.attr.startswith("__")):
                raise AssertionError(f"{path}: {node.value.id}.{node.attr} is another module's private name")


def test_the_package_holds_no_variant_id_of_an_ablation():
    """Every variant id in results/*.csv that is not a model the package builds (registry names, encoders) lives
    in its experiment file, not in segformer_lab/."""
    from segformer_lab.names import PACKAGE_PARTS
    from segformer_lab.registry import VARIANTS
    ids = set()
    for path in list((ROOT / "results").glob("*.csv")) + list((ROOT / "results" / "gpu").glob("*.csv")):
        with path.open(newline="") as f:
            ids |= {row["variant"] for row in csv.DictReader(f) if row.get("variant")}
    models = set(VARIANTS) | set(PACKAGE_PARTS) | {m.split("_")[-1] for m in VARIANTS}
    ablation_ids = sorted(ids - models)
    assert len(ablation_ids) > 40  # the CSVs were read
    for path in modules().values():
        text = path.read_text()
        for variant in ablation_ids:
            assert not re.search(rf"[\"']{re.escape(variant)}[\"']", text), f"{path} names the variant {variant!r}"


if __name__ == "__main__":
    print(counts(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT))
