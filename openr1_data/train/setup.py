"""The rest of what `train/sft.py` and `train/grpo.py` share: model paths and init kwargs, saving and pushing,
the vLLM check. Rewards by name (the one registry, `rlt` included) are `openr1_data.train.rewards`.

Configs are in `configs.py`, chat templates in `chat_template.py`, data in `data.py`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from openr1_data.teachers.threads import set_torch_threads
from openr1_data.train.model_card import final_metrics, write_model_card

# -------------------------------------------------------------------------------------------------- models


def torch_cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def resolve_model_path(model: str) -> str:
    """`smollm2` (the packaged SmolLM2-135M-Instruct, converted once) or a local folder or Hub id, as given."""
    from openr1_data.teachers.transformers_backend import resolve_model

    return resolve_model(model)[0]


def set_model_init_kwargs(model_args: Any, training_args: Any) -> str:
    """Fill `training_args.model_init_kwargs` from TRL's `ModelConfig` (as TRL's scripts do); return the model path."""
    if not torch_cuda_available():
        set_torch_threads(getattr(training_args, "num_threads", None))
    if not model_args.model_name_or_path:
        raise ValueError("no model: pass --model_name_or_path (a local folder, a Hub id, or `smollm2`)")
    kwargs = {
        "revision": model_args.model_revision,
        "attn_implementation": model_args.attn_implementation,
        "dtype": model_args.dtype,
    }
    kwargs.update(training_args.model_init_kwargs or {})
    training_args.model_init_kwargs = kwargs
    return resolve_model_path(model_args.model_name_or_path)


def save_and_push(
    trainer: Any,
    training_args: Any,
    dataset_name: str | None,
    tags: list[str],
    base_model: str,
    dataset_config: str | None = None,
    rewards: list[tuple[str, float]] | None = None,
    card_template: str | None = None,
    pair_rules: list[str] | None = None,
) -> None:
    """Save model + tokenizer + our model card to `output_dir`; upload the folder when `--push_to_hub` is set.

    The card names the config trained on, the rewards and their weights (GRPO), the pair rule of the preference
    pairs (DPO) and the final logged metrics.
    The folder is uploaded as saved (`Trainer.push_to_hub` would write TRL's card over ours)."""
    trainer.save_model(training_args.output_dir)
    if not trainer.accelerator.is_main_process:
        return
    repo_id = training_args.hub_model_id or Path(training_args.output_dir).name
    write_model_card(
        training_args.output_dir,
        template=card_template,
        model_name=repo_id,
        base_model=base_model,
        dataset_name=dataset_name,
        trainer_kind=tags[0] if tags else "trl",
        training_args=training_args,
        tags=tags[1:],
        dataset_config=dataset_config,
        rewards=rewards,
        pair_rules=pair_rules,
        metrics=final_metrics(trainer.state.log_history),
    )
    if training_args.push_to_hub:
        push_model_folder(training_args, repo_id)


def push_model_folder(training_args: Any, repo_id: str) -> None:
    """Upload the saved output folder to the model repo `repo_id` (created when missing). A Hub that cannot be
    reached or answers a 4xx ends with one line naming the endpoint and the fix (`hub_failure`): the model is
    saved locally either way, so the message says where."""
    from huggingface_hub import HfApi

    from openr1_data.publish.hub import hub_failure

    api = HfApi(token=training_args.hub_token)
    try:
        repo = api.create_repo(repo_id, private=training_args.hub_private_repo, exist_ok=True).repo_id
        api.upload_folder(
            repo_id=repo, folder_path=training_args.output_dir, commit_message="openr1-data: train"
        )
    except Exception as err:
        fix = hub_failure(
            err, f"push of {training_args.output_dir} (saved there) to the model repo {repo_id}"
        )
        if fix is None:
            raise
        raise fix from None


def check_vllm(training_args: Any) -> None:
    """`use_vllm` on a machine without vLLM: say how to get it instead of failing deep inside TRL."""
    import importlib.util

    if not getattr(training_args, "use_vllm", False):
        return
    if importlib.util.find_spec("vllm") is None:
        raise ImportError(
            "use_vllm=true needs vLLM (CUDA GPUs): `pip install 'openr1-data[vllm]'`, or set --use_vllm false to "
            "generate with transformers. In server mode, start the server first: `trl vllm-serve --model MODEL`."
        )
