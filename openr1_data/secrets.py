"""Keep Hugging Face tokens out of everything publishing writes (cards, configs, logs).

Provenance records the exact command line, and a user may have typed `--token hf_...` into it; the card and the
pipeline config are public files, so every text publishing writes goes through `redact`.
"""

from __future__ import annotations

import os
import re

REDACTED = "<redacted>"
# User access tokens look like hf_ + 30+ alphanumerics; API/OAuth tokens (api_..., hf_oauth_...) are similar.
_TOKEN_PATTERN = re.compile(r"\b(?:hf|api|hf_oauth)_[A-Za-z0-9]{20,}\b")
# `--token X`, `--hub-token=X`, `--hub_token X`, `HF_TOKEN=X` on a command line.
_FLAG_PATTERN = re.compile(r"(--(?:hub[-_])?token(?:=|\s+)|\bHF_TOKEN=|\bHUGGING_FACE_HUB_TOKEN=)(\S+)")


def known_tokens() -> list[str]:
    """Token values this process could use: the environment and the token `hf auth login` saved."""
    values = [os.environ.get(name) for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")]
    try:
        from huggingface_hub import get_token

        values.append(get_token())
    except Exception:  # a broken token file must not stop publishing; there is simply nothing to redact then
        pass
    return [v for v in values if v and len(v) >= 4]


def redact(text: str, extra: list[str] | None = None) -> str:
    """Replace token values, token-shaped strings and `--token X` arguments in `text` with `<redacted>`."""
    values = {v for v in (*known_tokens(), *(extra or [])) if v and len(v) >= 4}  # never replace ""
    for value in sorted(values, key=len, reverse=True):
        text = text.replace(value, REDACTED)
    text = _FLAG_PATTERN.sub(lambda m: m.group(1) + REDACTED, text)
    return _TOKEN_PATTERN.sub(REDACTED, text)
