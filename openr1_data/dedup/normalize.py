"""Text normalization shared by deduplication and decontamination.

Two views of a text:

- `normalize_text(text)`: a canonical string for exact matching. Unicode NFKC, LaTeX variants folded
  (`\\left(` -> `(`, `\\dfrac` -> `\\frac`, `\\text{..}` unwrapped, spacing commands and `$`/`\\(`/`\\[` math
  delimiters removed), thousands separators dropped, lowercase, whitespace around symbols removed and the rest
  collapsed. `3 + 4` and `$3+4$` agree; `3+4` and `3-4` do not.
- `words(text)`: the word tokens of the normalized text (runs of letters and digits; LaTeX command names become
  words, `\\frac` -> `frac`; each CJK character is a word of its own). Punctuation and operators are dropped, as in
  the GPT-3 contamination analysis, so spacing inside formulas never changes the words. Word n-grams for
  decontamination and word shingles for MinHash are built on these.

Bump `NORMALIZER_VERSION` whenever the output of either function changes: cached n-gram indexes are keyed by it.
"""

from __future__ import annotations

import re
import unicodedata
from itertools import chain

import numpy as np
import xxhash

NORMALIZER_VERSION = "2"

# `\left(`, `\right.`, `\bigl[` ...: sizing commands carry no meaning; `\left.`/`\right.` are invisible delimiters.
_SIZING = re.compile(r"\\(?:left|right|middle|[Bb]igg?[lr]?)(?![a-zA-Z])\s*(?:\.(?!\d))?")
# Style wrappers whose braces hold plain text: keep the text, drop the wrapper.
_WRAPPER = re.compile(
    r"\\(?:text|textrm|textnormal|textup|textbf|textit|textsf|texttt|mathrm|mathbf|mathit|mathsf|mathtt|"
    r"mathnormal|mbox|hbox|operatorname|boldsymbol|bm)\s*\{([^{}]*)\}"
)
# Command spellings with the same meaning.
_ALIASES = {
    "dfrac": "frac",
    "tfrac": "frac",
    "cfrac": "frac",
    "dbinom": "binom",
    "tbinom": "binom",
    "le": "leq",
    "leqslant": "leq",
    "ge": "geq",
    "geqslant": "geq",
    "ne": "neq",
    "lbrace": "{",
    "rbrace": "}",
    "lvert": "|",
    "rvert": "|",
    "vert": "|",
    "displaystyle": "",
    "textstyle": "",
    "scriptstyle": "",
    "limits": "",
    "nolimits": "",
    "quad": " ",
    "qquad": " ",
}
_COMMAND = re.compile(r"\\(" + "|".join(sorted(_ALIASES, key=len, reverse=True)) + r")(?![a-zA-Z])")
# Spacing commands and math delimiters become spaces: `\,` `\;` `\:` `\!` `\ ` `\$` `\(` `\)` `\[` `\]`, then
# `$` and `~`. Plain `str.replace` is several times faster than one regex with alternatives here.
_SPACING_COMMANDS = ("\\$", "\\(", "\\)", "\\[", "\\]", "\\,", "\\;", "\\:", "\\!", "\\ ")
# Thousands separators: `1,000`, `1{,}000`, `1\,000` (the last already a space here) -> `1000`.
_THOUSANDS = re.compile(r"(\d)(?:,|\{,\}| )(?=\d{3}(?!\d))")
# `x^{2}` -> `x^2`, `a_{n}` -> `a_n`.
_SINGLE_BRACE = re.compile(r"([_^])\{(\w)\}")
# Whitespace next to a symbol carries no meaning in a canonical form (`a + b` == `a+b`).
_SPACE_AROUND_SYMBOL = re.compile(r"\s+(?=[^\w\s])|(?<=[^\w\s])\s+")
_SPACES = re.compile(r"\s+")

# Word tokens: runs of letters/digits (no underscore), or one CJK character (those scripts do not use spaces).
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_WORD = re.compile(rf"[{_CJK}]|[^\W_{_CJK}]+")
_ASCII_WORD = re.compile(r"[a-z0-9]+")


def _fold_latex(text: str) -> str:
    text = _SIZING.sub("", text)
    # Unwrap nested wrappers from the inside out (`\text{\textbf{x}}`); two passes cover real text.
    for _ in range(2):
        unwrapped = _WRAPPER.sub(r" \1 ", text)
        if unwrapped == text:
            break
        text = unwrapped
    text = _COMMAND.sub(lambda m: _alias(m.group(1)), text)
    for command in _SPACING_COMMANDS:
        if command in text:
            text = text.replace(command, " ")
    if "\\%" in text:
        text = text.replace("\\%", "%")
    return text


def _alias(name: str) -> str:
    target = _ALIASES[name]
    # A replacement that is a command keeps its backslash; a symbol or a space replaces the whole command.
    return f"\\{target}" if target.isalpha() else target


def _base(text: str) -> str:
    # The steps both views share; `words` skips the whitespace/brace steps, which cannot change its tokens.
    # Lowercase first, so that an upper-cased problem (`\LEFT(`, `\DFRAC`) still has its LaTeX folded.
    text = unicodedata.normalize("NFKC", text).lower()
    if "\\" in text:
        text = _fold_latex(text)
    text = text.replace("$", " ").replace("~", " ")
    return _THOUSANDS.sub(r"\1", text)


def normalize_text(text: str) -> str:
    """The canonical form of `text` for exact matching (see the module docstring); '' for empty input."""
    if not text:
        return ""
    text = _SINGLE_BRACE.sub(r"\1\2", _base(text))
    text = _SPACE_AROUND_SYMBOL.sub("", text)
    return _SPACES.sub(" ", text).strip()


def words(text: str) -> list[str]:
    """The word tokens of `normalize_text(text)`: what n-grams and shingles are made of."""
    if not text:
        return []
    base = _base(text)
    # Same tokens as `_WORD` on ASCII text (already lowercase), with a much cheaper pattern.
    return _ASCII_WORD.findall(base) if base.isascii() else _WORD.findall(base)


# ---------------------------------------------------------------------------------------------------------------
# Hashing words and word n-grams (vectorised with numpy; shared by near-dup MinHash and decontamination)
# ---------------------------------------------------------------------------------------------------------------

_MASK64 = (1 << 64) - 1


def splitmix64(state: int) -> int:
    """One step of the SplitMix64 generator: a well-mixed 64-bit value from any 64-bit state (pure Python)."""
    z = (state + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def odd_constants(count: int, seed: int) -> np.ndarray:
    """`count` odd 64-bit multipliers derived from `seed` (pure Python, so identical on every numpy version)."""
    values, state = [], seed & _MASK64
    for _ in range(count):
        state = splitmix64(state)
        values.append(state | 1)
    return np.array(values, dtype=np.uint64)


def mix64(h: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser applied elementwise to a uint64 array (in place on a copy)."""
    h = h.copy()
    h ^= h >> np.uint64(30)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(27)
    h *= np.uint64(0x94D049BB133111EB)
    h ^= h >> np.uint64(31)
    return h


def hash_words_joined(tokens: list[str]) -> int:
    """A 64-bit hash of a whole word sequence (used when a text is shorter than the n-gram size)."""
    return xxhash.xxh3_64_intdigest("\x1f".join(tokens).encode("utf-8"))


class WordHasher:
    """Deterministic 64-bit hashes of words (xxh3 of the UTF-8 bytes), for whole batches at once.

    Each new word gets a dense id and its hash goes into a numpy table, so hashing a batch is one dict lookup
    per word (in C, through `map`) plus one numpy gather. The vocabulary is capped: past `max_words` it starts
    afresh (hashes do not depend on it).
    """

    def __init__(self, max_words: int = 5_000_000):
        self._ids: dict[str, int] = {}
        self._table = np.zeros(4096, dtype=np.uint64)
        self._max_words = max_words

    def _add(self, tokens: list[str]) -> None:
        ids = self._ids
        new = list(set(tokens).difference(ids))
        if len(ids) + len(new) > self._max_words:
            ids.clear()
            new = list(set(tokens))
        start = len(ids)
        needed = start + len(new)
        if needed > self._table.size:
            grown = np.zeros(max(needed, 2 * self._table.size), dtype=np.uint64)
            grown[:start] = self._table[:start]
            self._table = grown
        self._table[start:needed] = np.array(
            [xxhash.xxh3_64_intdigest(t.encode("utf-8")) for t in new], dtype=np.uint64
        )
        ids.update(zip(new, range(start, needed), strict=True))

    def hash_batch(self, token_lists: list[list[str]]) -> tuple[np.ndarray, np.ndarray]:
        """`(flat word hashes uint64, words per list int64)` for a batch of token lists."""
        lengths = np.fromiter(map(len, token_lists), dtype=np.int64, count=len(token_lists))
        tokens = list(chain.from_iterable(token_lists))
        try:
            ids = list(map(self._ids.__getitem__, tokens))
        except KeyError:
            self._add(tokens)
            ids = list(map(self._ids.__getitem__, tokens))
        return self._table[np.array(ids, dtype=np.int64)], lengths


def ngram_hashes(flat: np.ndarray, lengths: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hashes of every word n-gram of a batch of documents, vectorised.

    `flat` is the concatenation of the documents' word hashes (uint64) and `lengths` the number of words of each
    document. Returns `(hashes, doc, position)`: one entry per n-gram that lies inside one document (documents
    shorter than `n` contribute none), in document order. The n-gram hash is a random linear combination of its
    word hashes (mod 2^64) passed through a finaliser, so equal n-grams always agree and different ones collide
    with probability about 2^-64.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    total = int(flat.size)
    count = total - n + 1
    if count <= 0:
        empty = np.zeros(0, dtype=np.int64)
        return np.zeros(0, dtype=np.uint64), empty, empty
    multipliers = _NGRAM_MULTIPLIERS.get(n)
    if multipliers is None:
        multipliers = _NGRAM_MULTIPLIERS.setdefault(n, odd_constants(n, seed=0x5EED0000 + n))
    acc = flat[:count] * multipliers[0]
    for k in range(1, n):
        acc += flat[k : k + count] * multipliers[k]
    ends = np.cumsum(lengths)
    starts = ends - lengths
    doc_of = np.repeat(np.arange(lengths.size, dtype=np.int64), lengths)[:count]
    positions = np.arange(count, dtype=np.int64) - starts[doc_of]
    inside = positions + n <= lengths[doc_of]
    return mix64(acc[inside]), doc_of[inside], positions[inside]


_NGRAM_MULTIPLIERS: dict[int, np.ndarray] = {}
