"""The code a completion gives as its answer: the last fenced Python block (the `r1_code` style's rule)."""

from __future__ import annotations

import re

# An opening fence with an optional language tag, the code, and a closing fence on a line of its own (or at the
# very end). A fence left open (a generation cut by the token limit) is no answer.
_FENCE = re.compile(r"^[ \t]*```[ \t]*([A-Za-z0-9_+.-]*)[^\n]*\n(.*?)^[ \t]*```", re.DOTALL | re.MULTILINE)
PYTHON_TAGS = frozenset({"", "python", "py", "python3", "py3"})


def code_blocks(text: str) -> list[tuple[str, str]]:
    """(language tag in lower case, code) of every closed fenced block, in order."""
    return [(m.group(1).lower(), m.group(2)) for m in _FENCE.finditer(text or "")]


def last_code_block(text: str | None) -> str | None:
    """The last closed fenced block tagged python (or untagged), without its fences; None when there is none or it
    is empty."""
    blocks = [code for tag, code in code_blocks(text or "") if tag in PYTHON_TAGS]
    if not blocks or not blocks[-1].strip():
        return None
    return blocks[-1].rstrip() + "\n"
