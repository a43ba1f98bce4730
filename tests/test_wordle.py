"""Wordle: the game's feedback, the solver, `--problems wordle`, the three rewards on real games (hacking attempts
included), the SFT/GRPO data, two GRPO steps with the rewards, and the play evaluation (a scripted solver player and
a tiny real model playing whole games)."""

from __future__ import annotations

import json
import math

import pytest

from openr1_data.cli import main as cli_main
from openr1_data.io import read_dataset
from openr1_data.prompts import get_style
from openr1_data.prompts.styles import WORDLE_SYSTEM
from openr1_data.schema import ContractError
from openr1_data.sources.problems import ProblemSourceConfig, load_problems
from openr1_data.sources.wordle import (
    HISTORY,
    MAX_TURNS,
    answer_words,
    best_guess,
    candidates,
    feedback,
    game_states,
    guess_words,
    information_gain,
    is_consistent,
    read_history,
    render_game,
    secret_split,
    secret_words,
    solver_completion,
    solver_game,
    wordle_sft_dataset,
)
from openr1_data.train.data import build_grpo_prompts, check_messages
from openr1_data.train.rewards import get_reward_funcs
from openr1_data.train.wordle_play import (
    WordlePlayConfig,
    play,
    play_games,
    score_games,
    secrets_to_play,
    solver_player,
)

# A real game: the secret CRANE, two solver moves from the opener SLATE.
SECRET = "CRANE"
GAME = solver_game(SECRET, "SLATE")[:2]
assert len(GAME) == 2 and GAME[-1][1] != "GGGGG"  # a game still running


def answer(guess: str, think: str = "Thinking about the clues.") -> str:
    return f"<think>\n{think}\n</think>\n<guess>{guess}</guess>"


def score(names: list[str], completions: list[str], history=GAME) -> dict[str, list[float | None]]:
    """Every reward's scores, called as TRL calls them (conversational completions, per-row keyword columns)."""
    funcs = get_reward_funcs(names)
    n = len(completions)
    columns = {HISTORY: [json.dumps(history)] * n, "prompt_style": ["wordle"] * n, "answer": [SECRET] * n}
    chat = [[{"role": "assistant", "content": c}] for c in completions]
    return {f.__name__: list(f(chat, **columns)) for f in funcs}


REWARDS = ["wordle_format", "wordle_feedback", "wordle_info_gain"]


# ---------------------------------------------------------------------------------------------------- the game


@pytest.mark.parametrize(
    ("guess", "secret", "marks"),
    [
        ("CRANE", "CRANE", "GGGGG"),
        ("TRAIN", "CRANE", "XGGXY"),  # the example of the system prompt
        ("SPEED", "ABIDE", "XXYXY"),  # the second E is grey: ABIDE has one E, already matched
        ("LLAMA", "HELLO", "YYXXX"),  # both Ls yellow: HELLO has two
        ("ROBOT", "FLOOR", "YYXGX"),  # one O green, the other yellow
        ("EERIE", "THERE", "YXYXG"),
    ],
)
def test_feedback_scores_repeated_letters_as_the_game_does(guess, secret, marks):
    assert feedback(guess, secret) == marks
    assert feedback(guess.lower(), secret) == marks


def test_word_lists_are_bundled_and_consistent():
    answers = answer_words()
    assert len(answers) > 2000 and len(guess_words()) > len(answers)
    assert set(answers) <= guess_words()
    assert all(len(w) == 5 and w.isalpha() and w.isupper() for w in answers)
    assert {"CRANE", "RAISE", "HELLO"} <= set(answers)


def test_secrets_are_split_once_and_the_eval_split_is_held_out():
    train, held_out = set(secret_words("train")), set(secret_words("eval"))
    assert not train & held_out and train | held_out == set(answer_words())
    assert 0.05 < len(held_out) / len(answer_words()) < 0.15
    assert all(secret_split(w) == "eval" for w in held_out)
    with pytest.raises(ContractError, match="wordle split"):
        secret_words("test")


def test_candidates_keep_exactly_the_words_consistent_with_every_clue():
    history = [("SLATE", feedback("SLATE", SECRET)), ("CRONY", feedback("CRONY", SECRET))]
    left = candidates(history)
    assert SECRET in left and len(left) < 20
    assert all(is_consistent(w, history) for w in left)
    assert not any(is_consistent(w, history) for w in set(answer_words()) - set(left))


def test_the_solver_wins_its_games_with_consistent_guesses():
    for secret in ["CRANE", "HELLO", "PIZZA", "QUERY", "FUZZY", "GEESE"]:
        game = solver_game(secret)
        assert game[-1] == (secret, "GGGGG") and len(game) <= MAX_TURNS
        for turn in range(1, len(game)):  # every guess after the opener fits every clue before it
            assert is_consistent(game[turn][0], game[:turn])
    with pytest.raises(ValueError, match="not one of the 2148 answers"):
        solver_game("JAZZY")


def test_information_gain_is_normalised_and_rewards_splitting_guesses():
    left = candidates(GAME)
    best = best_guess(left)
    assert 0.0 < information_gain(best, left) <= 1.0
    assert (
        information_gain(GAME[0][0], left) == 0.0
    )  # an earlier guess: every candidate gives the same pattern
    assert information_gain("CRANE", ["CRANE"]) == 1.0 and information_gain("SLATE", ["CRANE"]) == 0.0
    two = ["CRANE", "CRATE"]  # guessing one of two splits them perfectly
    assert math.isclose(information_gain("CRANE", two), 1.0)


# -------------------------------------------------------------------------------------------- problems and data


def test_game_states_cover_depths_from_train_secrets_and_are_seeded():
    rows = game_states(60, seed=3)
    assert rows == game_states(60, seed=3) and rows != game_states(60, seed=4)
    depths = {r["wordle_depth"] for r in rows}
    assert {0, 1, 2} <= depths and max(depths) < MAX_TURNS
    for row in rows:
        history = read_history(row[HISTORY])
        assert len(history) == row["wordle_depth"] and secret_split(row["answer"]) == "train"
        assert all(feedback(g, row["answer"]) == m for g, m in history) and all(
            m != "GGGGG" for _, m in history
        )
        assert row["problem"] == render_game(history)
    assert render_game([]).startswith("A new game starts")
    deep = next(r for r in rows if r["wordle_depth"] >= 2)
    assert "Guess 2:" in deep["problem"] and deep["problem"].endswith(
        f"Make guess {deep['wordle_depth'] + 1} of 6."
    )


def test_problems_wordle_is_a_problem_source():
    result = load_problems(ProblemSourceConfig(problems="wordle", wordle_size=12, wordle_seed=1))
    assert len(result.kept) == 12 and set(result.kept["source"]) == {"wordle"}
    assert HISTORY in result.kept.column_names and all(result.kept["problem_id"])
    held_out = load_problems(ProblemSourceConfig(problems="wordle", wordle_size=5, wordle_split="eval")).kept
    assert all(secret_split(s) == "eval" for s in held_out["answer"])
    with pytest.raises(ValueError, match="wordle_split"):
        ProblemSourceConfig(problems="wordle", wordle_split="test")


def test_solver_answers_are_sft_messages_and_the_same_rows_are_grpo_prompts(tmp_path):
    assert (
        cli_main(["wordle-games", "--output_dir", str(tmp_path), "--wordle_size", "16", "--wordle_seed", "2"])
        == 0
    )
    rows = read_dataset(tmp_path)
    check_messages(rows)  # SFT-ready
    first = rows[0]["messages"]
    assert [m["role"] for m in first] == ["system", "user", "assistant"] and first[0][
        "content"
    ] == WORDLE_SYSTEM
    for row in rows:
        text = row["messages"][-1]["content"]
        assert text.startswith("<think>\nCandidates left: ") and "</think>" in text
        scores = score(REWARDS, [text], read_history(row[HISTORY]))
        assert scores["wordle_format_reward"] == [1.0] and scores["wordle_feedback_reward"] == [1.0]
    prompts = build_grpo_prompts(rows, prompt_style="wordle")
    assert "messages" not in prompts.column_names and HISTORY in prompts.column_names
    assert prompts[0]["prompt"][0] == {"role": "system", "content": WORDLE_SYSTEM}
    assert wordle_sft_dataset(16, 2)["messages"] == rows["messages"]


# ---------------------------------------------------------------------------------------------------- rewards


def test_the_solver_answer_scores_full_format_and_feedback():
    scores = score(REWARDS, [solver_completion(GAME)])
    assert scores["wordle_format_reward"] == [1.0] and scores["wordle_feedback_reward"] == [1.0]
    assert 0.0 < scores["wordle_info_gain_reward"][0] <= 1.0


def test_hacking_attempts_score_below_an_honest_consistent_guess():
    honest = best_guess(candidates(GAME))
    earlier = GAME[0][0]
    completions = {
        "honest": answer(honest),
        "repeats a clue word": answer(earlier),
        "invalid word in valid tags": answer("ZQXJK"),
        "two guess blocks": answer(honest) + "<guess>CRANE</guess>",
        "two words in one block": answer(f"{honest} CRANE"),
        "guess outside the tags": f"<think>\nhmm\n</think>\nMy guess is {honest}.",
        "four letters": answer("CRAN"),
        "six letters": answer("CRANES"),
        "no think block": f"<guess>{honest}</guess>",
        "unclosed guess": f"<think>\nx\n</think>\n<guess>{honest}",
    }
    scores = score(REWARDS, list(completions.values()))
    table = {name: [scores[f"{r}_reward"][i] for r in REWARDS] for i, name in enumerate(completions)}
    assert table["honest"][:2] == [1.0, 1.0] and table["honest"][2] > 0
    assert table["repeats a clue word"] == [1.0, 0.0, 0.0]  # a word, but it cannot be the secret
    assert table["invalid word in valid tags"] == [0.5, 0.0, 0.0]
    for name in ("two words in one block", "four letters", "six letters"):
        assert table[name] == [0.25, 0.0, 0.0], name
    for name in ("two guess blocks", "guess outside the tags", "no think block", "unclosed guess"):
        assert table[name] == [0.0, 0.0, 0.0], name
    total = {name: sum(v or 0.0 for v in values) for name, values in table.items()}
    assert all(total["honest"] > t for name, t in total.items() if name != "honest")


def test_feedback_reward_is_graded_by_the_clues_a_guess_agrees_with():
    history = [("SLATE", feedback("SLATE", SECRET))]  # XXGXG: A and E placed, S L T absent
    scores = score(
        ["wordle_feedback"], [answer("CRANE"), answer("GRAVE"), answer("BLAST"), answer("PLATE")], history
    )
    consistent, also_consistent, poor, partial = scores["wordle_feedback_reward"]
    assert consistent == 1.0 and also_consistent == 1.0
    assert poor is not None and partial is not None and 0.0 <= poor < partial < 1.0
    assert score(["wordle_feedback"], [answer("CRANE")], [])["wordle_feedback_reward"] == [1.0]  # first guess


def test_info_gain_reward_is_expected_over_the_candidates_not_the_secret():
    left = candidates(GAME)
    good = best_guess(left)
    scores = score(["wordle_info_gain"], [answer(good), answer(SECRET)])["wordle_info_gain_reward"]
    assert scores[0] == pytest.approx(information_gain(good, left))
    assert scores[1] == pytest.approx(
        information_gain(SECRET, left)
    )  # guessing the secret is not rewarded extra


def test_wordle_rewards_need_the_history_column():
    (func,) = get_reward_funcs(["wordle_format"])
    with pytest.raises(ValueError, match="wordle_history"):
        func([answer("CRANE")], prompt_style=["wordle"])


def test_two_grpo_steps_with_the_wordle_rewards(tiny_model_dir, tmp_path, one_torch_thread):
    from tests.test_grpo import grpo_args
    from tests.test_sft import load_script

    data = tmp_path / "games"
    assert cli_main(["wordle-games", "--output_dir", str(data), "--wordle_size", "8"]) == 0
    args = grpo_args(
        tiny_model_dir, str(data), tmp_path / "out", "--prompt_style", "wordle", "--chat_template", "chatml",
        "--reward_funcs", *REWARDS,
    )  # fmt: skip
    trainer = load_script("grpo").main(*args)
    steps = [h for h in trainer.state.log_history if "rewards/wordle_format_reward/mean" in h]
    assert len(steps) == 2
    assert all(f"rewards/{r}_reward/mean" in h for h in steps for r in REWARDS)


# -------------------------------------------------------------------------------------------- play evaluation


def check_accounting(games) -> None:
    for game in games:
        assert 1 <= game.turns <= MAX_TURNS and len(game.completions) == game.turns
        assert game.won == (game.history[-1][0] == game.secret)
        assert game.won or game.turns == MAX_TURNS  # a game stops only when won or out of turns
        assert game.invalid == sum(m is None for _, m in game.history)
        for guess, marks in game.history:
            assert marks is None or marks == feedback(guess, game.secret)


def test_the_scripted_solver_wins_every_held_out_game(tmp_path):
    cfg = WordlePlayConfig(num_games=12, output_dir=str(tmp_path))
    result = play(cfg, player=solver_player)
    assert result.won == 1.0 and result.invalid_per_game == 0.0 and 1.0 < result.mean_turns <= MAX_TURNS
    assert result.intervals["won"] == (1.0, 1.0)
    games = [json.loads(line) for line in (tmp_path / "games.jsonl").read_text().splitlines()]
    assert len(games) == 12 and all(g["won"] for g in games)
    assert {g["secret"] for g in games} <= set(secret_words("eval"))
    assert "| scripted player | 12 | 1.000 [1.000, 1.000]" in (tmp_path / "report.md").read_text()
    assert result.well_formed == 1.0


def test_invalid_guesses_are_counted_and_shown_back_to_the_player():
    shown: list[list] = []

    def sloppy(histories, turn):  # an invalid answer on the first turn, then the solver
        shown.extend(histories)
        if turn == 0:
            return ["<think>\nx\n</think>\n<guess>ZZZZZ</guess>", "I guess CRANE"]
        return solver_player(histories, turn)

    games = play_games(sloppy, ["CRANE", "HELLO"])
    check_accounting(games)
    assert [g.invalid for g in games] == [1, 1] and games[0].history[0] == ("ZZZZZ", None)
    assert games[1].history[0] == ("(no guess in tags)", None)
    assert "not a valid five-letter word" in render_game(shown[-1])
    result = score_games(games)
    assert result.invalid_per_game == 1.0 and 0 < result.invalid_share < 1
    # ZZZZZ is well formed (a five-letter non-word); "I guess CRANE" has no tags
    assert result.well_formed == pytest.approx((1.0 + (games[1].turns - 1) / games[1].turns) / 2)


def test_a_tiny_model_plays_whole_games_to_the_end(tiny_model_dir, tmp_path, one_torch_thread):
    cfg = WordlePlayConfig(
        model=tiny_model_dir, num_games=3, max_new_tokens=6, output_dir=str(tmp_path), model_batch_size=3
    )
    result = play(cfg)
    games = [json.loads(line) for line in (tmp_path / "games.jsonl").read_text().splitlines()]
    assert len(games) == 3 and result.games == 3
    for game in games:  # a random tiny model never writes a valid guess: every turn used, every guess invalid
        assert game["turns"] == MAX_TURNS and game["invalid"] == MAX_TURNS and not game["won"]
    assert result.won == 0.0 and result.invalid_per_game == MAX_TURNS and result.mean_turns == MAX_TURNS
    assert result.well_formed == 0.0
    assert json.loads((tmp_path / "report.json").read_text())["score"]["games"] == 3


def test_play_settings_are_checked():
    with pytest.raises(ValueError, match="max_turns"):
        WordlePlayConfig(max_turns=7)
    with pytest.raises(ValueError, match="num_games"):
        secrets_to_play("eval", 10_000, 0)
    assert secrets_to_play("eval", 5, 0) == secrets_to_play("eval", 5, 0) != secrets_to_play("eval", 5, 1)
    assert get_style("wordle").parse(answer("crane"), {}).predicted_answer == "CRANE"
