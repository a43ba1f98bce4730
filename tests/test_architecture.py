"""The shape of the package: shared contracts at the top, one folder per stage, no cycles, no upward imports.

Every import counts, the lazy ones inside functions too: a lazy import still ties the modules together. So do
relative imports and a module named by its dotted path in a string (`importlib.import_module("openr1_data.x")`,
the teacher backends' and the commands' registries). A floor is a top-level module or package as a whole: no
submodule sits on another floor than its package.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "openr1_data"

# Layers (floors), lowest first: ARCHITECTURE.md "Import rules". A module may import its own layer's modules and
# lower layers, never a higher one.
LAYERS = [
    {"openr1_data", "schema", "text", "secrets", "config", "procs", "intervals"},
    {"funnel", "io", "lineage"},
    {"prompts"},
    {"verdicts"},
    {"sources", "teachers", "dedup"},
    {"generate", "curate", "imports"},
    {"publish", "train"},
    {"pipeline"},
    {"experiments"},
    {"cli"},
]
# Modules allowed at the top of the package: the shared contracts and the chains.
TOP_LEVEL = {
    "__init__",
    "schema",
    "funnel",
    "verdicts",
    "text",
    "io",
    "lineage",
    "config",
    "secrets",
    "procs",
    "intervals",
    "pipeline",
}


def module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, root: Path = PACKAGE) -> set[str]:
    """Every openr1_data module `path` names: imports (absolute, relative, lazy) and dotted paths in strings."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # `from . import x`, `from ..y import z`: resolved against this module's package
                parent = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*parent, base] if base else parent)
            if base.startswith("openr1_data"):
                found.add(base)
                found.update(f"{base}.{a.name}" for a in node.names)  # `from pkg import module`
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("openr1_data"))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            # a whole string that is a module path (or "module:attr"): imported by name at run time
            name = node.value.partition(":")[0]
            if name.startswith("openr1_data.") and name.replace(".", "").replace("_", "").isalnum():
                found.add(name)
    return found


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {
        name: {i for i in imports_of(path) if i in modules and i != name and not name.startswith(i + ".")}
        for name, path in modules.items()
    }


def layer(module: str) -> int:
    """The floor of a module: the floor of its top-level module or package (never a submodule of its own)."""
    key = module.removeprefix("openr1_data.").split(".")[0] if module != "openr1_data" else "openr1_data"
    for rank, names in enumerate(LAYERS):
        if key in names:
            return rank
    raise AssertionError(f"{module} is in no layer: add its top-level name to LAYERS")


def test_every_layer_name_is_a_top_level_module_or_package():
    top = {p.stem for p in PACKAGE.glob("*.py")} | {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    named = set().union(*LAYERS) - {"openr1_data"}
    assert all("." not in name for name in named), "floors are whole top-level modules or packages"
    assert named == top - {"__init__"}, f"not on a floor: {sorted(top - named - {'__init__'})}"


def test_the_checker_sees_lazy_relative_and_string_imports(tmp_path):
    module = tmp_path / "openr1_data" / "prompts" / "probe.py"
    module.parent.mkdir(parents=True)
    module.write_text(
        "from ..teachers import base\n"
        "def later():\n    from openr1_data.curate import verify\n"
        'BACKEND = "openr1_data.publish.hub:push"\n'
    )
    found = imports_of(module, root=tmp_path / "openr1_data")
    assert {"openr1_data.teachers.base", "openr1_data.curate.verify", "openr1_data.publish.hub"} <= found
    assert all(layer(name) > layer("openr1_data.prompts.probe") for name in found)  # each one runs up


def test_no_upward_imports():
    upward = [
        f"{a} (layer {layer(a)}) imports {b} (layer {layer(b)})"
        for a, targets in graph().items()
        for b in targets
        if layer(b) > layer(a)
    ]
    assert not upward, "\n".join(sorted(upward))


def test_no_import_cycles():
    edges = graph()
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt) :], nxt] if nxt in path else [node, nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for start in sorted(edges):
        if start not in state:
            visit(start, [start])
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles)


def test_top_level_holds_only_shared_contracts_and_every_stage_is_a_folder():
    top = {p.stem for p in PACKAGE.glob("*.py")}
    assert top <= TOP_LEVEL, f"modules at the top that belong in a stage folder: {sorted(top - TOP_LEVEL)}"
    for stage in (
        "sources",
        "prompts",
        "teachers",
        "generate",
        "dedup",
        "curate",
        "imports",
        "publish",
        "train",
        "experiments",
        "cli",
    ):
        assert (PACKAGE / stage / "__init__.py").is_file(), stage


def test_teacher_backends_share_one_generate_prologue():
    # `Teacher.generate` (teachers/base.py) checks the arguments once; backends implement `_generate` only
    backends = {
        f"{module_name(path)}.{node.name}": node
        for path in PACKAGE.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ClassDef)
        and any(isinstance(b, ast.Name) and b.id == "Teacher" for b in node.bases)
    }
    assert len(backends) >= 5, sorted(backends)  # the four backends and the server pool at least
    copies = [
        name
        for name, node in backends.items()
        if any(isinstance(f, ast.FunctionDef) and f.name == "generate" for f in node.body)
    ]
    assert not copies, f"override `_generate`, not `generate`: {copies}"
