"""The math answer check: math-verify with caches and timeouts, shared by the verify stage and the rewards.

`AnswerVerifier.check(gold, predicted, final)` compares gold first; an unparseable gold gives None (never True);
parsed values are cached by text so each gold is parsed once; math-verify's signal-based timeouts guard every
parse and comparison (they need the main thread of a process, so `verify.py` runs rows in worker processes).
A timeout is never cached: it says how busy the machine was, not what the text is, so the next call tries again.
Which `\\boxed{}` answers count is decided before this module (`text.final_answer`, used by the style parsers).
The verdict names (`GOLD_MISSING`, `NO_ANSWER`, ...) live in `openr1_data.verdicts`.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from openr1_data.curate.text_answers import is_prose, same_text, text_gold
from openr1_data.verdicts import (
    ANSWER_UNPARSEABLE,
    GOLD_MISSING,
    GOLD_TIMEOUT,
    GOLD_UNPARSEABLE,
    NO_ANSWER,
    TIMEOUT,
)

DEFAULT_TIMEOUT_SECONDS = 5
DEFAULT_FALLBACK_CHARS = 1000


@dataclass(frozen=True)
class AnswerOptions:
    """How answers are compared (shared by the verify stage and the accuracy-based rewards)."""

    timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS
    fallback_to_final: bool = True
    fallback_chars: int = DEFAULT_FALLBACK_CHARS
    missing_answer_is_wrong: bool = True
    float_rounding: int = 6
    numeric_precision: int = 15
    strict: bool = True
    allow_set_relation_comp: bool = False

    def __post_init__(self) -> None:
        # math-verify arms signal.alarm(int): a float or a value < 1 silently disables or breaks the timeout.
        if not isinstance(self.timeout_seconds, int) or self.timeout_seconds < 1:
            raise ValueError(
                f"timeout_seconds must be a whole number of seconds >= 1, got {self.timeout_seconds!r}"
            )


class _LRU(OrderedDict):
    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def lookup(self, key: Any) -> Any:
        value = self.get(key)
        if value is not None:
            self.move_to_end(key)  # recently used: evicted last
        return value

    def put(self, key: Any, value: Any) -> None:
        self[key] = value
        if len(self) > self.size:
            self.popitem(last=False)


@dataclass
class VerifierStats:
    """Work counters: how many parses and comparisons really ran, and how many came from the caches."""

    parses: int = 0
    parse_cache_hits: int = 0
    comparisons: int = 0
    pair_cache_hits: int = 0
    timeouts: int = 0

    def add(self, other: VerifierStats) -> None:
        for name in ("parses", "parse_cache_hits", "comparisons", "pair_cache_hits", "timeouts"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class AnswerVerifier:
    """math-verify with caches: `check(gold, predicted, final) -> (correct, error)`.

    Gold and predicted answers are bare answers (`\\boxed{}` contents), parsed the same way (wrapped in `$...$`),
    so one cache serves both: a gold is parsed once however many traces share it, and a predicted answer equal to
    the gold (or to another sample's answer) costs nothing. Verdicts of (gold, answer) pairs are cached too.
    """

    options: AnswerOptions = field(default_factory=AnswerOptions)
    cache_size: int = 8192
    stats: VerifierStats = field(default_factory=VerifierStats)

    def __post_init__(self) -> None:
        self._parsed = _LRU(self.cache_size)
        self._pairs = _LRU(self.cache_size)

    def __getstate__(self) -> dict:  # caches hold sympy objects: not worth shipping to another process
        state = dict(self.__dict__)
        state.pop("_parsed", None)
        state.pop("_pairs", None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.__post_init__()

    def _timeout(self) -> int | None:
        # Signals only work in the main thread; elsewhere math-verify would raise, so run without its alarm.
        # (verify.py never calls this off the main thread: it hands such calls to worker processes.)
        return self.options.timeout_seconds if threading.current_thread() is threading.main_thread() else None

    def _parse(self, text: str, *, anchored: bool) -> tuple[list | None, str | None]:
        key = (anchored, text)
        hit = self._parsed.lookup(key)
        if hit is not None:
            self.stats.parse_cache_hits += 1
            return hit
        result = self._parse_uncached(text, anchored=anchored)
        if result[1] != TIMEOUT:  # a timeout under load must not make this text unparseable for the whole run
            self._parsed.put(key, result)
        return result

    def _parse_uncached(self, text: str, *, anchored: bool) -> tuple[list | None, str | None]:
        from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse
        from math_verify.errors import TimeoutException

        self.stats.parses += 1
        if anchored:
            # Free text: only an answer the text announces (boxed, "the final answer is ..."), not any number.
            config = [
                LatexExtractionConfig(try_extract_without_anchor=False, boxed_match_priority=0),
                ExprExtractionConfig(try_extract_without_anchor=False),
            ]
            target = text
        else:
            config = [LatexExtractionConfig(), ExprExtractionConfig()]
            target = f"${text}$"
        try:
            with _fast_parsing():
                parsed = parse(
                    target,
                    extraction_config=config,
                    parsing_timeout=self._timeout(),  # pyright: ignore[reportArgumentType] (None: no alarm, as math-verify documents)
                    raise_on_error=True,
                )
        except TimeoutException:
            self.stats.timeouts += 1
            return None, TIMEOUT
        except Exception:  # a malformed expression math-verify could not handle: unparseable, not fatal
            return [], None
        return parsed, None

    def _compare(self, gold: list, answer: list) -> bool | None:
        """Any (gold, answer) candidate pair equal, as math-verify's `verify` (gold first); None on timeout."""
        from math_verify import verify
        from math_verify.errors import TimeoutException

        timed_out = False
        for g in gold:
            for a in answer:
                self.stats.comparisons += 1
                try:
                    if verify(
                        g,
                        a,
                        float_rounding=self.options.float_rounding,
                        numeric_precision=self.options.numeric_precision,
                        strict=self.options.strict,
                        allow_set_relation_comp=self.options.allow_set_relation_comp,
                        timeout_seconds=self._timeout(),
                        raise_on_error=True,
                    ):
                        return True
                except TimeoutException:
                    self.stats.timeouts += 1
                    timed_out = True
                except Exception:
                    continue  # math-verify's own default: a comparison that errors is "not equal"
        return None if timed_out else False

    def _missing(self, reason: str) -> tuple[bool | None, str]:
        return (False if self.options.missing_answer_is_wrong else None), reason

    def _check_text(self, gold: str, predicted: str | None) -> tuple[bool | None, str | None]:
        """A gold in words: the same words are right, other words wrong, math cannot be compared with it."""
        pred_text = (predicted or "").strip()
        if not pred_text:
            return self._missing(NO_ANSWER)
        if same_text(gold, pred_text):
            return True, None
        return (False, None) if is_prose(pred_text) else (None, GOLD_UNPARSEABLE)

    def check(
        self, gold: Any, predicted: str | None, final: str | None = None
    ) -> tuple[bool | None, str | None]:
        """Compare one answer with its gold: (True/False, None) or (None, why) or (False, why it is wrong).

        - gold missing / unparseable / timed out -> None (an unparseable gold is never "correct");
        - a gold in words (`text_answers.text_gold`: "yes", "forty two") is compared as text: the same words
          True, other words False, a math answer None ("gold_unparseable": math cannot read the gold);
        - no predicted answer: parse the last `fallback_chars` of `final` for an announced answer, if enabled;
          still nothing -> "no_answer" (False, or None when `missing_answer_is_wrong` is off);
        - a comparison that times out -> None, "timeout".
        """
        gold_text = "" if gold is None else str(gold).strip()
        if not gold_text:
            return None, GOLD_MISSING
        if text_gold(gold_text):
            return self._check_text(gold_text, predicted)
        gold_parsed, error = self._parse(gold_text, anchored=False)
        if error or gold_parsed is None:
            return None, GOLD_TIMEOUT
        if not any(not isinstance(g, str) for g in gold_parsed):
            return None, GOLD_UNPARSEABLE  # only string fallbacks: math-verify could not read it as math
        pred_text = (predicted or "").strip()
        anchored = False
        if not pred_text:
            tail = (
                (final or "")[-self.options.fallback_chars :].strip()
                if self.options.fallback_to_final
                else ""
            )
            if not tail:
                return self._missing(NO_ANSWER)
            pred_text, anchored = tail, True
        pair_key = (gold_text, anchored, pred_text)
        hit = self._pairs.lookup(pair_key)
        if hit is not None:
            self.stats.pair_cache_hits += 1
            return hit
        answer_parsed, error = self._parse(pred_text, anchored=anchored)
        if error:
            result: tuple[bool | None, str | None] = (None, TIMEOUT)
        elif not answer_parsed:
            result = self._missing(NO_ANSWER if anchored else ANSWER_UNPARSEABLE)
        else:
            verdict = self._compare(gold_parsed, answer_parsed)
            result = (None, TIMEOUT) if verdict is None else (verdict, None)
        if result[1] != TIMEOUT:
            self._pairs.put(pair_key, result)
        return result


# Faster math-verify parsing, same results. Both changes are active only inside `AnswerVerifier` parses (a
# thread-local flag), so other math-verify users in the process keep the stock behaviour; if math-verify's parser
# is laid out differently they are simply not installed. tests/test_verify.py compares against stock parsing.
# 1. ANTLR two-stage parsing. latex2sympy parses its grammar in full-LL prediction mode, which spends most of its
#    time in context-sensitive closures. ANTLR documents that SLL mode either returns exactly the tree LL would or
#    reports a syntax error, and latex2sympy raises on any syntax error: so try SLL, and on an exception parse
#    again the stock way. About 3x faster LaTeX parsing.
# 2. Integer literals. Both parsers build numbers with `sympy.Number("123")`, which goes through `sympify` and
#    `parse_expr` (about 0.35 ms each, it rebuilds a namespace with `from sympy import *`); for a plain digit
#    string that is exactly `sympy.Integer(123)` (a few microseconds).
_FAST = threading.local()


def _install_fast_parsing() -> None:
    try:
        import latex2sympy2_extended.latex2sympy2 as l2s
        import math_verify.parser as mv_parser
        import sympy
        from antlr4.atn.PredictionMode import PredictionMode
    except ImportError:
        return
    cls = getattr(l2s, "_Latex2Sympy", None)
    if cls is None or getattr(cls, "_openr1_fast", False):
        return
    stock_create, stock_parse, stock_number = cls.create_parser, cls.parse, sympy.Number
    stock_parse_number = getattr(cls, "parse_number", None)

    def create_parser(self, latex_str):
        parser = stock_create(self, latex_str)
        if getattr(_FAST, "sll", False):
            parser._interp.predictionMode = PredictionMode.SLL
        return parser

    def parse(self, latex_str):
        if not getattr(_FAST, "enabled", False):
            return stock_parse(self, latex_str)
        _FAST.sll = True
        try:
            return stock_parse(self, latex_str)
        except Exception:
            pass  # a syntax error in SLL mode (or a real one): stage two decides, exactly as before
        finally:
            _FAST.sll = False
        return stock_parse(self, latex_str)

    def number(value, *args, **kwargs):
        if (
            not args
            and not kwargs
            and getattr(_FAST, "enabled", False)
            and isinstance(value, str)
            and 0 < len(value) <= 1000
            and value.isascii()
            and value.isdigit()
            and (value == "0" or value[0] != "0")
        ):
            return sympy.Integer(int(value))
        return stock_number(value, *args, **kwargs)

    def parse_number(self, text):
        if getattr(_FAST, "enabled", False):
            digits = text.replace(",", "")  # what the stock method does first, then Number(digits)
            if 0 < len(digits) <= 1000 and digits.isascii() and digits.isdigit():
                return sympy.Integer(int(digits))  # int() drops leading zeros, as the stock method does
        return stock_parse_number(self, text)  # pyright: ignore[reportOptionalCall] (installed only when set)

    cls.create_parser, cls.parse = create_parser, parse
    if stock_parse_number is not None:
        cls.parse_number = parse_number
    for module in (l2s, mv_parser):
        if getattr(module, "Number", None) is stock_number:  # both do `from sympy import Number`
            setattr(module, "Number", number)  # noqa: B010 (a module attribute pyright cannot see)
    cls._openr1_fast = True


class _fast_parsing:
    """Context manager: math-verify parses inside it use the faster, equivalent paths."""

    def __enter__(self) -> None:
        _install_fast_parsing()
        _FAST.enabled = True

    def __exit__(self, *exc: object) -> None:
        _FAST.enabled = False
