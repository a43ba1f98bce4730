"""Chat templates for training: ChatML with `{% generation %}` markers, template checks, EOS handling.

`prepare_tokenizer` sets the chat template, checks that it keeps `<think>` blocks and has `{% generation %}`
markers when the loss is masked to the assistant, and makes the EOS token the template's end-of-turn token so
a base model learns to stop (open-r1 #603).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from openr1_data.text import THINK_CLOSE, THINK_OPEN

logger = logging.getLogger(__name__)

# ChatML with `{% generation %}` markers around the assistant turn (end-of-turn token included, so the model is
# trained to stop), no default system prompt, nothing pre-filled after the generation prompt (so format rewards see
# the `<think>` the model writes, open-r1 #560), and assistant content rendered verbatim (think blocks kept).
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}"
    "{{ '<|im_start|>assistant\\n' }}{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}"
    "{{ '\\n' }}"
    "{% else %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

CHAT_TEMPLATES: dict[str, str] = {"chatml": CHATML_TEMPLATE}


# ----------------------------------------------------------------------------------------- chat templates


def resolve_chat_template(value: str) -> str:
    """A built-in template name, a path to a Jinja file, or the template text itself."""
    if value in CHAT_TEMPLATES:
        return CHAT_TEMPLATES[value]
    if value.endswith((".jinja", ".j2", ".jinja2")) or ("{" not in value and Path(value).exists()):
        path = Path(value)
        if not path.is_file():
            raise FileNotFoundError(f"chat template file {value} not found")
        return path.read_text()
    if "{%" in value or "{{" in value:
        return value
    raise ValueError(
        f"unknown chat template {value!r}: use one of {sorted(CHAT_TEMPLATES)}, a .jinja file, or template text"
    )


def has_generation_markers(template: str | None) -> bool:
    """True when the template marks assistant tokens with `{% generation %}` (needed for assistant-only loss)."""
    return bool(template) and re.search(r"\{%-?\s*generation\s*-?%\}", template) is not None


def _render(tokenizer: Any, messages: list[dict[str, str]], **kwargs: Any) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, **kwargs)


def end_of_turn_token(tokenizer: Any) -> str | None:
    """The special token the chat template writes right after an assistant message, or None."""
    sentinel = "SENTINEL_7f3a"
    text = _render(tokenizer, [{"role": "user", "content": "hi"}, {"role": "assistant", "content": sentinel}])
    rest = text[text.rfind(sentinel) + len(sentinel) :]
    specials = sorted(tokenizer.get_added_vocab(), key=len, reverse=True)
    for token in specials:
        if rest.startswith(token):
            return token
    return None


def generation_prefill(tokenizer: Any) -> str:
    """What the template adds after the assistant header of a generation prompt (e.g. `<think>\\n` in R1 distills)."""
    user = [{"role": "user", "content": "hi"}]
    prompt = _render(tokenizer, user, add_generation_prompt=True)
    reply = _render(tokenizer, [*user, {"role": "assistant", "content": "SENTINEL_7f3a"}])
    header = reply[: reply.find("SENTINEL_7f3a")]
    return prompt[len(header) :] if prompt.startswith(header) else ""


def check_think_kept(tokenizer: Any) -> None:
    """Fail when the template strips `<think>…</think>` from assistant messages (SFT would lose the reasoning)."""
    content = f"{THINK_OPEN}\nstep one\n{THINK_CLOSE}\n\nfinal"
    text = _render(tokenizer, [{"role": "user", "content": "q"}, {"role": "assistant", "content": content}])
    if "step one" not in text or THINK_CLOSE not in text:
        raise ValueError(
            "the chat template removes <think>…</think> from assistant messages, so training would never see the "
            "reasoning. Pass `--chat_template chatml` (or a .jinja template that keeps the content verbatim)."
        )


_TEMPLATE_TOKEN = re.compile(r"<\|[A-Za-z0-9_]+\|>")


def prepare_tokenizer(
    tokenizer: Any,
    *,
    chat_template: str | None = None,
    eos_token: str | None = None,
    assistant_only_loss: bool = False,
    check_think: bool = True,
) -> str | None:
    """Set and check the chat template; return the EOS token the trainer should use (None: keep the tokenizer's).

    The returned token is the template's end-of-turn token when it differs from `tokenizer.eos_token` (a base model
    whose EOS is `<|endoftext|>` trained on ChatML would otherwise never learn to stop, open-r1 #603); an explicit
    `eos_token` wins.
    """
    if chat_template:
        template = resolve_chat_template(chat_template)
        vocab = tokenizer.get_vocab()
        unknown = sorted({t for t in _TEMPLATE_TOKEN.findall(template) if t not in vocab})
        if unknown:
            raise ValueError(
                f"chat template {chat_template!r} uses token(s) {unknown} that this tokenizer does not have; "
                "pick a template written for this model, or add the tokens (and resize the embeddings) first."
            )
        tokenizer.chat_template = template
    if not tokenizer.chat_template:
        raise ValueError(
            "the tokenizer has no chat template (a base model?). Pass `--chat_template chatml` or a .jinja file."
        )
    if assistant_only_loss and not has_generation_markers(tokenizer.chat_template):
        from trl.chat_template_utils import get_training_chat_template

        try:
            get_training_chat_template(tokenizer)  # TRL patches the templates it knows (Qwen, Llama 3, ...)
        except ValueError as err:
            raise ValueError(
                "assistant_only_loss needs a chat template with {% generation %} markers, and TRL cannot patch "
                "this model's template. Pass `--chat_template chatml` (ChatML with markers) or a .jinja file "
                "with markers, or set `--assistant_only_loss false`."
            ) from err
    if check_think:
        check_think_kept(tokenizer)
    if eos_token:
        return eos_token
    turn_end = end_of_turn_token(tokenizer)
    if turn_end and turn_end != tokenizer.eos_token:
        logger.warning(
            "the chat template ends assistant turns with %r but the tokenizer's EOS is %r: using %r as EOS so the "
            "model learns to stop (pass --eos_token to choose another).",
            turn_end,
            tokenizer.eos_token,
            turn_end,
        )
        return turn_end
    return None


def load_tokenizer(
    model_name_or_path: str, revision: str | None = None, trust_remote_code: bool = False
) -> Any:
    """Load a tokenizer; give it a pad token (the EOS) when it has none, as TRL expects."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(
        model_name_or_path, revision=revision, trust_remote_code=trust_remote_code
    )
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer
