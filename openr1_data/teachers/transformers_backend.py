"""Local transformers teacher: batched, left-padded generation, on CPU by default.

It decodes with its own loop over the model's KV cache rather than `model.generate`, for two reasons: every
sequence is sampled from its own seeded generator (so a trace does not depend on the other rows of its batch, and a
resumed run repeats an uninterrupted one), and a sequence that ends leaves the batch at once (reasoning traces are
heavy-tailed: most end early, and `generate` would keep decoding padding for them until the longest ends).
"""

from __future__ import annotations

import inspect
import os
from dataclasses import replace
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from openr1_data.teachers.base import (
    Completion,
    ListFeed,
    Prompt,
    Request,
    RequestFeed,
    SamplingParams,
    Teacher,
    context_overflow,
    continues_assistant,
    request_seed,
)
from openr1_data.teachers.default_model import DEFAULT_TEACHER, default_teacher_path
from openr1_data.teachers.kv_batch import KVBatch, can_merge
from openr1_data.teachers.threads import set_torch_threads

DEFAULT_TEACHER_NAME = "HuggingFaceTB/SmolLM2-135M-Instruct"
# a tokenizer's model_max_length at or above this is transformers' "no limit" placeholder (1e30), not a context
_NO_LIMIT = 10**9


def model_context_length(config, tokenizer) -> int | None:
    """Tokens the model can attend to (prompt + completion): the smallest of the config's position limit and the
    tokenizer's `model_max_length`, leaving out values that mean "no limit"; None when neither says."""
    limits = [
        value
        for value in (
            getattr(config, "max_position_embeddings", None),
            getattr(config, "n_positions", None),
            getattr(tokenizer, "model_max_length", None),
        )
        if isinstance(value, int) and 0 < value < _NO_LIMIT
    ]
    return min(limits) if limits else None


def provenance_name(model: str) -> str:
    """The teacher name a model argument is recorded under (and trace ids are made from), without loading it."""
    return DEFAULT_TEACHER_NAME if model in (DEFAULT_TEACHER, "default") else model


def resolve_model(model: str) -> tuple[str, str]:
    """Map a user model argument to (path or Hub id to load, name recorded in provenance)."""
    if model in (DEFAULT_TEACHER, "default"):
        return str(default_teacher_path()), DEFAULT_TEACHER_NAME
    path = Path(model).expanduser()
    if path.exists():
        if not (path / "config.json").exists():
            raise FileNotFoundError(
                f"model folder {path} has no config.json: not a transformers model folder"
            )
        return str(path), model
    check_hub_model(model)
    return model, model


def check_hub_model(model: str) -> None:
    """Ask the Hub once about a model id that is not a local folder, so a typo or no network fails in seconds with
    one line (loading would retry each file for a minute first). Offline, or when it is cached, nothing is asked."""
    from huggingface_hub import constants, model_info, try_to_load_from_cache
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    if constants.HF_HUB_OFFLINE or isinstance(try_to_load_from_cache(model, "config.json"), str):
        return
    try:
        model_info(model, timeout=10)
    except (RepositoryNotFoundError, GatedRepoError) as err:
        raise FileNotFoundError(
            f"teacher model {model!r}: no local folder of that name, and the Hub has no model you can read under "
            f"that id ({type(err).__name__}). Check the spelling, or log in (`hf auth login`) for a gated model."
        ) from None
    except Exception as err:  # no network, DNS, a proxy: retrying for a minute will not help
        raise FileNotFoundError(
            f"teacher model {model!r}: no local folder of that name, and the Hub could not be reached "
            f"({type(err).__name__}). Check the network, or pass a local model folder (offline: HF_HUB_OFFLINE=1 "
            "uses the cache)."
        ) from None


class TransformersTeacher(Teacher):
    """A local transformers model. Prompts are rendered with the tokenizer's chat template and generated in
    left-padded batches of `batch_size` sequences; each sequence has its own seed and leaves the batch when it
    ends."""

    backend = "transformers"
    seeds_per_request = True

    def __init__(
        self,
        model: str = DEFAULT_TEACHER,
        device: str = "cpu",
        dtype: str = "auto",
        batch_size: int = 16,
        trust_remote_code: bool = False,
        num_threads: int | None = None,
    ):
        path, name = resolve_model(model)
        super().__init__(name)
        if device == "cpu":
            set_torch_threads(num_threads)  # the free cores, not torch's every-core default
        self.device = device
        self.batch_size = batch_size
        # Waiting prompts join once this many slots are free: each join is a prefill and a copy of the cache, so
        # they come in small groups rather than one at a time.
        self.refill_every = max(1, batch_size // 8)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
            torch_dtype = torch.float32 if (dtype == "auto" and device == "cpu") else dtype
            self.model = AutoModelForCausalLM.from_pretrained(
                path, dtype=torch_dtype, trust_remote_code=trust_remote_code
            ).to(device)  # pyright: ignore[reportArgumentType] (transformers' wrapped .to() loses `self`)
        except OSError as err:
            offline = os.environ.get("HF_HUB_OFFLINE") == "1"
            raise FileNotFoundError(
                f"teacher model {model!r} not found: looked for a local folder at {Path(model).expanduser()} and "
                f"for a Hub model id{' (offline mode: HF_HUB_OFFLINE=1, only the local cache)' if offline else ''}. "
                f"Pass a local model folder or a Hub id. ({err.__class__.__name__}: {err})"
            ) from err
        self.model.eval()
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.eos_ids = self._eos_ids()
        # transformers renamed `past_key_values` to `cache` (5.24); speak whichever this version knows
        forward_params = inspect.signature(self.model.forward).parameters
        self._cache_arg = "cache" if "cache" in forward_params else "past_key_values"
        # Only the last position's logits are needed: prefill would otherwise compute (prompt x vocab) logits
        self._last_logits = {"logits_to_keep": 1} if "logits_to_keep" in forward_params else {}
        self.context_length = model_context_length(self.model.config, self.tokenizer)

    def _eos_ids(self) -> list[int]:
        ids = self.model.generation_config.eos_token_id
        ids = [ids] if isinstance(ids, int) else list(ids or [])
        if self.tokenizer.eos_token_id is not None and self.tokenizer.eos_token_id not in ids:
            ids.append(self.tokenizer.eos_token_id)
        return ids

    def render(self, prompt: Prompt) -> str:
        """The exact text the model sees for a prompt (continuing a trailing assistant message if there is one)."""
        if continues_assistant(prompt):
            return self.tokenizer.apply_chat_template(prompt, tokenize=False, continue_final_message=True)
        return self.tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)

    def prompt_tokens(self, prompt: Prompt) -> list[int]:
        """The token ids the model sees for a prompt."""
        # The chat template already wrote any special tokens, so do not add them again.
        return self.tokenizer(self.render(prompt), add_special_tokens=False)["input_ids"]

    def fits_context(self, prompt: Prompt) -> bool | None:
        return self.context_length is None or len(self.prompt_tokens(prompt)) < self.context_length

    def _admit(self, request: Request, feed: RequestFeed) -> Request | None:
        """The request as it will be decoded, its token budget cut to what the context leaves; None when its prompt
        alone fills the context (the feed gets a `CONTEXT_OVERFLOW` completion at once, nothing is computed)."""
        if self.context_length is None:
            return request
        length = len(self.prompt_tokens(request.prompt))
        room = self.context_length - length
        if room < 1:
            feed.complete(request, context_overflow(length, self.context_length))
            return None
        if request.sampling.max_new_tokens > room:  # decoding past the positions the model knows is garbage
            return replace(request, sampling=replace(request.sampling, max_new_tokens=room))
        return request

    def _generate(self, prompts: list[Prompt], sampling: SamplingParams, n: int) -> list[list[Completion]]:
        """`n` completions per prompt, in prompt order; sample `j` of prompt `i` is seeded with
        `request_seed(sampling.seed, i, j, n)` (the seed the HTTP and vLLM teachers give it)."""
        requests = [
            Request((i, j), prompt, replace(sampling, seed=request_seed(sampling.seed, i, j, n)))
            for i, prompt in enumerate(prompts)
            for j in range(n)
        ]
        feed = ListFeed(requests)
        self.stream(feed)
        return [[feed.results[(i, j)] for j in range(n)] for i in range(len(prompts))]

    def stream(self, feed: RequestFeed) -> None:
        """Generate the feed's requests with up to `batch_size` sequences in flight, each sampled with its own seed.

        A sequence leaves the batch as soon as it ends (its completion goes back to the feed at once) and a waiting
        request takes its place (`kv_batch`): the batch stays full while the feed has work, and traces come back
        one by one as they finish instead of a whole batch at the end. Requests whose sampling differs in more than
        the seed and the token budget wait until the batch has drained, then form the next one.
        """
        held: list[Request] = []
        while self._decode(feed, held):
            pass

    def _take(self, feed: RequestFeed, held: list[Request], like: Request | None, room: int) -> list[Request]:
        """Up to `room` requests that can join a batch decoding like `like` (any, when None): held ones first, then
        new ones from the feed, unless a held request of another sampling waits (the batch then drains)."""
        taken: list[Request] = []
        for request in list(held):
            if len(taken) < room and _same_batch([like or request], request):
                held.remove(request)
                taken.append(request)
                like = like or request
        while len(taken) < room and not held and (request := feed.next_request()) is not None:
            if (request := self._admit(request, feed)) is None:
                continue
            if _same_batch([like or request], request):
                taken.append(request)
                like = like or request
            else:
                held.append(request)
        return taken

    @torch.inference_mode()
    def _decode(self, feed: RequestFeed, held: list[Request]) -> bool:
        """Decode one batch until the feed has nothing more for it: rows leave as they end and waiting requests
        join as slots free (`refill_every` free slots at a time). False when there was nothing to decode."""
        rows = self._take(feed, held, None, self.batch_size)
        if not rows:
            return False
        sampling = rows[0].sampling
        batch = self._prefill(rows)
        refill = can_merge(batch.cache)
        generators = [self._generator(r) for r in rows]
        tokens: list[list[int]] = [[] for _ in rows]
        decoding = 0  # tokens decoded for rows not yet complete: progress before the first trace ends
        while rows:
            next_ids = self._pick(batch.logits, sampling, generators)
            kept = []
            for slot, request in enumerate(rows):
                tokens[slot].append(int(next_ids[slot]))
                decoding += 1
                if self._ended(tokens[slot], request.sampling):
                    decoding -= len(tokens[slot])
                    feed.complete(request, self._to_completion(tokens[slot], request.sampling))
                else:
                    kept.append(slot)
            if len(kept) < len(rows):
                next_ids = batch.keep(kept, next_ids) if kept else next_ids[:0]
                rows, generators = [rows[k] for k in kept], [generators[k] for k in kept]
                tokens = [tokens[k] for k in kept]
            if rows:
                self._step(batch, next_ids)
            free = self.batch_size - len(rows)
            if refill and free and (free >= self.refill_every or not rows):
                joining = self._take(feed, held, rows[0] if rows else None, free)
                if joining:
                    sampling = joining[0].sampling if not rows else sampling
                    joined = self._prefill(joining)
                    if rows:
                        batch.merge(joined)
                    else:
                        batch = joined
                    rows += joining
                    generators += [self._generator(r) for r in joining]
                    tokens += [[] for _ in joining]
            feed.heartbeat(in_flight=len(rows), tokens_in_flight=decoding)
        return True

    def _generator(self, request: Request) -> torch.Generator:
        return torch.Generator(device=self.device).manual_seed(request.sampling.seed)

    def _prefill(self, requests: list[Request]) -> KVBatch:
        """Run the prompts of `requests` (left-padded) through the model: their cache and next-token logits."""
        texts = [self.render(r.prompt) for r in requests]
        # The chat template already wrote any special tokens, so do not add them again.
        enc = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(
            self.device
        )
        attention = enc["attention_mask"]
        positions = (attention.cumsum(-1) - 1).clamp(min=0)
        out = self.model(
            input_ids=enc["input_ids"],
            attention_mask=attention,
            position_ids=positions,
            use_cache=True,
            **self._last_logits,
        )
        return KVBatch(getattr(out, self._cache_arg), attention, positions[:, -1:], out.logits[:, -1, :])

    def _step(self, batch: KVBatch, next_ids: torch.Tensor) -> None:
        """Feed each live row its next token: one position further, one cache column more, new logits."""
        batch.attention = torch.cat([batch.attention, batch.attention.new_ones((len(batch), 1))], dim=1)
        batch.positions = batch.positions + 1
        out = self.model(
            input_ids=next_ids[:, None],
            attention_mask=batch.attention,
            position_ids=batch.positions,
            use_cache=True,
            **{self._cache_arg: batch.cache},
        )
        batch.cache, batch.logits = getattr(out, self._cache_arg), out.logits[:, -1, :]

    def _pick(self, logits: torch.Tensor, sampling: SamplingParams, generators: list) -> torch.Tensor:
        """Next token of every live row: argmax when greedy, else one draw per row from its own generator."""
        if sampling.greedy:
            return logits.argmax(dim=-1)
        scores = logits.float() / sampling.temperature
        if sampling.top_p < 1.0:
            ordered, order = scores.sort(dim=-1, descending=True)
            cumulative = ordered.softmax(dim=-1).cumsum(dim=-1)
            # drop a token once the tokens before it already hold top_p of the mass (the first always stays)
            drop = (cumulative - ordered.softmax(dim=-1)) >= sampling.top_p
            scores = scores.scatter(-1, order, ordered.masked_fill(drop, float("-inf")))
        probs = scores.softmax(dim=-1)
        return torch.cat([torch.multinomial(probs[r], 1, generator=g) for r, g in enumerate(generators)])

    def _ended(self, tokens: list[int], sampling: SamplingParams) -> bool:
        if tokens[-1] in self.eos_ids or len(tokens) >= sampling.max_new_tokens:
            return True
        if sampling.stop:
            tail = self.tokenizer.decode(tokens[-32:], skip_special_tokens=False)
            return any(stop in tail for stop in sampling.stop)
        return False

    def _to_completion(self, tokens: list[int], sampling: SamplingParams) -> Completion:
        eos_at = next((k for k, t in enumerate(tokens) if t in self.eos_ids), None)
        if eos_at is not None:
            text = self.tokenizer.decode(tokens[:eos_at], skip_special_tokens=False)
            return Completion(text, "stop", eos_at + 1)
        text = self.tokenizer.decode(tokens, skip_special_tokens=False)
        for stop in sampling.stop:
            if stop in text:
                return Completion(text[: text.index(stop)], "stop", len(tokens))
        return Completion(text, "length", len(tokens))


def _same_batch(batch: list[Request], request: Request) -> bool:
    """Rows of one batch share temperature, top_p and stop strings (each keeps its own seed and token budget)."""
    if not batch:
        return True
    a, b = batch[0].sampling, request.sampling
    return (a.temperature, a.top_p, a.stop) == (b.temperature, b.top_p, b.stop)
