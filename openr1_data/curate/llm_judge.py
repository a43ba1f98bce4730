"""The LLM judge: a second opinion on traces math-verify could not settle (like OpenR1-Math's `correctness_llama`).

`judge_traces(dataset, JudgeConfig(...))` runs on verified traces (`correct`, `verify_error`). It sends a judge model
(any teacher backend) the rows that need one (`judge_scope`), with a strict yes/no question: does the trace's final
answer match the gold one? Replies are parsed strictly (`parse_judge_reply`): "yes" / "no" (any case, one trailing
period, after an optional think block); anything else is *undecided* (None), counted and never guessed.

Columns it writes, on every row (None where a row was not sent):
- `correct_judge` (bool): the judge's verdict; `judge_reply` (string): its raw reply.
- `correct_math_verify` (bool): math-verify's verdict, kept as it was.
- `correct` (bool): the verdict the selection stage reads, chosen by `judge_policy` (`apply_policy`):
  "math_verify" (judge recorded only), "judge_if_undecided" (the judge where math-verify has none), "either"
  (correct if either says so), "both" (correct only if neither says wrong). Where only one verdict exists, every
  policy but "math_verify" uses it.

The stage rejects nothing (selection does, on `correct`): its `StageResult` keeps every row and reports
`JudgeStats`. Rerunning it on judged traces starts again from `correct_math_verify`; `apply_judge_policy` switches
the policy without asking the judge again. Identical questions (same problem, gold and answer) are asked once.

`JudgeClient` is the one client of a judge model (building it, batching, one greedy reply per question): this stage
and the `llm_judge` GRPO reward (`train/rewards/model_based.py`) both ask through it.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import pyarrow as pa
from datasets import Dataset, Value

from openr1_data.funnel import StageResult, keep_every_row
from openr1_data.schema import (
    ANSWER,
    CORRECT,
    PROBLEM,
    VERIFY_ERROR,
    ContractError,
    Prompt,
    arrow_column,
    require_columns,
)
from openr1_data.teachers import SamplingParams, Teacher, make_teacher
from openr1_data.teachers.base import UNKNOWN_FINISH, Completion
from openr1_data.text import final_answer, split_think

CORRECT_MATH_VERIFY = "correct_math_verify"
CORRECT_JUDGE = "correct_judge"
JUDGE_REPLY = "judge_reply"
JUDGE_COLUMNS = (CORRECT_MATH_VERIFY, CORRECT_JUDGE, JUDGE_REPLY)

JUDGE_POLICIES = ("math_verify", "judge_if_undecided", "either", "both")
JUDGE_SCOPES = ("undecided", "unparsed", "all")
# math-verify errors that mean "no answer could be read": a format mismatch may hide a right answer
UNREAD_ANSWER_ERRORS = ("no_answer", "answer_unparseable")

DEFAULT_JUDGE_SYSTEM = (
    "You are a strict grader of math answers. You compare a student's final answer with the reference answer. "
    "Reply with exactly one word: Yes or No."
)
DEFAULT_JUDGE_TEMPLATE = (
    "Problem:\n{problem}\n\n"
    "Reference answer:\n{gold}\n\n"
    "Student's final answer (or the end of the student's response):\n{response}\n\n"
    "Is the student's final answer mathematically equivalent to the reference answer? "
    "Reply with exactly one word: Yes or No."
)


@dataclass
class JudgeConfig:
    """Settings of the LLM judge stage (every field starts with `judge_`: pipelines parse many configs at once)."""

    judge_backend: str = field(
        default="openai",
        metadata={"help": "teacher backend of the judge: openai, transformers, vllm, distilabel"},
    )
    judge_model: str | None = field(
        default=None, metadata={"help": "judge model id (as served) or local folder; required"}
    )
    judge_base_url: str = field(
        default="http://127.0.0.1:8000/v1", metadata={"help": "OpenAI-compatible server URL (openai backend)"}
    )
    judge_api_key_env: str = field(
        default="OPENAI_API_KEY", metadata={"help": "environment variable holding the judge server's API key"}
    )
    judge_max_concurrency: int = field(default=16, metadata={"help": "concurrent judge requests (openai)"})
    judge_request_timeout: float = field(
        default=600.0, metadata={"help": "total deadline in seconds of one judge request attempt (openai)"}
    )
    judge_max_retries: int = field(
        default=5, metadata={"help": "retries of a judge request on transient failures (openai)"}
    )
    judge_backoff_base: float = field(
        default=1.0,
        metadata={"help": "first retry of a judge request waits about this many seconds (openai)"},
    )
    judge_backoff_max: float = field(
        default=30.0, metadata={"help": "longest wait between judge retries in seconds (openai)"}
    )
    judge_device: str = field(
        default="cpu", metadata={"help": "device of a local judge (transformers backend)"}
    )
    judge_policy: str = field(
        default="judge_if_undecided",
        metadata={
            "help": "which verdict becomes `correct`: math_verify (judge only recorded), judge_if_undecided "
            "(judge where math-verify has no verdict), either (correct if either says so), both (correct only "
            "if no verdict says wrong)"
        },
    )
    judge_scope: str = field(
        default="unparsed",
        metadata={
            "help": "which traces go to the judge: undecided (math-verify gave None), unparsed (also wrong "
            "traces whose answer could not be read: no or unparseable answer), all (every trace)"
        },
    )
    judge_truncated: bool = field(
        default=False,
        metadata={"help": "also judge traces cut by the token budget that have no extracted answer"},
    )
    judge_max_new_tokens: int = field(
        default=8, metadata={"help": "reply budget (greedy); raise it for judges that think before answering"}
    )
    judge_seed: int = field(default=0, metadata={"help": "seed of the judge requests"})
    judge_batch_size: int = field(default=64, metadata={"help": "questions per call to the judge backend"})
    judge_response_chars: int = field(
        default=2000,
        metadata={
            "help": "when a trace has no extracted answer, how many trailing characters of it the judge sees"
        },
    )
    judge_system_prompt: str = field(default=DEFAULT_JUDGE_SYSTEM, metadata={"help": "judge system prompt"})
    judge_template: str = field(
        default=DEFAULT_JUDGE_TEMPLATE,
        metadata={"help": "judge question; placeholders {problem}, {gold} and {response} (all required)"},
    )
    judge_problem_column: str = field(default=PROBLEM, metadata={"help": "column with the problem text"})
    judge_answer_column: str = field(default=ANSWER, metadata={"help": "column with the gold answer"})
    judge_prediction_column: str = field(
        default="predicted_answer", metadata={"help": "column with the trace's extracted answer"}
    )
    judge_progress: bool = field(default=True, metadata={"help": "show a progress bar"})

    def __post_init__(self) -> None:
        if self.judge_policy not in JUDGE_POLICIES:
            raise ValueError(f"judge_policy must be one of {list(JUDGE_POLICIES)}, got {self.judge_policy!r}")
        if self.judge_scope not in JUDGE_SCOPES:
            raise ValueError(f"judge_scope must be one of {list(JUDGE_SCOPES)}, got {self.judge_scope!r}")
        if self.judge_max_new_tokens < 1 or self.judge_batch_size < 1 or self.judge_response_chars < 1:
            raise ValueError("judge_max_new_tokens, judge_batch_size and judge_response_chars must be >= 1")
        for name in ("problem", "gold", "response"):
            if "{" + name + "}" not in self.judge_template:
                raise ValueError(f"judge_template must contain the placeholder {{{name}}}")
        try:
            self.judge_template.format(problem="", gold="", response="")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(
                f"judge_template has a placeholder other than {{problem}}, {{gold}}, {{response}} or a stray brace "
                f"({exc!r}); write literal braces as {{{{ and }}}}"
            ) from None

    def sampling(self) -> SamplingParams:
        """Greedy, short: the judge answers one word."""
        return SamplingParams(
            temperature=0.0, top_p=1.0, max_new_tokens=self.judge_max_new_tokens, seed=self.judge_seed
        )


@dataclass
class JudgeStats:
    """What the judge stage did: rows sent, the verdicts, why other rows were not sent, what changed."""

    rows: int = 0
    sent: int = 0
    requests: int = 0
    yes: int = 0
    no: int = 0
    undecided: int = 0
    not_needed: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    changed: int = 0
    policy: str = ""
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)

    def table(self) -> str:
        rows = [
            ("traces", self.rows),
            ("sent to the judge", f"{self.sent} ({self.requests} distinct questions)"),
            ("judge: yes / no / undecided", f"{self.yes} / {self.no} / {self.undecided}"),
            ("not needed (math-verify decided)", self.not_needed),
            ("skipped", dict(self.skipped) or "-"),
            (f"`correct` changed ({self.policy})", self.changed),
            ("seconds", f"{self.seconds:.1f}"),
        ]
        return "\n".join(f"  {k:<36}{v}" for k, v in rows)


def parse_judge_reply(reply: str | None) -> bool | None:
    """The judge's verdict: "yes" -> True, "no" -> False (any case, one trailing period, after an optional think
    block); anything else (an explanation, "maybe", an unclosed think block, no reply) -> None, never a guess."""
    if reply is None:
        return None
    _, final, issue = split_think(reply)
    if issue not in (None, "no_think"):  # unclosed or repeated think blocks: no clean answer
        return None
    word = final.strip()
    if word.endswith("."):
        word = word[:-1].rstrip()
    word = word.lower()
    return True if word == "yes" else False if word == "no" else None


def apply_policy(math_verify: bool | None, judge: bool | None, policy: str) -> bool | None:
    """The verdict the filters use, from math-verify's and the judge's (either may be None)."""
    if policy == "math_verify":
        return math_verify
    if math_verify is None or judge is None:
        return judge if math_verify is None else math_verify
    if policy == "judge_if_undecided":
        return math_verify
    if policy == "either":
        return math_verify or judge
    if policy == "both":
        return math_verify and judge
    raise ValueError(f"judge_policy must be one of {list(JUDGE_POLICIES)}, got {policy!r}")


def judge_reason(
    correct: bool | None,
    verify_error: str | None,
    predicted: str | None,
    finish_reason: str | None,
    gold: object,
    response: str,
    config: JudgeConfig,
) -> str | None:
    """Why a row is not sent to the judge ("not_needed" or a skip reason), or None when it is sent."""
    in_scope = (
        config.judge_scope == "all"
        or correct is None
        or (
            config.judge_scope == "unparsed"
            and correct is False
            and (not (predicted or "").strip() or verify_error in UNREAD_ANSWER_ERRORS)
        )
    )
    if not in_scope:
        return "not_needed"
    if gold is None or not str(gold).strip():
        return "no_gold"
    if not response.strip():
        return "no_response"
    # "unknown": a server that did not say why it stopped; with no answer found, as likely cut as "length"
    cut = finish_reason in ("length", UNKNOWN_FINISH)
    if cut and not (predicted or "").strip() and not config.judge_truncated:
        return "truncated"
    return None


def _column(dataset: Dataset, name: str) -> list:
    if name not in dataset.column_names:
        return [None] * len(dataset)
    return arrow_column(dataset, name).to_pylist()


def judge_response_text(predicted: str | None, final: str | None, completion: str | None, chars: int) -> str:
    """What the judge reads as the answer: the extracted answer, else the text's `\\boxed{}` answer by the rule
    every stage uses (`text.final_answer`: several boxes are one answer), else the end of the final text."""
    answer = (predicted or "").strip()
    if answer:
        return answer
    text = (final or completion or "").strip()
    # of a whole completion, only what follows its think block can hold the final answer
    answer = final_answer(final or split_think(completion or "")[1])
    return answer or text[-chars:]


def build_judge(config: JudgeConfig) -> Teacher:
    """The judge teacher a config asks for (`make_teacher` routes each backend the options it takes)."""
    if not config.judge_model:
        raise ValueError("the LLM judge needs a model: pass --judge_model (as served, or a local folder)")
    offered = {
        "base_url": config.judge_base_url,
        "api_key_env": config.judge_api_key_env,
        "max_concurrency": config.judge_max_concurrency,
        "request_timeout": config.judge_request_timeout,
        "max_retries": config.judge_max_retries,
        "backoff_base": config.judge_backoff_base,
        "backoff_max": config.judge_backoff_max,
        "device": config.judge_device,
    }
    return make_teacher(config.judge_backend, config.judge_model, offered=offered)


def answer_match_prompt(config: JudgeConfig, problem: str, gold: str, response: str) -> Prompt:
    """The judge's yes/no question for one answer (`judge_system_prompt` and `judge_template`): the judge stage's
    question, and the `llm_judge` reward's with `judge_prompt_style="answer_match"`."""
    return [
        {"role": "system", "content": config.judge_system_prompt},
        {
            "role": "user",
            "content": config.judge_template.format(problem=problem, gold=gold, response=response),
        },
    ]


class JudgeClient:
    """The one client of a judge model, for the judge stage and the `llm_judge` reward: it builds the judge (from
    the config, at the first question) unless given one, and asks greedy one-reply questions in batches of
    `judge_batch_size`. It closes only a judge it built; a pickled copy opens its own on first use."""

    def __init__(self, config: JudgeConfig, teacher: Teacher | None = None):
        self.config = config
        self._teacher = teacher
        self._own = teacher is None

    def ask(self, prompts: Sequence[Prompt]) -> list[Completion]:
        """One reply per prompt, in order (a progress bar when `judge_progress`)."""
        from tqdm.auto import tqdm

        if not prompts:
            return []
        if self._teacher is None:
            self._teacher = build_judge(self.config)
        size, sampling = self.config.judge_batch_size, self.config.sampling()
        replies: list[Completion] = []
        with tqdm(
            total=len(prompts),
            desc="judge",
            unit="question",
            disable=not self.config.judge_progress,
            file=sys.stderr,
        ) as bar:
            for lo in range(0, len(prompts), size):
                batch = prompts[lo : lo + size]
                outputs = self._teacher.generate(batch, sampling, n=1)
                if len(outputs) != len(batch) or any(len(o) != 1 for o in outputs):
                    raise RuntimeError(
                        f"the judge backend {type(self._teacher).__name__} returned {[len(o) for o in outputs]} "
                        f"completions for {len(batch)} prompts (1 each expected)"
                    )
                replies.extend(completion for (completion,) in outputs)
                bar.update(len(batch))
        return replies

    def close(self) -> None:
        """Close the judge if this client built it (a later question builds it again)."""
        if self._own and self._teacher is not None:
            self._teacher.close()
            self._teacher = None

    def __getstate__(self) -> dict:  # a built judge (threads, sockets) is rebuilt where the copy runs
        state = dict(self.__dict__)
        if self._own:
            state["_teacher"] = None
        return state

    def __enter__(self) -> JudgeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def judge_traces(
    dataset: Dataset, config: JudgeConfig | None = None, teacher: Teacher | None = None
) -> StageResult[JudgeStats]:
    """Ask the judge about the traces that need it and write the judge columns and the final `correct`: every row
    kept, with the `JudgeStats` as the report.

    `teacher` is the judge (built from the config when None, and closed afterwards). Raises `ContractError` before
    any request when a needed column is missing.
    """
    config = config or JudgeConfig()
    require_columns(
        dataset.column_names,
        [CORRECT, config.judge_problem_column, config.judge_answer_column],
        what="LLM judge",
        fix="Run verification first (`openr1-data verify` or verify_traces) so traces have 'correct'; pass "
        "--judge_problem_column / --judge_answer_column if your problem or gold columns are named differently.",
    )
    if config.judge_prediction_column not in dataset.column_names and not (
        {"final", "completion"} & set(dataset.column_names)
    ):
        raise ContractError(
            f"LLM judge: the traces have neither '{config.judge_prediction_column}' nor 'final' / 'completion', so "
            f"there is no answer to judge; the dataset has {dataset.column_names}. Pass --judge_prediction_column."
        )
    start = time.perf_counter()
    # a rerun starts from math-verify's verdict, not from a `correct` an earlier judge run already rewrote
    mv_source = CORRECT_MATH_VERIFY if CORRECT_MATH_VERIFY in dataset.column_names else CORRECT
    mv = _column(dataset, mv_source)
    errors = _column(dataset, VERIFY_ERROR)
    predicted = _column(dataset, config.judge_prediction_column)
    finish = _column(dataset, "finish_reason")
    golds = _column(dataset, config.judge_answer_column)
    problems = _column(dataset, config.judge_problem_column)
    need_text = [not (p or "").strip() for p in predicted]
    finals = _column(dataset, "final") if any(need_text) else [None] * len(dataset)
    completions = (
        _column(dataset, "completion")
        if any(need_text) and "final" not in dataset.column_names
        else [None] * len(dataset)
    )

    stats = JudgeStats(rows=len(dataset), policy=config.judge_policy)
    skipped: Counter = Counter()
    questions: dict[tuple[str, str, str], list[int]] = {}
    for i in range(len(dataset)):
        response = judge_response_text(predicted[i], finals[i], completions[i], config.judge_response_chars)
        reason = judge_reason(mv[i], errors[i], predicted[i], finish[i], golds[i], response, config)
        if reason == "not_needed":
            stats.not_needed += 1
        elif reason is not None:
            skipped[reason] += 1
        else:
            questions.setdefault((str(problems[i] or ""), str(golds[i]).strip(), response), []).append(i)
    stats.skipped = dict(skipped)

    replies: list[str | None] = [None] * len(dataset)
    with JudgeClient(config, teacher) as client:  # builds the judge only when a question needs it
        answers = client.ask([answer_match_prompt(config, *question) for question in questions])
    for rows, answer in zip(questions.values(), answers, strict=True):
        for i in rows:
            replies[i] = answer.text
    verdicts = [parse_judge_reply(r) for r in replies]
    final = [apply_policy(m, j, config.judge_policy) for m, j in zip(mv, verdicts, strict=True)]

    sent = [r is not None for r in replies]
    stats.sent = sum(sent)
    stats.requests = len(questions)
    stats.yes = sum(v is True for v in verdicts)
    stats.no = sum(v is False for v in verdicts)
    stats.undecided = sum(s and v is None for s, v in zip(sent, verdicts, strict=True))
    stats.changed = sum(a != b for a, b in zip(mv, final, strict=True))

    out = dataset.remove_columns([c for c in (CORRECT, *JUDGE_COLUMNS) if c in dataset.column_names])
    out = out.add_column(CORRECT, pa.array(final, type=pa.bool_()), feature=Value("bool"))
    out = out.add_column(CORRECT_MATH_VERIFY, pa.array(mv, type=pa.bool_()), feature=Value("bool"))
    out = out.add_column(CORRECT_JUDGE, pa.array(verdicts, type=pa.bool_()), feature=Value("bool"))
    out = out.add_column(JUDGE_REPLY, pa.array(replies, type=pa.string()), feature=Value("string"))
    stats.seconds = time.perf_counter() - start
    return keep_every_row(out, "judge", stats)


def apply_judge_policy(dataset: Dataset, policy: str) -> Dataset:
    """Recompute `correct` from `correct_math_verify` and `correct_judge` under another policy (no judge calls)."""
    require_columns(
        dataset.column_names,
        [CORRECT_MATH_VERIFY, CORRECT_JUDGE],
        what="apply_judge_policy",
        fix="Run judge_traces first (`openr1-data judge`).",
    )
    final = [
        apply_policy(m, j, policy)
        for m, j in zip(_column(dataset, CORRECT_MATH_VERIFY), _column(dataset, CORRECT_JUDGE), strict=True)
    ]
    out = dataset.remove_columns([CORRECT]) if CORRECT in dataset.column_names else dataset
    return out.add_column(CORRECT, pa.array(final, type=pa.bool_()), feature=Value("bool"))
