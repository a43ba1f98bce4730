"""The docs site: the generated Reference matches the code, the site builds strictly, the README stays a front door.

The Reference pages (docs/reference/) are written by docs/gen_reference.py from the config dataclasses, the reward
registry, the benchmark registry and the layouts; they are committed, and this test fails when regenerating them
gives different text (rerun `python docs/gen_reference.py`).
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _generator():
    spec = importlib.util.spec_from_file_location("gen_reference", ROOT / "docs" / "gen_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_reference_pages_match_the_code():
    pages = _generator().render()
    assert sorted(pages) == [f"reference/{name}.md" for name in ("benchmarks", "cli", "layouts", "rewards")]
    for path, text in pages.items():
        committed = (ROOT / "docs" / path).read_text()
        assert committed == text, f"docs/{path} differs from the code: run `python docs/gen_reference.py`"


def test_reference_covers_every_command_reward_and_benchmark():
    from openr1_data.cli import COMMANDS
    from openr1_data.sources.eval_benchmarks import list_benchmarks
    from openr1_data.train.rewards import REWARD_FUNCS

    gen = _generator()
    pages = gen.render()
    for name in COMMANDS:
        assert f"## `openr1-data {name}`" in pages["reference/cli.md"], name
    for name in REWARD_FUNCS:
        assert f"| `{name}` |" in pages["reference/rewards.md"], name
    for name in list_benchmarks():
        assert f"| `{name}` |" in pages["reference/benchmarks.md"], name
    # The flags come from the dataclasses each entry point hands to parse_config, with their help text.
    module, func, _ = COMMANDS["dedup"]
    parsed = [c.__name__ for c in gen.command_dataclasses(module, func)]
    assert parsed == ["StageIO", "DedupModeArgs", "DedupConfig", "RayShardsConfig"]
    assert "- `--dedup_mode` (`str`, default `'both'`): exact, near, or both" in pages["reference/cli.md"]


def test_check_mode_reports_a_stale_page(tmp_path, capsys):
    gen = _generator()
    for path, text in gen.render().items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    gen.DOCS = tmp_path
    assert gen.main(["--check"]) == 0
    (tmp_path / "reference" / "rewards.md").write_text("hand-edited\n")
    assert gen.main(["--check"]) == 1
    assert "docs/reference/rewards.md is out of date" in capsys.readouterr().err


def test_mkdocs_build_strict(tmp_path):
    if importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("material") is None:
        pytest.skip("mkdocs and mkdocs-material are not installed (pip install -e '.[dev]' installs them)")
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml")]
    proc = subprocess.run(
        [*command, "-d", str(site)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    cli_page = (site / "reference" / "cli" / "index.html").read_text()
    assert "openr1-data generate" in cli_page and "--output_dir" in cli_page
    architecture = (site / "architecture" / "index.html").read_text()  # ARCHITECTURE.md, included
    assert "Where each verdict lives" in architecture


def _code_blocks(text: str) -> list[str]:
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", text, re.DOTALL)]


def test_readme_is_a_front_door_with_the_two_commands_first():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) < 250
    quickstart, tests = _code_blocks(readme)[:2]
    assert quickstart.endswith("python pipelines/quickstart.py")
    checks = "ruff check . && ruff format --check . && pyright && mkdocs build --strict && pytest"
    assert tests.endswith(checks)
    # The same two commands on the install page, and CI runs the README's test command.
    install = _code_blocks((ROOT / "docs" / "getting-started" / "install.md").read_text())
    assert install[:2] == [quickstart, tests]
    assert tests in (ROOT / ".ci" / "run").read_text()
    # Every README link into docs/ points at a page that exists.
    for target in re.findall(r"\]\((docs/[^)#]+)", readme):
        assert (ROOT / target).is_file(), target


@pytest.mark.parametrize("page", ["README.md", "docs/getting-started/your-data.md"])
def test_the_chain_curates_problems_before_generating(page):
    chain = [
        line.split()[1]
        for block in _code_blocks((ROOT / page).read_text())
        for line in block.splitlines()
        if line.startswith("openr1-data ")
    ]
    assert chain[:7] == ["dedup", "decontaminate", "generate", "verify", "filter", "publish", "push"], chain


def test_every_stage_page_has_the_same_headings():
    pages = sorted((ROOT / "docs" / "stages").glob("*.md"))
    assert len(pages) >= 10
    for page in pages:
        headings = re.findall(r"^## (.+)$", page.read_text(), re.MULTILINE)
        assert headings == ["What", "CLI", "Python", "Config", "Output"], (page.name, headings)
