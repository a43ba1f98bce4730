"""Rewards a model gives: an LLM judge's rating (`llm_judge`), a trained process reward model's step scores (`prm`)
and the RLT teacher reward scored by a student (`rlt`). Their models load at the first call, not at import.
"""

from __future__ import annotations

import json
import logging
import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from openr1_data.train.rewards.base import Reward, RewardFn, per_row, prompt_texts, row_styles
from openr1_data.verdicts import TraceView, Verdict, judge_rubric_score

logger = logging.getLogger(__name__)

# The judge stage's own yes/no question (curate/llm_judge.py) as the `llm_judge` reward's prompt.
ANSWER_MATCH = "answer_match"


class LLMJudgeReward(Reward):
    """A judge model rates each completion, for tasks no rule can verify (a summary, an explanation): the rubric
    prompt style (`judge_rubric`, or any style whose parser is "score") asks for a 0-10 score, read strictly
    (`parse_score`: anything but a number is None, which TRL skips); the reward is score / 10.

    Built on the judge stage (`curate/llm_judge.py`): the same `JudgeConfig` fields and `JudgeClient`, so any
    teacher backend can judge (an OpenAI-compatible server, transformers, vLLM). `judge_prompt_style="answer_match"`
    asks the stage's own question instead (does the final answer match the gold? yes 1.0 / no 0.0 / undecided
    None), with the same answer hand-off and reply parser as curation. The judge sees the part of the completion
    after its think block. Replies are cached per (prompt, completion) for the run, and the cost is logged: judge
    requests, cache hits, reply tokens and undecided replies (`llm_judge/*` metrics in TRL, and this logger).
    """

    name = "llm_judge"

    def __init__(
        self,
        style: str = "r1",
        judge_model: str | None = None,
        judge_backend: str = "openai",
        judge_base_url: str = "http://127.0.0.1:8000/v1",
        judge_api_key_env: str = "OPENAI_API_KEY",
        judge_max_concurrency: int = 16,
        judge_device: str = "cpu",
        judge_prompt_style: str = "judge_rubric",
        judge_rubric: str | None = None,
        judge_max_new_tokens: int = 8,
        judge_seed: int = 0,
        judge_batch_size: int = 64,
        judge_cache_size: int = 100_000,
    ):
        super().__init__(style)
        from openr1_data.curate.llm_judge import JudgeClient, JudgeConfig
        from openr1_data.prompts.styles import DEFAULT_RUBRIC, get_style

        if not judge_model:
            raise ValueError(
                "the llm_judge reward needs a judge: pass judge_model in --reward_params (as served, or a folder)"
            )
        if judge_prompt_style != ANSWER_MATCH and get_style(judge_prompt_style).parser != "score":
            raise ValueError(
                f"judge_prompt_style {judge_prompt_style!r} does not parse scores: use 'judge_rubric' (or a style "
                f"whose parser is 'score'), or {ANSWER_MATCH!r} for the judge stage's yes/no answer question"
            )
        self.judge_config = JudgeConfig(
            judge_backend=judge_backend,
            judge_model=judge_model,
            judge_base_url=judge_base_url,
            judge_api_key_env=judge_api_key_env,
            judge_max_concurrency=judge_max_concurrency,
            judge_device=judge_device,
            judge_max_new_tokens=judge_max_new_tokens,
            judge_seed=judge_seed,
            judge_batch_size=judge_batch_size,
            judge_progress=False,
        )
        self.judge_prompt_style = judge_prompt_style
        self.judge_rubric = judge_rubric or DEFAULT_RUBRIC
        if judge_cache_size < 0:
            raise ValueError(f"judge_cache_size must be >= 0, got {judge_cache_size}")
        self.judge_cache_size = judge_cache_size
        self.cost = {"requests": 0, "cache_hits": 0, "reply_tokens": 0, "undecided": 0}
        self._client = JudgeClient(self.judge_config)
        self._cache: OrderedDict[str, tuple[float | None, str | None]] = OrderedDict()

    def __getstate__(self) -> dict:  # the copy's client opens its own judge; the cache starts empty
        state = dict(self.__dict__)
        state["_cache"] = OrderedDict()
        return state

    def close(self) -> None:
        """Close the judge backend (a later call opens it again)."""
        self._client.close()

    def _messages(self, prompt: str, view: TraceView, row: dict[str, Any]) -> list[dict[str, str]] | None:
        """The judge's chat prompt for one completion, or None when the row cannot be judged."""
        response = (view.parsed.final or "").strip()
        if self.judge_prompt_style == ANSWER_MATCH:
            from openr1_data.curate.llm_judge import answer_match_prompt, judge_response_text

            if not view.gold:
                return None
            answer = judge_response_text(
                view.parsed.predicted_answer, view.parsed.final, None, self.judge_config.judge_response_chars
            )
            return answer_match_prompt(self.judge_config, prompt, view.gold, answer)
        from openr1_data.prompts import get_style

        rubric = row.get("rubric") or self.judge_rubric
        return get_style(self.judge_prompt_style).build(
            {"prompt": prompt, "completion": response, "rubric": rubric}
        )

    def _verdict(self, reply: str) -> tuple[float | None, str | None]:
        if self.judge_prompt_style == ANSWER_MATCH:
            from openr1_data.curate.llm_judge import parse_judge_reply

            verdict = parse_judge_reply(reply)
            return (None, "judge_undecided") if verdict is None else (float(verdict), None)
        from openr1_data.prompts.styles import RUBRIC_MAX_SCORE, get_style

        judgement = judge_rubric_score(get_style(self.judge_prompt_style).parse(reply, {}), RUBRIC_MAX_SCORE)
        return judgement.score, judgement.reason

    def judge(self, completions: Sequence[Any], **columns: Any) -> list[Verdict]:
        views = self.views(completions, columns)
        prompts = prompt_texts(columns, len(views))
        rows = [{k: v[i] for k, v in columns.items() if per_row(v, len(views))} for i in range(len(views))]
        keys: list[str | None] = []
        asked: dict[str, list[dict[str, str]]] = {}
        known: dict[str, tuple[float | None, str | None]] = {}  # this call's verdicts (the LRU may evict)
        hits = 0
        for prompt, view, row in zip(prompts, views, rows, strict=True):
            messages = self._messages(prompt, view, row) if (view.parsed.final or "").strip() else None
            key = None if messages is None else json.dumps(messages, ensure_ascii=False)
            keys.append(key)
            if key is None:
                continue
            if key in asked or key in known:  # a repeat within this call
                hits += 1
            elif key in self._cache:
                self._cache.move_to_end(key)
                known[key] = self._cache[key]
                hits += 1
            else:
                asked[key] = messages  # type: ignore[assignment]
        start = time.perf_counter()
        fresh, tokens = self._ask(asked)
        known.update(fresh)
        undecided = sum(1 for verdict in fresh.values() if verdict[0] is None)
        self.cost["requests"] += len(asked)
        self.cost["cache_hits"] += hits
        self.cost["reply_tokens"] += tokens
        self.cost["undecided"] += undecided
        log_metric = columns.get("log_metric")
        if callable(log_metric):
            for name, value in (("requests", len(asked)), ("cache_hits", hits), ("reply_tokens", tokens)):
                log_metric(f"llm_judge/{name}", float(value))
            log_metric("llm_judge/undecided", float(undecided))
        if asked:
            logger.info(
                "llm_judge: %d judge requests (%d cached, %d reply tokens, %d undecided) in %.1fs; run total %s",
                len(asked), hits, tokens, undecided, time.perf_counter() - start, self.cost,
            )  # fmt: skip
        out = []
        for key in keys:
            if key is None:
                out.append(Verdict(None, "nothing_to_judge"))
            else:
                out.append(Verdict(*known[key]))
        return out

    def _ask(
        self, asked: dict[str, list[dict[str, str]]]
    ) -> tuple[dict[str, tuple[float | None, str | None]], int]:
        """Send the judge every new question once (`JudgeClient`: in batches); cache the verdicts. Returns them and
        the reply tokens."""
        verdicts: dict[str, tuple[float | None, str | None]] = {}
        tokens = 0
        for key, completion in zip(asked, self._client.ask(list(asked.values())), strict=True):
            tokens += completion.completion_tokens
            verdicts[key] = self._cache[key] = self._verdict(completion.text)
            if len(self._cache) > self.judge_cache_size:
                self._cache.popitem(last=False)
        return verdicts, tokens


RLT_REWARD = "rlt"


def rlt_reward(rlt_config: Any = None) -> RewardFn:
    """The RLT teacher reward (`curate/rlt_scoring.py`), scored by a student model; `rlt_config` is its
    `RLTRewardConfig` (train/grpo.py parses it from `--rlt_*` flags and binds the teacher after building the
    trainer). Imported only when asked for: it loads torch and the student."""
    if rlt_config is None:
        raise ValueError("the rlt reward needs its config (--rlt_student_model ...)")
    from openr1_data.curate.rlt_scoring import make_rlt_reward

    return make_rlt_reward(rlt_config)


class PRMReward(Reward):
    """A trained process reward model's score of each completion (`curate/prm_scoring.py`): P(correct) of every
    reasoning step, aggregated by `prm_aggregate` (min or prod). The PRM is loaded at the first call."""

    name = "prm"

    def __init__(
        self,
        style: str = "r1",
        prm_model: str | None = None,
        prm_aggregate: str = "min",
        prm_device: str = "cpu",
        prm_batch_size: int = 8,
    ):
        super().__init__(style)
        from openr1_data.curate.prm_scoring import AGGREGATES, PRMScorer

        if not prm_model:
            raise ValueError("the prm reward needs a trained PRM: reward_params {prm_model: path/to/prm}")
        if prm_aggregate not in AGGREGATES:
            raise ValueError(f"prm_aggregate must be one of {list(AGGREGATES)}, got {prm_aggregate!r}")
        self.prm_model, self.prm_aggregate = prm_model, prm_aggregate
        self._scorer = PRMScorer(prm_model, device=prm_device, batch_size=prm_batch_size)

    def judge(self, completions: Sequence[Any], **columns: Any) -> list[Verdict]:
        from openr1_data.curate.prm_scoring import aggregate
        from openr1_data.curate.steps import view_steps

        n = len(completions)
        problems = columns.get("problem")
        prompts = list(problems) if isinstance(problems, list | tuple) and len(problems) == n else None
        prompts = prompts or prompt_texts(columns, n)
        styles = row_styles(columns, n, self.style)
        views = self.views(completions, columns)
        steps = [view_steps(v, s).texts() for v, s in zip(views, styles, strict=True)]
        scores = self._scorer.score(prompts, steps)
        return [Verdict(aggregate(s, self.prm_aggregate)) for s in scores]
