"""The Wordle `play` evaluation: a model plays whole games against held-out secret words, its own guesses fed back
with their feedback, up to six turns. Reports games won, mean turns and invalid guesses, each with a 95% bootstrap
interval over games (`evaluation.bootstrap_interval`).

A turn asks the model the `wordle` prompt style (the rules, the game so far) and parses its one `<guess>`; a guess
whose format verdict fails (`curate/wordle_verify.py`: no tags, several guesses, not an accepted five-letter word)
is invalid: it uses the turn and is shown to the model as not accepted. A game is won when a guess equals the
secret. The secrets are the first `num_games` of the held-out `eval` split in a seeded order
(`sources/wordle.secret_split`), which `--problems wordle` never trains on.

    openr1-data wordle-play --model outputs/wordle-grpo --num_games 40
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from openr1_data.config import check_fields
from openr1_data.curate.wordle_verify import judge_wordle_format, valid_guess
from openr1_data.prompts import get_style
from openr1_data.sources.wordle import (
    MAX_TURNS,
    PROMPT_STYLE,
    SPLITS,
    feedback,
    render_game,
    secret_words,
    solver_completion,
)
from openr1_data.teachers import Teacher
from openr1_data.teachers.base import SamplingParams
from openr1_data.train.evaluation import bootstrap_interval, model_slug, with_interval

# What a player gets: the history of every game still running ((guess, feedback or None when invalid) pairs) and
# the turn; what it gives back: one completion per game.
GameHistory = list[tuple[str, str | None]]
Player = Callable[[Sequence[GameHistory], int], list[str]]


@dataclass
class WordlePlayConfig:
    """Which model plays, how many held-out games, and how it samples."""

    model: str = field(
        default="smollm2",
        metadata={"help": "the player: a local folder (e.g. a trained policy), a Hub id, or smollm2"},
    )
    backend: str = field(
        default="transformers", metadata={"help": "teacher backend: transformers, openai, vllm"}
    )
    num_games: int = field(default=40, metadata={"help": "games to play (one held-out secret each)"})
    split: str = field(
        default="eval",
        metadata={
            "help": "secrets to play: eval (held out from --problems wordle's default train), train, all"
        },
    )
    max_turns: int = field(default=MAX_TURNS, metadata={"help": "guesses allowed per game"})
    temperature: float = field(default=0.0, metadata={"help": "sampling temperature (0 = greedy)"})
    top_p: float = field(default=1.0, metadata={"help": "nucleus sampling top_p"})
    max_new_tokens: int = field(default=256, metadata={"help": "maximum tokens per turn"})
    seed: int = field(default=0, metadata={"help": "the order of the secrets and the sampling seed"})
    device: str = field(default="cpu", metadata={"help": "device of the transformers backend"})
    model_batch_size: int = field(default=16, metadata={"help": "sequences per forward batch (transformers)"})
    num_threads: int | None = field(
        default=None, metadata={"help": "torch threads of the transformers backend (default: the free cores)"}
    )
    base_url: str = field(
        default="http://127.0.0.1:8000/v1", metadata={"help": "OpenAI-compatible server URL (openai backend)"}
    )
    output_dir: str = field(
        default="",
        metadata={
            "help": "folder for games.jsonl and the report (default: outputs/wordle_play/<model name>)"
        },
    )

    def __post_init__(self) -> None:
        if not self.output_dir:
            self.output_dir = str(Path("outputs") / "wordle_play" / model_slug(self.model))
        check_fields(
            self,
            at_least={"num_games": 1, "max_turns": 1, "max_new_tokens": 1},
            between={"max_turns": (1, MAX_TURNS)},
            choices={"split": SPLITS},
        )


@dataclass
class GameRecord:
    """One game: the secret, every guess (None feedback: invalid) and every completion the player wrote."""

    secret: str
    history: GameHistory = field(default_factory=list)
    completions: list[str] = field(default_factory=list)
    won: bool = False

    @property
    def turns(self) -> int:
        return len(self.history)

    @property
    def invalid(self) -> int:
        return sum(marks is None for _, marks in self.history)


@dataclass
class PlayScore:
    """What the games add up to; intervals are 95% bootstrap intervals over games."""

    games: int
    won: float  # share of games won
    mean_turns: float  # guesses used per game (a lost game used every turn)
    mean_turns_won: float | None  # guesses used per won game
    invalid_per_game: float  # invalid guesses per game
    invalid_share: float  # share of all guesses that were invalid
    # share of answers in the format (closed think block, one guess block), whatever the block holds
    well_formed: float = 0.0
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)


def secrets_to_play(split: str, num_games: int, seed: int) -> list[str]:
    """The first `num_games` secrets of `split` in a seeded order (every secret once)."""
    words = secret_words(split)
    random.Random(seed).shuffle(words)
    if num_games > len(words):
        raise ValueError(f"--num_games {num_games}: the {split} split has only {len(words)} secrets")
    return words[:num_games]


def shown_guess(text: str | None) -> str:
    """How an invalid guess is shown back to the player: its tag content, cut short, or a note that there was none."""
    if not text:
        return "(no guess in tags)"
    return text if len(text) <= 20 else text[:20] + "..."


def play_games(player: Player, secrets: Sequence[str], max_turns: int = MAX_TURNS) -> list[GameRecord]:
    """Play one game per secret, all games in step: each turn the player answers every running game."""
    style = get_style(PROMPT_STYLE)
    games = [GameRecord(secret.upper()) for secret in secrets]
    for turn in range(max_turns):
        running = [g for g in games if not g.won and g.turns < max_turns]
        if not running:
            break
        completions = player([list(g.history) for g in running], turn)
        if len(completions) != len(running):
            raise ValueError(f"the player answered {len(completions)} of {len(running)} games")
        for game, text in zip(running, completions, strict=True):
            game.completions.append(text)
            parsed = style.parse(text, {})
            guess = valid_guess(parsed)
            if guess is None:
                game.history.append((shown_guess(parsed.predicted_answer), None))
                continue
            game.history.append((guess, feedback(guess, game.secret)))
            game.won = guess == game.secret
    return games


def score_games(games: Sequence[GameRecord]) -> PlayScore:
    """Games won, mean turns and invalid guesses, with 95% bootstrap intervals over games."""
    if not games:
        raise ValueError("no games to score")
    style = get_style(PROMPT_STYLE)
    per_game = {
        "won": [float(g.won) for g in games],
        "mean_turns": [float(g.turns) for g in games],
        "invalid_per_game": [float(g.invalid) for g in games],
        "well_formed": [
            sum((judge_wordle_format(style.parse(c, {})).score or 0.0) > 0 for c in g.completions)
            / max(1, len(g.completions))
            for g in games
        ],
    }
    won_turns = [g.turns for g in games if g.won]
    guesses = sum(g.turns for g in games)
    return PlayScore(
        games=len(games),
        won=sum(per_game["won"]) / len(games),
        mean_turns=sum(per_game["mean_turns"]) / len(games),
        mean_turns_won=sum(won_turns) / len(won_turns) if won_turns else None,
        invalid_per_game=sum(per_game["invalid_per_game"]) / len(games),
        invalid_share=sum(g.invalid for g in games) / guesses if guesses else 0.0,
        well_formed=sum(per_game["well_formed"]) / len(games),
        intervals={name: bootstrap_interval(values) for name, values in per_game.items()},
    )


def solver_player(histories: Sequence[GameHistory], turn: int) -> list[str]:
    """A scripted player that answers every game as the solver does (`sources.wordle.solver_completion`)."""
    answers = []
    for history in histories:
        clues = [(g, m) for g, m in history if m is not None]
        answers.append(solver_completion(clues))
    return answers


def teacher_player(teacher: Teacher, sampling: SamplingParams) -> Player:
    """A player that asks `teacher` (any backend) one completion per running game in the `wordle` prompt style; the
    seed moves on each turn so a sampled game is reproducible."""
    style = get_style(PROMPT_STYLE)

    def play(histories: Sequence[GameHistory], turn: int) -> list[str]:
        prompts = [style.build({"problem": render_game(h)}) for h in histories]
        turn_sampling = SamplingParams(
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            max_new_tokens=sampling.max_new_tokens,
            seed=sampling.seed + turn,
        )
        return [samples[0].text for samples in teacher.generate(prompts, turn_sampling, n=1)]

    return play


def build_player_teacher(cfg: WordlePlayConfig) -> Teacher:
    """The teacher backend that plays, from the config (the generation stage's own builder)."""
    from openr1_data.generate.stage import GenerationConfig, build_teacher

    return build_teacher(
        GenerationConfig(
            output_dir=str(Path(cfg.output_dir) / "unused"),
            teacher_backend=cfg.backend,
            teacher_model=cfg.model,
            prompt_styles=[PROMPT_STYLE],
            device=cfg.device,
            teacher_batch_size=cfg.model_batch_size,
            num_threads=cfg.num_threads,
            base_url=cfg.base_url,
        )
    )


def play(cfg: WordlePlayConfig, player: Player | None = None, teacher: Teacher | None = None) -> PlayScore:
    """Play `cfg.num_games` held-out games with `player` (default: the model of `cfg`), write the games and the
    reports, return the score."""
    secrets = secrets_to_play(cfg.split, cfg.num_games, cfg.seed)
    own = player is None and teacher is None
    name = "scripted player"
    if player is None:
        teacher = teacher or build_player_teacher(cfg)
        name = teacher.model_name
        sampling = SamplingParams(
            temperature=cfg.temperature, top_p=cfg.top_p, max_new_tokens=cfg.max_new_tokens, seed=cfg.seed
        )
        player = teacher_player(teacher, sampling)
    try:
        games = play_games(player, secrets, cfg.max_turns)
    finally:
        if own and teacher is not None:
            teacher.close()
    score = score_games(games)
    write_play_reports(cfg, games, score, name)
    return score


def markdown_row(label: str, score: PlayScore) -> str:
    """One row of the play table (95% bootstrap intervals over games in brackets)."""
    cells = [with_interval(getattr(score, n), score.intervals.get(n)) for n in ("won", "mean_turns")]
    won_turns = "-" if score.mean_turns_won is None else f"{score.mean_turns_won:.2f}"
    invalid = with_interval(score.invalid_per_game, score.intervals.get("invalid_per_game"))
    formed = with_interval(score.well_formed, score.intervals.get("well_formed"))
    return (
        f"| {label} | {score.games} | {cells[0]} | {cells[1]} | {won_turns} | {invalid} | "
        f"{score.invalid_share:.3f} | {formed} |"
    )


PLAY_TABLE_HEADER = (
    "| player | games | won | mean turns | turns when won | invalid guesses per game | invalid share | "
    "well-formed answers |\n|---|---:|---:|---:|---:|---:|---:|---:|"
)


def write_play_reports(
    cfg: WordlePlayConfig, games: Sequence[GameRecord], score: PlayScore, name: str
) -> Path:
    """`games.jsonl` (every game: secret, guesses, feedback, completions), `report.json` and `report.md`."""
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    lines = []
    for g in games:
        record = {"secret": g.secret, "won": g.won, "turns": g.turns, "invalid": g.invalid}
        lines.append(json.dumps({**record, "history": g.history, "completions": g.completions}) + "\n")
    (out / "games.jsonl").write_text("".join(lines))
    report = {"model": name, "config": asdict(cfg), "score": asdict(score)}
    (out / "report.json").write_text(json.dumps(report, indent=2))
    (out / "report.md").write_text(
        f"# Wordle play: `{name}`\n\n{score.games} games on `{cfg.split}` secrets, up to {cfg.max_turns} turns, "
        f"temperature {cfg.temperature}, max {cfg.max_new_tokens} new tokens per turn.\n\n{PLAY_TABLE_HEADER}\n"
        f"{markdown_row(name, score)}\n\nIn brackets: 95% bootstrap intervals over games.\n"
    )
    return out / "report.json"
