"""Tiny real models built offline for tests: a byte-level BPE tokenizer trained on the spot and a ~1M-parameter
Llama. They generate, save, load and train like any Hub model; their output is random text."""

from __future__ import annotations

from pathlib import Path

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}"
    "{{ '<|im_start|>assistant\\n' }}{% generation %}{{ message['content'] }}"
    "{% if not (loop.last and continue_final_message is defined and continue_final_message) %}{{ '<|im_end|>' }}{% endif %}"
    "{% endgeneration %}{% if not (loop.last and continue_final_message is defined and continue_final_message) %}{{ '\\n' }}{% endif %}"
    "{% else %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

_CORPUS = [
    "Please reason step by step, and put your final answer within \\boxed{}.",
    "<think> First add the numbers. 3 + 4 = 7. </think> The answer is \\boxed{7}.",
    "There are 5 boxes with 2 cookies in each box. How many cookies are there in total?",
    "Ava has 12 apples and buys 30 more. How many apples does Ava have now?",
    "<|begin_of_solution|> 42 <|end_of_solution|> <|begin_of_explanation|> step one <|end_of_explanation|>",
    "0 1 2 3 4 5 6 7 8 9 + - * / = ( ) { } \\frac \\times \\div $ answer solution problem",
]


def build_tiny_tokenizer(out_dir: str | Path):
    """Train a small byte-level BPE tokenizer with ChatML special tokens and save it as a transformers tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=600, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(_CORPUS * 20, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
    )
    fast.chat_template = CHATML_TEMPLATE
    fast.save_pretrained(out_dir)
    return fast


def build_tiny_model(
    out_dir: str | Path, seed: int = 0, hidden_size: int = 64, layers: int = 2, context: int = 2048
) -> Path:
    """Save a randomly initialised tiny Llama with the tiny tokenizer in `out_dir` and return the folder;
    `context`: the positions it knows (its `max_position_embeddings`)."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    out_dir = Path(out_dir)
    tokenizer = build_tiny_tokenizer(out_dir)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=context,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, do_sample=True
    )
    model.save_pretrained(out_dir)
    return out_dir
