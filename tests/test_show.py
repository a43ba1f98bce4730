"""`openr1-data show`: a few rows with their verdicts, filtered, with untrusted text kept off the terminal."""

from __future__ import annotations

from datasets import Dataset

from openr1_data.cli import main as cli_main
from openr1_data.funnel import Funnel
from openr1_data.io import write_stage_folder

ROWS = [
    {
        "problem": "1+1?",
        "reasoning": "one and one",
        "final": "\\boxed{2}",
        "correct": True,
        "verify_error": None,
    },
    {
        "problem": "2+2?",
        "reasoning": "\x1b[2J\x1b[31mgotcha",
        "final": "5",
        "correct": False,
        "verify_error": None,
    },
    {"problem": "3+3?", "reasoning": "x" * 5000, "final": "7", "correct": False, "verify_error": "no_answer"},
]


def test_show_filters_escapes_control_characters_and_cuts_long_text(tmp_path, capsys):
    folder = tmp_path / "verified"
    write_stage_folder(folder, Dataset.from_list(ROWS), {}, Funnel())
    assert cli_main(["show", str(folder), "--where", "correct=false", "--max_chars", "100"]) == 0
    out = capsys.readouterr().out
    assert "2+2?" in out and "3+3?" in out and "1+1?" not in out
    assert "\x1b" not in out and "\\x1b[31mgotcha" in out
    assert "[4,900 more characters]" in out and "2 row(s) shown; 2 of 3 rows match correct=false" in out
    assert cli_main(["show", str(folder), "--where", "correct=false", "--n", "1"]) == 0
    assert (
        "1 row(s) shown; 2 of 3 rows match correct=false" in capsys.readouterr().out
    )  # matches, not rows shown
    assert cli_main(["show", str(folder), "--where", "verify_error=no_answer", "--n", "1"]) == 0
    assert "3+3?" in capsys.readouterr().out


def test_show_names_the_columns_when_a_condition_is_wrong(tmp_path, capsys):
    folder = tmp_path / "verified"
    write_stage_folder(folder, Dataset.from_list(ROWS), {}, Funnel())
    assert cli_main(["show", str(folder), "--where", "corect=false"]) == 2
    assert "no column 'corect'" in capsys.readouterr().err
