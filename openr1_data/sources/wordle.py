"""Wordle as a problem source (`--problems wordle`): the game's feedback, the candidate words a history leaves, a
solver, and game states made by the solver from secret words at depths 0-5.

Feedback is one letter per position: `G` (in the word, right place), `Y` (in the word, another place), `X` (not in
the word, or not as many times as guessed), computed as the game does (greens first, then yellows while the secret
has letters left). A history is a list of `(guess, feedback)` pairs in upper case. The words are SCOWL lists bundled
in `wordle_words/` (see its README: 2,148 common answers, 4,653 accepted guesses, a permissive licence).

Secret words are split once, by a hash of the word, into `train` (90%) and `eval` (10%): problems and SFT games
use `train` secrets, the `play` evaluation (`openr1_data/train/wordle_play.py`) the held-out `eval` ones, so no
evaluated secret is ever trained on.

A problem row: `problem` (the game so far, rendered for the `wordle` prompt style), `answer` (the secret: the
rewards never read it, the play evaluation does), `source` (`wordle`), `wordle_history` (JSON list of
`[guess, feedback]`), `wordle_depth` (guesses played).
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

from datasets import Dataset

from openr1_data.prompts import get_style
from openr1_data.prompts.styles import GUESS_CLOSE, GUESS_OPEN
from openr1_data.schema import ANSWER, PROBLEM, SOURCE, ContractError

SOURCE_NAME = "wordle"
HISTORY = "wordle_history"
DEPTH = "wordle_depth"
PROMPT_STYLE = "wordle"
WORD_LENGTH = 5
MAX_TURNS = 6
SOLVED = "G" * WORD_LENGTH
SPLITS = ("train", "eval", "all")
EVAL_SHARE = 10  # one secret in EVAL_SHARE is held out for the play evaluation
WORDS_DIR = Path(__file__).with_name("wordle_words")

# The eight first guesses that leave the fewest answers in expected value (`expected_remaining(w, answer_words())`
# over every answer w: RAISE 54.2 ... ALTER 63.5; recomputing takes about a minute, so they are written down). Games
# start from one of them, drawn per game, so the states of a depth vary.
OPENERS = ("RAISE", "ARISE", "IRATE", "AROSE", "SANER", "SNARE", "STARE", "ALTER")

History = list[tuple[str, str]]


@lru_cache(maxsize=2)
def _read_words(name: str) -> tuple[str, ...]:
    return tuple(w.strip().upper() for w in (WORDS_DIR / name).read_text().split() if w.strip())


def answer_words() -> tuple[str, ...]:
    """The possible secret words (upper case, sorted)."""
    return _read_words("answers.txt")


@lru_cache(maxsize=1)
def _answer_set() -> frozenset[str]:
    return frozenset(answer_words())


@lru_cache(maxsize=1)
def guess_words() -> frozenset[str]:
    """Every accepted guess (upper case); the answers are among them."""
    return frozenset(_read_words("guesses.txt"))


def is_valid_guess(word: str) -> bool:
    """A five-letter word of the accepted-guess list (case-insensitive)."""
    return word.upper() in guess_words()


def secret_split(word: str) -> str:
    """`eval` for the held-out tenth of the secrets (a stable hash of the word), else `train`."""
    digest = hashlib.sha256(word.upper().encode()).digest()
    return "eval" if digest[0] % EVAL_SHARE == 0 else "train"


def secret_words(split: str = "train") -> list[str]:
    """The secrets of a split: `train`, `eval` (held out) or `all`."""
    if split not in SPLITS:
        raise ContractError(f"wordle split {split!r}: use one of {', '.join(SPLITS)}")
    return [w for w in answer_words() if split == "all" or secret_split(w) == split]


def feedback(guess: str, secret: str) -> str:
    """The game's feedback on `guess` for `secret`: G/Y/X per letter (repeated letters as the game scores them)."""
    guess, secret = guess.upper(), secret.upper()
    if len(guess) != len(secret):
        raise ValueError(f"feedback: {guess!r} and {secret!r} differ in length")
    marks = ["X"] * len(guess)
    unmatched: Counter[str] = Counter()
    for i, (g, s) in enumerate(zip(guess, secret, strict=True)):
        if g == s:
            marks[i] = "G"
        else:
            unmatched[s] += 1
    for i, g in enumerate(guess):
        if marks[i] != "G" and unmatched[g] > 0:
            marks[i] = "Y"
            unmatched[g] -= 1
    return "".join(marks)


def is_consistent(word: str, history: Iterable[tuple[str, str]]) -> bool:
    """Could `word` be the secret after `history`? (every earlier guess would get the same feedback)"""
    return all(feedback(guess, word) == marks for guess, marks in history)


def candidates(history: Sequence[tuple[str, str]], words: Sequence[str] | None = None) -> list[str]:
    """The answers (or `words`) consistent with every clue of `history`."""
    if words is None:
        return list(_cached_candidates(tuple((g.upper(), f) for g, f in history)))
    return [w for w in words if is_consistent(w, history)]


@lru_cache(maxsize=4096)
def _cached_candidates(history: tuple[tuple[str, str], ...]) -> tuple[str, ...]:
    if not history:
        return answer_words()
    return tuple(w for w in _cached_candidates(history[:-1]) if is_consistent(w, history[-1:]))


def pattern_counts(guess: str, remaining: Sequence[str]) -> Counter[str]:
    """How many of the `remaining` secrets give each feedback pattern to `guess`."""
    return Counter(feedback(guess, secret) for secret in remaining)


def expected_remaining(guess: str, remaining: Sequence[str]) -> float:
    """The expected number of secrets left after `guess`, each remaining secret equally likely."""
    counts = pattern_counts(guess, remaining)
    return sum(c * c for c in counts.values()) / len(remaining)


def information_gain(guess: str, remaining: Sequence[str]) -> float:
    """The normalised reduction of the candidate set: 1 - E[log(left after)] / log(left before), the expectation
    over the remaining secrets (each equally likely). Equals the entropy of the feedback pattern over log(n): 1 when
    every secret gives `guess` its own pattern, 0 when the guess tells nothing. With one secret left: 1 for it, else
    0."""
    n = len(remaining)
    if n == 0:
        return 0.0
    if n == 1:
        return 1.0 if guess.upper() == remaining[0] else 0.0
    counts = pattern_counts(guess, remaining)
    if len(counts) == 1:  # every secret answers alike: the guess tells nothing
        return 0.0
    # A guess that is the secret ends the game: that pattern leaves 0 secrets to tell apart (log counts as 0).
    expected_log = sum(c * math.log(c) for pattern, c in counts.items() if pattern != SOLVED) / n
    return max(0.0, 1.0 - expected_log / math.log(n))


def best_guess(remaining: Sequence[str], pool: Sequence[str] | None = None) -> str:
    """The solver's guess: the word of `pool` (default: the remaining secrets, so every guess is consistent) that
    leaves the fewest secrets in expectation; ties go to a remaining secret, then alphabetical order."""
    if not remaining:
        raise ValueError("no secret word is consistent with this history")
    if len(remaining) <= 2:
        return sorted(remaining)[0]
    options = sorted(pool if pool is not None else remaining)
    left = set(remaining)
    return min(options, key=lambda w: (expected_remaining(w, remaining), w not in left, w))


def solver_game(secret: str, opener: str = OPENERS[0], max_turns: int = MAX_TURNS) -> History:
    """The solver's whole game for `secret` from `opener`: guesses and feedback up to the win (or `max_turns`)."""
    secret = secret.upper()
    if secret not in _answer_set():
        raise ValueError(
            f"{secret!r} is not one of the {len(answer_words())} answers the solver plays against"
        )
    history: History = []
    guess = opener.upper()
    while len(history) < max_turns:
        history.append((guess, feedback(guess, secret)))
        if guess == secret:
            break
        guess = best_guess(candidates(history))
    return history


def render_feedback(guess: str, marks: str) -> str:
    """`CRANE`, `XYGXX` -> `C(X) R(Y) A(G) N(X) E(X)`: each letter beside its mark."""
    return " ".join(f"{letter}({mark})" for letter, mark in zip(guess, marks, strict=True))


def render_game(history: Sequence[tuple[str, str | None]]) -> str:
    """The user turn of a game state: the guesses so far with their feedback, and which guess is next. An invalid
    guess (feedback None: the play evaluation's) is shown as not accepted."""
    turn = len(history) + 1
    if not history:
        return f"A new game starts. Make guess 1 of {MAX_TURNS}."
    lines = ["The game so far:"]
    for i, (guess, marks) in enumerate(history, 1):
        shown = render_feedback(guess, marks) if marks else "not a valid five-letter word, no feedback"
        lines.append(f"Guess {i}: {guess} -> {shown}")
    lines.append(f"Make guess {turn} of {MAX_TURNS}.")
    return "\n".join(lines)


def game_states(
    size: int, seed: int = 0, split: str = "train", depths: Sequence[int] = range(6)
) -> list[dict]:
    """`size` unfinished game states from `split` secrets: a secret, an opener and a depth drawn per state (seeded),
    the solver's first `depth` moves as the history (fewer when the solver wins sooner)."""
    if size < 1:
        raise ContractError(f"--problems wordle: the number of games must be >= 1, got {size}")
    bad = [d for d in depths if not 0 <= d < MAX_TURNS]
    if bad or not depths:
        raise ContractError(f"wordle depths must be in 0..{MAX_TURNS - 1}, got {list(depths)}")
    secrets = secret_words(split)
    rng = random.Random(seed)
    rows = []
    for _ in range(size):
        secret, opener, depth = rng.choice(secrets), rng.choice(OPENERS), rng.choice(list(depths))
        game = solver_game(secret, opener)
        history = game[: min(depth, len(game) - 1)]  # the state before the winning guess at the latest
        rows.append(state_row(secret, history))
    return rows


def state_row(secret: str, history: Sequence[tuple[str, str]]) -> dict:
    """The problem row of one game state."""
    return {
        PROBLEM: render_game(history),
        ANSWER: secret.upper(),
        SOURCE: SOURCE_NAME,
        HISTORY: json.dumps([list(step) for step in history]),
        DEPTH: len(history),
    }


def wordle_problems(size: int = 200, seed: int = 0, split: str = "train") -> Dataset:
    """`--problems wordle`: game states as contract rows (problem, answer = the secret, source, history, depth)."""
    return Dataset.from_list(game_states(size, seed, split))


def read_history(value: str | Sequence | None) -> History:
    """A `wordle_history` value (JSON text or a list of pairs) as `(guess, feedback)` pairs, checked."""
    steps = json.loads(value) if isinstance(value, str) else (value or [])
    history: History = []
    for step in steps:
        if not (isinstance(step, list | tuple) and len(step) == 2 and all(isinstance(x, str) for x in step)):
            raise ContractError(f"{HISTORY}: expected a list of [guess, feedback] pairs, got {step!r}")
        history.append((step[0].upper(), step[1].upper()))
    return history


def known_letters(history: Sequence[tuple[str, str]]) -> tuple[str, list[str], list[str]]:
    """What the clues say: the pattern of known places (`_R_N_`), letters in the word elsewhere, letters absent."""
    places = ["_"] * WORD_LENGTH
    present: list[str] = []
    absent: list[str] = []
    for guess, marks in history:
        for i, (letter, mark) in enumerate(zip(guess, marks, strict=True)):
            if mark == "G":
                places[i] = letter
    for guess, marks in history:
        for letter, mark in zip(guess, marks, strict=True):
            if mark == "Y" and letter not in present and letter not in places:
                present.append(letter)
    confirmed = set(places) | set(present)
    for guess, marks in history:
        for letter, mark in zip(guess, marks, strict=True):
            if mark == "X" and letter not in confirmed and letter not in absent:
                absent.append(letter)
    return "".join(places), sorted(present), sorted(absent)


def solver_completion(history: Sequence[tuple[str, str]]) -> str:
    """The solver's answer to a game state, written as the model should answer: its reasoning in the think block
    (candidates left, what the clues say, why this guess), then the guess in tags. The SFT warm-up's target."""
    remaining = candidates(history)
    guess = OPENERS[0] if not history else best_guess(remaining)
    lines = [f"Candidates left: {len(remaining)}."]
    if history:
        places, present, absent = known_letters(history)
        lines.append(
            f"Known: places {places}; in the word elsewhere: {', '.join(present) or 'none'}; "
            f"not in the word: {', '.join(absent) or 'none'}."
        )
    if len(remaining) == 1:
        lines.append(f"Only {guess} fits every clue.")
    else:
        lines.append(
            f"I guess {guess} because it splits the remaining words best: about "
            f"{expected_remaining(guess, remaining):.1f} would be left on average."
        )
    think = "\n".join(lines)
    return f"<think>\n{think}\n</think>\n{GUESS_OPEN}{guess}{GUESS_CLOSE}"


def sft_messages(row: dict) -> list[dict[str, str]]:
    """A problem row as SFT-ready chat messages: the `wordle` prompt (rules, game so far) and the solver's answer."""
    messages = get_style(PROMPT_STYLE).build(row)
    messages.append({"role": "assistant", "content": solver_completion(read_history(row[HISTORY]))})
    return messages


def wordle_sft_dataset(size: int = 400, seed: int = 0, split: str = "train") -> Dataset:
    """Game states (`game_states`) with a `messages` column: the `wordle` prompt and the solver's answer. SFT reads
    `messages`; GRPO reads the problem columns of the same rows (it drops `messages`)."""
    rows = game_states(size, seed, split)
    return Dataset.from_list([{**row, "messages": sft_messages(row)} for row in rows])
