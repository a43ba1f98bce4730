"""The RLT teacher reward (Sakana AI, "Reinforcement Learning Teachers of Test Time Scaling", 2025).

A teacher T sees a question q and its solution s and writes an explanation e. A student S scores it:

    r = Σᵢ aᵢ · redᵢ( log S(s_t | q, e, s_<t) )  −  Σⱼ kⱼ · redⱼ( log T(e_t | q, s, e_<t) − log S(e_t | q, e_<t) )

with reductions [mean, min] over the solution tokens (weights a = [1, 0.01]) and [mean, max] over the explanation
tokens (weights k = [3, 0.03]). The first term rewards explanations after which the student finds the solution
likely; the second keeps each explanation step likely for a student that has not seen the solution (the teacher may
not lean on knowledge the student lacks). Student log-probs use temperature 0.7 by default. A completion whose
explanation is not closed by `<|end_of_explanation|>` (or is empty) gets a fixed penalty (−1) instead.

Two entry points over one implementation: `RLTScorer.score(questions, solutions, explanations)` (a plain scoring
function, used for best-of-K selection of explanations) and `RLTReward` (a TRL reward function for GRPO teacher
training, `--reward_funcs rlt` in train/grpo.py). Everything runs batched under `torch.no_grad()`.

Token alignment: the explanation and the solution are tokenized on their own and spliced between the tokenized
pieces of the chat template, so teacher and student see the exact same explanation tokens (their tokenizers must
be the same).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from openr1_data.prompts import get_style
from openr1_data.prompts.styles import RLT_EXPLANATION_CLOSE, parse_rlt
from openr1_data.schema import ContractError

MISSING_TAGS = "missing_explanation_tags"
EMPTY_EXPLANATION = "empty_explanation"
_SENTINELS = ("@@RLT_EXPLANATION@@", "@@RLT_SOLUTION@@")


@dataclass
class RLTRewardConfig:
    """Parameters of the RLT reward (prefixed `rlt_` so they sit beside TRL's GRPO options on one command line)."""

    rlt_student_model: str | None = field(
        default=None,
        metadata={"help": "the student that scores explanations (local folder, Hub id or `smollm2`)"},
    )
    rlt_solution_weights: list[float] = field(
        default_factory=lambda: [1.0, 0.01],
        metadata={"help": "weights a of [mean, min] of the student's log-probs of the solution tokens"},
    )
    rlt_kl_weights: list[float] = field(
        default_factory=lambda: [3.0, 0.03],
        metadata={"help": "weights k of [mean, max] of log T − log S over the explanation tokens"},
    )
    rlt_student_temperature: float = field(
        default=0.7, metadata={"help": "temperature of the student's log-probs"}
    )
    rlt_teacher_temperature: float = field(
        default=1.0, metadata={"help": "temperature of the teacher's log-probs"}
    )
    rlt_missing_tags_penalty: float = field(
        default=-1.0, metadata={"help": "reward of a completion without a closed, non-empty explanation"}
    )
    rlt_batch_size: int = field(default=8, metadata={"help": "sequences per forward pass"})
    rlt_student_style: str | None = field(
        default=None,
        metadata={
            "help": "prompt style of the student's user message (e.g. r1); default: the question verbatim, "
            "as in the SFT export"
        },
    )

    def __post_init__(self) -> None:
        if len(self.rlt_solution_weights) != 2 or len(self.rlt_kl_weights) != 2:
            raise ValueError(
                "rlt_solution_weights are the weights of [mean, min] and rlt_kl_weights of [mean, max]: "
                f"two numbers each, got {self.rlt_solution_weights} and {self.rlt_kl_weights}"
            )
        if self.rlt_student_temperature <= 0 or self.rlt_teacher_temperature <= 0:
            raise ValueError("rlt temperatures must be > 0")


@dataclass
class RLTScore:
    """The reward of one explanation and the pieces it is made of (None where a penalty replaced them)."""

    reward: float
    solution_term: float | None = None  # Σ a_i red_i(student log-probs of the solution)
    kl_term: float | None = None  # Σ k_j red_j(log T − log S over the explanation); subtracted
    solution_logprob_mean: float | None = None
    solution_logprob_min: float | None = None
    kl_mean: float | None = None
    kl_max: float | None = None
    explanation_tokens: int = 0
    solution_tokens: int = 0
    issue: str | None = None


def extract_explanation(text: str, require_tags: bool = True) -> str | None:
    """The explanation in a teacher's output, or None when the tags are missing (or it is empty).

    Accepts the continuation after the pre-filled `<|begin_of_explanation|>` (what a backend returns) or a text that
    repeats the opening tag; the closing `<|end_of_explanation|>` is required unless `require_tags` is False.
    """
    # The same parser generation and the filters use, so the reward and the filters read one explanation.
    parsed = parse_rlt(text, {})
    if parsed.parse_issue == "unclosed_explanation" and require_tags:
        return None
    return parsed.reasoning or None


def reduce_terms(
    solution_logprobs: torch.Tensor,
    teacher_logprobs: torch.Tensor,
    student_explanation_logprobs: torch.Tensor,
    solution_weights: Sequence[float] = (1.0, 0.01),
    kl_weights: Sequence[float] = (3.0, 0.03),
) -> RLTScore:
    """The RLT formula over per-token log-probs (1-D tensors): the whole reward is this short pure function."""
    a_mean, a_min = solution_weights
    k_mean, k_max = kl_weights
    diff = teacher_logprobs - student_explanation_logprobs
    sol_mean, sol_min = solution_logprobs.mean().item(), solution_logprobs.min().item()
    kl_mean, kl_max = diff.mean().item(), diff.max().item()
    solution_term = a_mean * sol_mean + a_min * sol_min
    kl_term = k_mean * kl_mean + k_max * kl_max
    return RLTScore(
        reward=solution_term - kl_term,
        solution_term=solution_term,
        kl_term=kl_term,
        solution_logprob_mean=sol_mean,
        solution_logprob_min=sol_min,
        kl_mean=kl_mean,
        kl_max=kl_max,
        explanation_tokens=int(diff.numel()),
        solution_tokens=int(solution_logprobs.numel()),
    )


def _encode(tokenizer: Any, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


@torch.no_grad()
def span_logprobs(
    model: Any,
    sequences: Sequence[Sequence[int]],
    spans: Sequence[Sequence[tuple[int, int]]],
    *,
    temperature: float = 1.0,
    batch_size: int = 8,
    pad_token_id: int = 0,
) -> list[list[torch.Tensor]]:
    """Log-probs (at `temperature`) of the tokens `seq[start:end]` for every span of every sequence.

    Right-padded batches, one forward pass per batch, no gradients; the model's train/eval mode is restored.
    """
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out: list[list[torch.Tensor]] = []
    try:
        for b in range(0, len(sequences), batch_size):
            batch = sequences[b : b + batch_size]
            width = max(len(s) for s in batch)
            ids = torch.full((len(batch), width), pad_token_id, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for i, seq in enumerate(batch):
                ids[i, : len(seq)] = torch.tensor(seq, dtype=torch.long)
                mask[i, : len(seq)] = 1
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float()
            for i, seq_spans in enumerate(spans[b : b + batch_size]):
                row = []
                for start, end in seq_spans:
                    # token t is predicted by the logits at position t - 1
                    step = logits[i, start - 1 : end - 1] / temperature
                    target = ids[i, start:end].to(step.device)
                    row.append(torch.log_softmax(step, dim=-1).gather(-1, target[:, None])[:, 0].cpu())
                out.append(row)
    finally:
        model.train(was_training)
    return out


class RLTScorer:
    """Scores (question, solution, explanation) triples with a student and a teacher model (same tokenizer)."""

    def __init__(
        self,
        student: Any,
        tokenizer: Any,
        teacher: Any = None,
        teacher_tokenizer: Any = None,
        config: RLTRewardConfig | None = None,
    ):
        self.student, self.tokenizer = student, tokenizer
        self.config = config or RLTRewardConfig()
        self.teacher = self.teacher_tokenizer = None
        if teacher is not None:
            self.bind_teacher(teacher, teacher_tokenizer or tokenizer)
        self._student_style = (
            get_style(self.config.rlt_student_style) if self.config.rlt_student_style else None
        )

    @classmethod
    def from_pretrained(
        cls,
        student: str,
        teacher: str | None = None,
        *,
        device: str = "cpu",
        dtype: str | torch.dtype = torch.float32,
        config: RLTRewardConfig | None = None,
    ) -> RLTScorer:
        """Load the student (and teacher) from local folders, Hub ids or `smollm2`."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from openr1_data.teachers.transformers_backend import resolve_model

        def load(name: str) -> tuple[Any, Any]:
            path = resolve_model(name)[0]
            model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
            model = model.to(device)  # pyright: ignore[reportArgumentType]  # transformers' wrapped `to` drops self
            return model.eval(), AutoTokenizer.from_pretrained(path)

        s_model, s_tok = load(student)
        t_model, t_tok = load(teacher) if teacher else (None, None)
        return cls(s_model, s_tok, t_model, t_tok, config)

    def bind_teacher(self, teacher: Any, tokenizer: Any) -> None:
        """Use `teacher` for the KL term (in GRPO: the policy being trained, bound after the trainer is built)."""
        if tokenizer.get_vocab() != self.tokenizer.get_vocab():
            raise ValueError(
                "RLT compares teacher and student log-probs token by token: the teacher and the student need the "
                "same tokenizer (e.g. both from one model family)."
            )
        self.teacher, self.teacher_tokenizer = teacher, tokenizer

    # --- sequence building -------------------------------------------------------------------------------------

    def student_pieces(self, question: str) -> tuple[str, str]:
        """Text before the explanation and between explanation and solution in the student's chat turn."""
        user = (
            self._student_style.build({"problem": question})[-1]["content"]
            if self._student_style
            else question
        )
        content = f"<think>\n{_SENTINELS[0]}\n</think>\n\n{_SENTINELS[1]}"
        messages = [{"role": "user", "content": user}, {"role": "assistant", "content": content}]
        text = self.tokenizer.apply_chat_template(messages, tokenize=False)
        if _SENTINELS[0] not in text or _SENTINELS[1] not in text:
            raise ValueError(
                "the student's chat template drops the <think> block of assistant messages, so the student would "
                "never see the explanation: give the student a template that keeps it (e.g. ChatML)"
            )
        before, rest = text.split(_SENTINELS[0], 1)
        middle = rest.split(_SENTINELS[1], 1)[0]
        return before, middle

    def teacher_prompt(self, question: str, solution: str) -> str:
        """The teacher's context: the RLT prompt style with the solution pre-filled, up to the explanation."""
        messages = get_style("rlt").build({"problem": question, "solution": solution})
        tokenizer = self.teacher_tokenizer or self.tokenizer
        return tokenizer.apply_chat_template(messages, tokenize=False, continue_final_message=True)

    # --- scoring -----------------------------------------------------------------------------------------------

    def score(
        self,
        questions: Sequence[str],
        solutions: Sequence[str],
        explanations: Sequence[str],
        *,
        teacher_prompts: Sequence[str] | None = None,
        require_tags: bool = True,
    ) -> list[RLTScore]:
        """Score each triple. `explanations` are teacher outputs (see `extract_explanation`); `teacher_prompts`
        are the exact texts the teacher generated from (default: the RLT prompt style)."""
        if not len(questions) == len(solutions) == len(explanations):
            raise ValueError(
                f"{len(questions)} questions, {len(solutions)} solutions, {len(explanations)} explanations"
            )
        if self.teacher is None:
            raise ValueError(
                "the KL term needs the teacher: pass `teacher=` or call `bind_teacher(model, tok)`"
            )
        cfg = self.config
        scores: list[RLTScore | None] = [None] * len(questions)
        student_seqs, student_spans, teacher_seqs, teacher_spans, rows = [], [], [], [], []
        for i, (question, solution, raw) in enumerate(zip(questions, solutions, explanations, strict=True)):
            if not isinstance(solution, str) or not solution.strip():
                raise ContractError(f"RLT reward: row {i} has an empty `solution`; every row needs one")
            explanation = extract_explanation(raw or "", require_tags=require_tags)
            if explanation is None:
                closed = not require_tags or RLT_EXPLANATION_CLOSE in (raw or "")
                issue = EMPTY_EXPLANATION if closed else MISSING_TAGS
                scores[i] = RLTScore(reward=cfg.rlt_missing_tags_penalty, issue=issue)
                continue
            expl = _encode(self.tokenizer, explanation)
            sol = _encode(self.tokenizer, solution.strip())
            before, middle = self.student_pieces(question)
            prefix, mid = _encode(self.tokenizer, before), _encode(self.tokenizer, middle)
            e0 = len(prefix)
            s0 = e0 + len(expl) + len(mid)
            student_seqs.append(prefix + expl + mid + sol)
            student_spans.append([(e0, e0 + len(expl)), (s0, s0 + len(sol))])
            prompt = (
                teacher_prompts[i] if teacher_prompts is not None else self.teacher_prompt(question, solution)
            )
            t_prefix = _encode(self.teacher_tokenizer, prompt)
            teacher_seqs.append(t_prefix + expl)
            teacher_spans.append([(len(t_prefix), len(t_prefix) + len(expl))])
            rows.append(i)
        if rows:
            pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
            student_lp = span_logprobs(
                self.student, student_seqs, student_spans,
                temperature=cfg.rlt_student_temperature, batch_size=cfg.rlt_batch_size, pad_token_id=pad,
            )  # fmt: skip
            teacher_lp = span_logprobs(
                self.teacher, teacher_seqs, teacher_spans,
                temperature=cfg.rlt_teacher_temperature, batch_size=cfg.rlt_batch_size, pad_token_id=pad,
            )  # fmt: skip
            for i, (s_expl, s_sol), (t_expl,) in zip(rows, student_lp, teacher_lp, strict=True):
                scores[i] = reduce_terms(s_sol, t_expl, s_expl, cfg.rlt_solution_weights, cfg.rlt_kl_weights)
        return [s for s in scores if s is not None]


class RLTReward:
    """TRL reward function: `fn(prompts, completions, problem, solution, **kw) -> list[float]`.

    The teacher is the GRPO policy: train/grpo.py binds it after building the trainer (`bind_teacher`), so the KL
    term always uses the current teacher. Each call also logs the mean of both terms (`rlt/solution_term`,
    `rlt/kl_term`) and the share of completions penalised for missing tags.
    """

    __name__ = "rlt"

    def __init__(self, scorer: RLTScorer):
        self.scorer = scorer

    def bind_teacher(self, model: Any, tokenizer: Any) -> None:
        self.scorer.bind_teacher(model, tokenizer)

    def __call__(
        self,
        prompts: Sequence[Any],
        completions: Sequence[Any],
        problem: Sequence[str] | None = None,
        solution: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> list[float]:
        if problem is None or solution is None:
            raise ContractError(
                "the rlt reward needs `problem` and `solution` columns in the GRPO dataset (use --prompt_style rlt "
                "on question + solution pairs)"
            )
        texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
        # Text prompts are exactly what the teacher generated from; chat prompts are re-rendered by the style.
        teacher_prompts = list(prompts) if prompts and isinstance(prompts[0], str) else None
        scores = self.scorer.score(problem, solution, texts, teacher_prompts=teacher_prompts)
        log_metric = kwargs.get("log_metric")
        if callable(log_metric):
            # Unpenalised scores carry both terms (a penalty leaves them None).
            terms = [
                (s.solution_term, s.kl_term)
                for s in scores
                if s.issue is None and s.solution_term is not None and s.kl_term is not None
            ]
            if terms:
                log_metric("rlt/solution_term", sum(sol for sol, _ in terms) / len(terms))
                log_metric("rlt/kl_term", sum(kl for _, kl in terms) / len(terms))
            log_metric("rlt/penalised", sum(s.issue is not None for s in scores) / max(1, len(scores)))
        return [s.reward for s in scores]


def make_rlt_reward(config: RLTRewardConfig, teacher: Any = None, teacher_tokenizer: Any = None) -> RLTReward:
    """Build the TRL reward from a config (loads the student); bind the teacher now or later."""
    if not config.rlt_student_model:
        raise ValueError(
            "the rlt reward needs a student: pass --rlt_student_model (a folder, Hub id or smollm2)"
        )
    scorer = RLTScorer.from_pretrained(config.rlt_student_model, config=config)
    if teacher is not None:
        scorer.bind_teacher(teacher, teacher_tokenizer or scorer.tokenizer)
    return RLTReward(scorer)
