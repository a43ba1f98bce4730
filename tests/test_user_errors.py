"""Every subcommand's user errors: one line naming the field or file and the fix, exit code 2, no traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from openr1_data.cli import main as cli_main
from openr1_data.sources.bundled import bundled_problems


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    problems = tmp_path / "problems.jsonl"
    problems.write_text("\n".join(json.dumps(r) for r in bundled_problems(3)))
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"problem": "1+1?"}\n{"problem": "2+2?"\n')
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("keep: correct\nper_problem: [1\n")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    stage = tmp_path / "stage"
    assert cli_main(["dedup", "--input", str(problems), "--output_dir", str(stage)]) == 0
    return {
        "problems": str(problems),
        "broken": str(broken),
        "bad_yaml": str(bad_yaml),
        "mine": str(mine),
        "stage": str(stage),
        "out": str(tmp_path / "out"),
    }


CASES = [
    (
        "prefix flag",
        ["generate", "--problems", "{problems}", "--problem_colum", "q"],
        "unknown flag(s): --problem_colum",
    ),
    (
        "typo flag",
        ["generate", "--problems", "{problems}", "--problem_colunm", "q"],
        "did you mean --problem_column?",
    ),
    ("missing input", ["verify", "--input", "my_problems_typo", "--output_dir", "{out}"], "my_problems_typo"),
    ("broken jsonl line", ["dedup", "--input", "{broken}", "--output_dir", "{out}"], "line 2"),
    (
        "broken yaml",
        ["filter", "--config", "{bad_yaml}", "--input", "{stage}", "--output_dir", "{out}"],
        "bad.yaml, line 3",
    ),
    (
        "output is input",
        ["verify", "--input", "{stage}", "--output_dir", "{stage}"],
        "never writes into its input",
    ),
    ("output inside input", ["filter", "--input", "{stage}", "--output_dir", "{stage}/sub"], "overlaps"),
    ("user folder", ["dedup", "--input", "{problems}", "--output_dir", "{mine}"], "--overwrite true"),
    (
        "user folder, overwrite",
        ["dedup", "--input", "{problems}", "--output_dir", "{mine}", "--overwrite", "true"],
        "refusing to delete it",
    ),  # fmt: skip
    (
        "another stage's folder",
        ["decontaminate", "--input", "{problems}", "--output_dir", "{stage}"],
        "already holds the output of `openr1-data dedup`",
    ),  # fmt: skip
    (
        "generate into a stage folder",
        ["generate", "--problems", "{problems}", "--output_dir", "{stage}"],
        "already holds the output",
    ),  # fmt: skip
    ("publish into a user folder", ["publish", "--input", "{stage}", "--output_dir", "{mine}"], "not empty"),
    (
        "publish overwrite of a user folder",
        ["publish", "--input", "{stage}", "--output_dir", "{mine}", "--overwrite", "true"],
        "refusing to delete it",
    ),  # fmt: skip
    ("push bad repo id", ["push", "{stage}", "not a repo id"], "invalid Hub repo id"),
    (
        "prm model missing",
        ["prm-select", "--input", "{stage}", "--output_dir", "{out}", "--prm_model", "no_such_prm"],
        "no such folder",
    ),  # fmt: skip
    ("run: unknown recipe key", ["run", "--problems", "{problems}", "--output_dirr", "x"], "unexpected"),
]


@pytest.mark.parametrize(("name", "argv", "expected"), CASES, ids=[c[0] for c in CASES])
def test_user_errors_exit_2_with_one_line(files, capsys, name, argv, expected):
    code = cli_main([a.format(**files) for a in argv])
    err = capsys.readouterr().err
    assert code == 2, err
    assert expected in err, err
    assert "Traceback" not in err
    # one message (progress bars of the `datasets` reader aside)
    assert len([line for line in err.splitlines() if "error" in line.lower()]) == 1, err
    assert (Path(files["mine"]) / "notes.txt").read_text() == "keep me"


def test_a_model_id_the_hub_cannot_answer_fails_at_once_with_one_line(tmp_path):
    """Online, a teacher id that is neither a folder nor reachable on the Hub is one line and exit 2, without the
    minute of per-file retries loading would spend (the endpoint here refuses every connection)."""
    import os
    import subprocess
    import sys

    problems = tmp_path / "p.jsonl"
    problems.write_text(json.dumps({"problem": "1+1?", "answer": "2"}) + "\n")
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "0",
        "HF_ENDPOINT": "http://127.0.0.1:9",
        "HF_HOME": str(tmp_path / "hf"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "openr1_data.cli", "generate", "--problems", str(problems), "--output_dir",
         str(tmp_path / "gen"), "--teacher_model", "nobody/missing-model"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr[-2000:]
    assert "could not be reached" in done.stderr and "Traceback" not in done.stderr
    assert "thrown while requesting" not in done.stderr  # no retry lines
