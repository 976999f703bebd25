"""Text generation: prompts -> continuations, streamed as they are produced.

One step loop serves decoder-only and encoder-decoder models: a source gives the first logits (a prompt's
prefill, or the encoder then the decoder's start token) and the logits after each chosen token; the shared
processors, then the chooser (greedy or sampled) pick the next token of every row; each row's RowState turns
its tokens into text. Beam search (encoder-decoders) runs the same source and processors through
tasks/beam.py. Prompts run in batches, left-padded (decoder-only) or right-padded (encoder input).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Callable, Iterator

from autocli.errors import AutocliError, InvalidCheckpoint, UsageError
from autocli.results import ErrorRecord, error_record
from autocli.tasks.gen_settings import BATCH_SIZE, GenerationSettings, check_ids_in_vocab
from autocli.tasks.gen_text import TokenLogprob

# --dtype auto on CPU picks bfloat16 (for bf16 checkpoints) when new tokens >= this x prompt tokens. Measured
# here on a 0.5B model (bench/bench_generate.py, 2 threads): a decoding step takes 64 ms in bf16 vs 102 ms in
# float32, a prefill token (256-token prompt) 35 ms vs 5 ms; bf16 wins from about 0.8 new tokens per prompt token.
DECODE_HEAVY = 1.0


@dataclass
class Prompt:
    index: int
    text: str | None = None  # plain prompt
    messages: list | None = None  # chat messages (rendered with the chat template)
    error: AutocliError | None = None
    ids: list[int] | None = None  # token ids, once encoded


@dataclass
class Sequence:
    """One generated sequence. score: beam search's log-probability / length ** length_penalty."""

    text: str
    token_ids: list[int]
    finish_reason: str  # eos | stop | length
    score: float | None = None
    logprobs: list[TokenLogprob] | None = None  # per token, with --logprobs


@dataclass
class Stats:
    """One batch: the records' timings, and what --stats prints to stderr."""

    prompts: int
    prompt_tokens: int
    prefill_s: float  # encoder-decoders: the encoder's run
    ttft_s: float
    new_tokens: int
    decode_s: float
    peak_memory_bytes: int | None
    encoder_decoder: bool = False

    @property
    def prefill_tokens_per_s(self) -> float:
        return self.prompt_tokens / self.prefill_s if self.prefill_s > 0 else float("nan")

    @property
    def decode_tokens_per_s(self) -> float:
        return self.new_tokens / self.decode_s if self.decode_s > 0 else float("nan")


@dataclass
class Generation:
    """One prompt's result: the best sequence, and (beam search) the other --num-return-sequences, best first.
    prompt_tokens counts the encoder's tokens for an encoder-decoder."""

    index: int
    best: Sequence
    prompt_tokens: int
    stats: Stats  # of the batch this prompt ran in
    alternatives: list[Sequence] = field(default_factory=list)

    @property
    def text(self) -> str:
        return self.best.text

    @property
    def token_ids(self) -> list[int]:
        return self.best.token_ids

    @property
    def finish_reason(self) -> str:
        return self.best.finish_reason


@dataclass
class BatchResult:
    rows: list[list[Sequence]]  # per input row, best first
    stats: Stats


# --- prompts -> token ids ---------------------------------------------------------------------------

def encode_prompt(tokenizer, prompt: Prompt, chat: bool, system: str | None) -> list[int]:
    """Plain prompts get the tokenizer's special tokens (LLaMA's BOS); a rendered chat template already
    spells them, so it is encoded without (as transformers' apply_chat_template does)."""
    if prompt.messages is not None or chat:
        messages = prompt.messages if prompt.messages is not None else [{"role": "user", "content": prompt.text}]
        text = tokenizer.render_chat(messages, add_generation_prompt=True, system=system)
        ids = tokenizer.encode(text, add_special_tokens=False).ids
    else:
        ids = tokenizer.encode(prompt.text, add_special_tokens=True).ids
    if not ids:
        raise UsageError(f"input {prompt.index}: the prompt has no tokens", "give some text to continue")
    return list(ids)


def encode_prompts(tokenizer, prompts: list[Prompt], chat: bool = False, system: str | None = None) -> None:
    """Give each prompt its token ids, or its error (the others go on). A broken checkpoint (its chat
    template refused by the sandbox) fails the whole run."""
    for p in prompts:
        if p.error is None and p.ids is None:
            try:
                p.ids = encode_prompt(tokenizer, p, chat, system)
            except InvalidCheckpoint:
                raise
            except AutocliError as e:
                p.error = e


def auto_dtype(config, device, prompt_tokens: int, new_tokens: int) -> str:
    """--dtype auto for generation. On CPU: bfloat16 when the checkpoint stores bfloat16 weights (nothing is
    rounded) and the job is decode-heavy (decoding streams half the bytes per token, while prefill matmuls in
    bf16 run several times slower on CPUs without bf16 units); float32 otherwise. Elsewhere: the loader's choice."""
    if getattr(device, "type", str(device)) != "cpu":
        return "auto"
    stored = str(config.dtype or "").lower()
    if stored in ("bfloat16", "bf16") and new_tokens >= DECODE_HEAVY * prompt_tokens:
        return "bfloat16"
    return "float32"


def is_seq2seq(model) -> bool:
    return bool(getattr(model.module, "is_seq2seq", False))


def new_token_budget(model, s: GenerationSettings, prompt_len: int) -> int:
    """New tokens a prompt may get: --max-new-tokens, within max_length and the model's positions.
    An encoder-decoder's decoder counts its start token (prompt_len 1)."""
    budget = int(s["max_new_tokens"])
    for limit in (s["max_length"], model.max_positions):
        if limit is not None:
            budget = min(budget, int(limit) - prompt_len)
    if budget < 1:
        limit = min(x for x in (s["max_length"], model.max_positions) if x is not None)
        raise UsageError(f"the prompt has {prompt_len} tokens, leaving no room for new ones in this model's {limit}",
                         "shorten the prompt")
    return budget


def check_prompt(model, s: GenerationSettings, p: Prompt) -> None:
    """A prompt the model can take, with room for at least one new token."""
    vocab = model.config.raw.get("vocab_size")
    if is_seq2seq(model):
        if model.max_positions is not None and len(p.ids) > model.max_positions:
            raise UsageError(f"input {p.index}: {len(p.ids)} tokens is more than this model's {model.max_positions} positions",
                             "shorten the input")
        new_token_budget(model, s, 1)
    else:
        new_token_budget(model, s, len(p.ids))
    if isinstance(vocab, int) and max(p.ids) >= vocab:
        raise InvalidCheckpoint(f"input {p.index}: token id {max(p.ids)} is outside the model's vocabulary ({vocab})",
                                "the tokenizer and the weights do not belong together")


def peak_memory(device) -> int | None:
    import torch

    if getattr(device, "type", "cpu") == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    try:
        import resource

        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return int(kb * (1 if sys.platform == "darwin" else 1024))
    except (ImportError, OSError):
        return None


# --- running prompts in batches ----------------------------------------------------------------------

def generate(model, tokenizer, prompts: list[Prompt], s: GenerationSettings, *, chat: bool = False,
             system: str | None = None, batch_size: int = BATCH_SIZE, logprobs: int | None = None, echo: bool = False,
             on_text: Callable[[int, str], None] | None = None,
             on_stats: Callable[[Stats], None] | None = None) -> Iterator[Generation | ErrorRecord]:
    """Prompts in input order, `batch_size` at a time; yields one record per prompt, in order.

    on_text(prompt index, delta) streams each prompt's text as it grows."""
    from autocli.tasks.gen_loop import run_batch

    if batch_size < 1:
        raise UsageError("--batch-size must be at least 1")
    check_ids_in_vocab(s, model.config.raw.get("vocab_size"))  # a broken setting fails the run once, before any prompt
    encode_prompts(tokenizer, prompts, chat, system)
    for p in prompts:
        if p.error is None:
            try:
                check_prompt(model, s, p)
            except AutocliError as e:
                p.error = e
    for start in range(0, len(prompts), batch_size):
        group = prompts[start:start + batch_size]
        todo = [p for p in group if p.error is None]
        done: dict[int, Generation | ErrorRecord] = {p.index: error_record(p.index, p.error) for p in group if p.error}
        if todo:
            stream = None if on_text is None else (lambda row, delta, todo=todo: on_text(todo[row].index, delta))
            try:
                result = run_batch(model, tokenizer, [p.ids for p in todo], s, logprobs=logprobs, echo=echo, on_text=stream)
            except AutocliError as e:
                done.update({p.index: error_record(p.index, e) for p in todo})
            else:
                for p, seqs in zip(todo, result.rows):
                    done[p.index] = Generation(p.index, seqs[0], len(p.ids), result.stats, seqs[1:])
                if on_stats is not None:
                    on_stats(result.stats)
        for p in group:
            yield done[p.index]
