"""Keep secrets out of everything the package writes or prints (cards, configs, manifests, logs, errors).

A user can put a secret in many places: the environment (`HF_TOKEN`, `OPENAI_API_KEY`, ...), a flag
(`--token hf_...`), a URL (`http://user:sk-...@host/v1`, `?api_key=...`), or a recipe file that ends up in
`pipeline_config.yaml`. Every text a writer produces goes through `redact`, and every config object through
`redact_config`, which catch all of these: the values of secret-named environment variables, credentials in URLs,
secret flags and assignments, `Bearer` / `Basic` headers, and the known token shapes of the Hugging Face Hub,
OpenAI, Anthropic, AWS, GitHub, Google and Slack.
"""

from __future__ import annotations

import os
import re
from typing import Any

REDACTED = "<redacted>"
_MIN_SECRET_CHARS = (
    8  # shorter environment values ("1", "true") are settings, and replacing them would garble text
)

# Names of environment variables whose values are secrets: one `_`-separated part is one of these words
# (`OPENAI_API_KEY`, `HF_TOKEN`, `AWS_SECRET_ACCESS_KEY`, `DB_PASSWORD`; not `TOKENIZERS_PARALLELISM`).
_SECRET_NAME_PARTS = {
    "TOKEN",
    "KEY",
    "APIKEY",
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "PWD",
    "CREDENTIAL",
    "CREDENTIALS",
}
_ENV_EXCLUDED = {"PWD", "OLDPWD"}  # the shell's working directories, not passwords

# Token shapes that are secrets wherever they appear.
_TOKEN_PATTERNS = [
    r"\b(?:hf|api|hf_oauth)_[A-Za-z0-9]{20,}\b",  # Hugging Face user, API and OAuth tokens
    r"\bsk-(?:ant-|proj-|svcacct-|admin-)?[A-Za-z0-9_-]{16,}",  # OpenAI and Anthropic keys
    r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b",  # AWS access key ids
    r"\bgh[pousr]_[A-Za-z0-9]{30,}\b|\bgithub_pat_[A-Za-z0-9_]{30,}\b",  # GitHub tokens
    r"\bAIza[0-9A-Za-z_-]{35}\b",  # Google API keys
    r"\bxox[abprs]-[A-Za-z0-9-]{10,}\b",  # Slack tokens
]
_TOKEN_PATTERN = re.compile("|".join(_TOKEN_PATTERNS))
# Credentials inside a URL: `scheme://user:password@host` (or a bare token as the user name).
_URL_USERINFO = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://)([^\s/?#@\"'<>]+)@")
# Secret query parameters: `?api_key=...`, `&token=...`, `&sig=...`.
_URL_PARAM = re.compile(
    r"([?&](?:api[_-]?key|key|token|access[_-]?token|auth|password|secret|sig|signature)=)[^&\s#\"'<>]+",
    re.IGNORECASE,
)
# `Authorization: <scheme> X` with any scheme, and a bare `Bearer X` whose X looks like a token (has a digit:
# "Bearer tokens" in prose stays).
_AUTH_HEADER = re.compile(
    r"\b(Authorization:\s*[A-Za-z]+|Bearer)(\s+)(?=[A-Za-z0-9._~+/=-]*\d)[A-Za-z0-9._~+/=-]{8,}",
    re.IGNORECASE,
)
# `--token X`, `--hub-token=X`, `--api_key X`, `--password=X` (but not `--api_key_env NAME`).
_FLAG_PATTERN = re.compile(
    r"(--(?:(?:hub|hf)[-_])?token|--api[-_]?key|--password|--secret|--access[-_]token)(?=[=\s])(=|\s+)(\S+)"
)
# `HF_TOKEN=X`, `OPENAI_API_KEY=X` on a command line or in a dotenv-style text.
_ASSIGNMENT_PATTERN = re.compile(
    r"\b((?:[A-Z0-9]+_)*(?:TOKEN|KEY|APIKEY|SECRET|PASSWORD|PASSWD)(?:_[A-Z0-9]+)*)=(?!<redacted>)(\S+)"
)
# `token: X`, `"api_key": "X"` in YAML / JSON text.
_KEY_VALUE_PATTERN = re.compile(
    r"""((?<![\w-])["']?(?:token|hub_token|hf_token|api_key|apikey|openai_api_key|password|secret|access_token|"""
    r"""auth_token|client_secret|aws_secret_access_key|aws_session_token)["']?\s*[:=]\s*["']?)"""
    r"""(?!<redacted>)([^\s"',}\]]+)""",
    re.IGNORECASE,
)
# Keys of a config mapping whose values are secrets (`redact_config`); `api_key_env` holds a variable's NAME.
SECRET_KEYS = {
    "token",
    "hub_token",
    "hf_token",
    "api_key",
    "apikey",
    "openai_api_key",
    "password",
    "secret",
    "access_token",
    "auth_token",
    "authorization",
    "client_secret",
    "aws_secret_access_key",
    "aws_session_token",
}


def is_secret_name(name: str) -> bool:
    """True for environment variable names that hold secrets (`OPENAI_API_KEY`, `HF_TOKEN`, `DB_PASSWORD`)."""
    if name.upper() in _ENV_EXCLUDED:
        return False
    return any(part in _SECRET_NAME_PARTS for part in name.upper().split("_"))


def known_tokens() -> list[str]:
    """Secret values this process could hold: every secret-named environment variable (`HF_TOKEN`,
    `OPENAI_API_KEY`, `AWS_SECRET_ACCESS_KEY`, a teacher's own `api_key_env`, ...) and the token `hf auth login`
    saved."""
    values = [value for name, value in os.environ.items() if is_secret_name(name)]
    try:
        from huggingface_hub import get_token

        token = get_token()
        if token:
            values.append(token)
    except Exception:  # a broken token file must not stop a writer; there is simply nothing to redact then
        pass
    return [v for v in values if v and len(v) >= _MIN_SECRET_CHARS]


def redact_url(url: str) -> str:
    """`url` without credentials: `http://user:sk-...@host/v1?api_key=X` -> `http://<redacted>@host/v1?api_key=...`."""
    url = _URL_USERINFO.sub(lambda m: m.group(1) + REDACTED + "@", url)
    return _URL_PARAM.sub(lambda m: m.group(1) + REDACTED, url)


def redact(text: str, extra: list[str] | None = None) -> str:
    """`text` with every secret replaced by `<redacted>`: known secret values (environment, `extra`), URL
    credentials, secret flags, assignments and keys, auth headers and token-shaped strings."""
    text = str(text)
    values = {v for v in (*known_tokens(), *(extra or [])) if v and len(v) >= 4}  # never replace ""
    for value in sorted(values, key=len, reverse=True):
        text = text.replace(value, REDACTED)
    text = redact_url(text)
    text = _AUTH_HEADER.sub(lambda m: m.group(1) + m.group(2) + REDACTED, text)
    text = _FLAG_PATTERN.sub(lambda m: m.group(1) + m.group(2) + REDACTED, text)
    text = _ASSIGNMENT_PATTERN.sub(lambda m: m.group(1) + "=" + REDACTED, text)
    text = _KEY_VALUE_PATTERN.sub(lambda m: m.group(1) + REDACTED, text)
    return _TOKEN_PATTERN.sub(REDACTED, text)


def redact_config(obj: Any, extra: list[str] | None = None) -> Any:
    """A copy of a config object (dicts, lists, strings, numbers) with every secret redacted: the values of
    secret keys (`token`, `api_key`, ...) and every secret inside any string (see `redact`). For writers of
    `manifest.json`, `pipeline_config.yaml` and the like."""
    if isinstance(obj, dict):
        return {
            key: (
                REDACTED
                if isinstance(key, str) and key.lower() in SECRET_KEYS and value not in (None, "")
                else redact_config(value, extra)
            )
            for key, value in obj.items()
        }
    if isinstance(obj, (list, tuple)):
        return type(obj)(redact_config(value, extra) for value in obj)
    if isinstance(obj, str):
        return redact(obj, extra)
    return obj
