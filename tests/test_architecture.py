"""The shape of the package: shared contracts at the top, one folder per stage, no cycles, no upward imports.

Every import counts, the lazy ones inside functions too: a lazy import still ties the modules together.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "openr1_data"

# Layers, lowest first. A module may import its own layer's modules and lower layers, never a higher one.
LAYERS = [
    {"openr1_data", "schema", "text", "secrets", "config", "procs"},
    {"funnel", "io", "lineage", "teachers.base"},
    {"prompts"},
    {"judgements"},
    {"sources", "teachers", "dedup"},
    {"generate", "curate"},
    {"publish", "training"},
    {"pipeline"},
    {"teach"},
    {"cli"},
]
# Modules allowed at the top of the package: the shared contracts and the chains.
TOP_LEVEL = {
    "__init__",
    "schema",
    "funnel",
    "judgements",
    "text",
    "io",
    "lineage",
    "config",
    "secrets",
    "procs",
    "pipeline",
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("openr1_data"):
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)  # `from pkg import module`
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("openr1_data"))
    return found


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {
        name: {i for i in imports_of(path) if i in modules and i != name and not name.startswith(i + ".")}
        for name, path in modules.items()
    }


def layer(module: str) -> int:
    rest = module.removeprefix("openr1_data.") if module != "openr1_data" else "openr1_data"
    for depth in (2, 1):
        key = ".".join(rest.split(".")[:depth])
        for rank, names in enumerate(LAYERS):
            if key in names:
                return rank
    raise AssertionError(f"{module} is in no layer: add it to LAYERS")


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
        "publish",
        "training",
        "cli",
    ):
        assert (PACKAGE / stage / "__init__.py").is_file(), stage
