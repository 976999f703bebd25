"""Text generation: prompts -> continuations, streamed as they are produced.

Settings come from the checkpoint's generation_config.json, then the command line (each with its
source, for --show-config). Prompts run in batches, left-padded; each batch has its own KV cache,
filled by one prefill call, then one decode call per new token. Text is decoded incrementally: only
complete characters are handed out, and text that might be the start of a --stop string is held
back until it is known not to be one.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

from autocli.errors import AutocliError, InvalidCheckpoint, Unsupported, UsageError
from autocli.render import ErrorRecord, error_record

BATCH_SIZE = 8
MAX_NEW_TOKENS = 256  # when neither generation_config.json nor --max-new-tokens says
GENERATION_CONFIG = "generation_config.json"
# A character is at most 4 UTF-8 bytes, so at most 4 tokens: a U+FFFD still there after that is invalid
# bytes the model produced, not a character still arriving.
UTF8_MAX_BYTES = 4
# --dtype auto on CPU picks bfloat16 (for bf16 checkpoints) when new tokens >= this x prompt tokens. Measured
# here on a 0.5B model (bench/bench_generate.py, 2 threads): a decoding step takes 64 ms in bf16 vs 102 ms in
# float32, a prefill token (256-token prompt) 35 ms vs 5 ms; bf16 wins from about 0.8 new tokens per prompt token.
DECODE_HEAVY = 1.0

# Encoder-decoders: what old checkpoints also keep in config.json, and T5's task_specific_params may set.
SEQ2SEQ_DEFAULTS = {
    "num_beams": 1,
    "length_penalty": 1.0,
    "early_stopping": False,
    "no_repeat_ngram_size": 0,
    "num_return_sequences": 1,
    "min_length": 0,
    "forced_bos_token_id": None,
    "forced_eos_token_id": None,
}
TASK_PARAMS = "task_specific_params"

# setting -> default when neither generation_config.json nor the command line sets it.
# top_k 50 is transformers' default for sampling, so `--sample` alone behaves as it does there.
DEFAULTS = {
    "do_sample": False,
    "temperature": 1.0,
    "top_k": 50,
    "top_p": 1.0,
    "min_p": None,
    "repetition_penalty": 1.0,
    "max_new_tokens": MAX_NEW_TOKENS,
    "max_length": None,
    "stop_strings": [],
}


@dataclass
class Setting:
    name: str
    value: object
    source: str  # "--flag", "generation_config.json", "config.json", "tokenizer", "default"


@dataclass
class GenerationSettings:
    """Every setting of one run, with where its value came from (the --show-config table)."""

    settings: list[Setting] = field(default_factory=list)

    def __getitem__(self, name: str):
        for s in self.settings:
            if s.name == name:
                return s.value
        raise KeyError(name)


@dataclass
class Prompt:
    index: int
    text: str | None = None  # plain prompt
    messages: list | None = None  # chat messages (rendered with the chat template)
    error: AutocliError | None = None
    ids: list[int] | None = None  # token ids, once encoded


@dataclass
class Generation:
    index: int
    text: str
    token_ids: list[int]
    finish_reason: str  # eos | stop | length
    prompt_tokens: int
    timings: dict  # seconds and tokens/s of the batch this prompt ran in


@dataclass
class Seq2SeqGeneration(Generation):
    """An encoder-decoder's output: the best sequence as above (prompt_tokens counts encoder tokens), its beam
    score, and the other --num-return-sequences sequences, best first."""

    score: float | None = None  # beam search: log-probability / length ** length_penalty
    alternatives: list = field(default_factory=list)  # [{"text", "token_ids", "finish_reason", "score"}]


@dataclass
class Stats:
    """One batch: what --stats prints to stderr."""

    prompts: int
    prompt_tokens: int
    prefill_s: float
    ttft_s: float
    new_tokens: int
    decode_s: float
    peak_memory_bytes: int | None

    @property
    def prefill_tokens_per_s(self) -> float:
        return self.prompt_tokens / self.prefill_s if self.prefill_s > 0 else float("nan")

    @property
    def decode_tokens_per_s(self) -> float:
        return self.new_tokens / self.decode_s if self.decode_s > 0 else float("nan")


# --- settings --------------------------------------------------------------------------------------

def _as_list(value) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _ids(value, what: str) -> list[int]:
    out = []
    for v in _as_list(value):
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise InvalidCheckpoint(f"{what}: token id {v!r} is not a non-negative integer", f"fix {what}")
        out.append(v)
    return out


def resolve_settings(config, gen_config: dict | None, tokenizer, flags: dict, *, seq2seq: bool = False,
                     task_params: dict | None = None) -> GenerationSettings:
    """flags: setting -> value given on the command line (None = not given).

    Encoder-decoders (seq2seq) add the beam and forcing settings, which old checkpoints keep in config.json;
    task_params (a T5 `task_specific_params` entry chosen with --task-prefix) rank just below the flags."""
    gen_config = gen_config if isinstance(gen_config, dict) else {}
    task_params = task_params if isinstance(task_params, dict) else {}
    out = GenerationSettings()
    table = {**DEFAULTS, **(SEQ2SEQ_DEFAULTS if seq2seq else {})}
    for name, default in table.items():
        if flags.get(name) not in (None, []):
            out.settings.append(Setting(name, flags[name], "--" + name.replace("_", "-").replace("stop-strings", "stop")))
        elif task_params.get(name) is not None:
            out.settings.append(Setting(name, task_params[name], TASK_PARAMS))
        elif gen_config.get(name) is not None:
            value = gen_config[name]
            out.settings.append(Setting(name, _as_list(value) if name == "stop_strings" else value, GENERATION_CONFIG))
        elif name in SEQ2SEQ_DEFAULTS and config.raw.get(name) is not None:
            out.settings.append(Setting(name, config.raw[name], "config.json"))
        else:
            out.settings.append(Setting(name, default, "default"))
    if seq2seq:
        _decoder_start(out, config, gen_config)
    # EOS: generation_config.json, else config.json, else the tokenizer's eos token (lists allowed)
    if flags.get("ignore_eos"):
        out.settings.append(Setting("eos_token_id", [], "--ignore-eos"))
    else:
        _eos(out, config, gen_config, tokenizer)
    _pad(out, config, gen_config, tokenizer)
    seed = flags.get("seed")
    out.settings.append(Setting("seed", seed, "--seed" if seed is not None else "random"))
    _check(out)
    return out


def _decoder_start(out: GenerationSettings, config, gen_config: dict) -> None:
    """The decoder's first token: decoder_start_token_id, else bos_token_id (transformers' order)."""
    for name in ("decoder_start_token_id", "bos_token_id"):
        for value, source in ((gen_config.get(name), GENERATION_CONFIG), (config.raw.get(name), "config.json")):
            if value is not None:
                out.settings.append(Setting("decoder_start_token_id", _ids(value, f"{source} {name}")[0] if _as_list(value) else 0, source))
                return
    raise InvalidCheckpoint("neither decoder_start_token_id nor bos_token_id is set, so the decoder has no first token",
                            "set decoder_start_token_id in config.json or generation_config.json")


def _eos(out: GenerationSettings, config, gen_config: dict, tokenizer) -> None:
    for value, source in ((gen_config.get("eos_token_id"), GENERATION_CONFIG), (config.raw.get("eos_token_id"), "config.json"),
                          (getattr(tokenizer, "eos_id", None), "tokenizer")):
        if value is not None and _as_list(value):
            out.settings.append(Setting("eos_token_id", _ids(value, source + " eos_token_id"), source))
            break
    else:
        out.settings.append(Setting("eos_token_id", [], "default"))


def _pad(out: GenerationSettings, config, gen_config: dict, tokenizer) -> None:
    for value, source in ((gen_config.get("pad_token_id"), GENERATION_CONFIG), (config.raw.get("pad_token_id"), "config.json"),
                          (getattr(tokenizer, "pad_id", None), "tokenizer")):
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            out.settings.append(Setting("pad_token_id", value, source))
            break
    else:
        eos = out["eos_token_id"]
        out.settings.append(Setting("pad_token_id", eos[0] if eos else 0, "eos_token_id" if eos else "default"))


def _check(s: GenerationSettings) -> None:
    for name, kind in (("temperature", (int, float)), ("top_p", (int, float)), ("repetition_penalty", (int, float)),
                       ("top_k", int), ("max_new_tokens", int)):
        value = s[name]
        if isinstance(value, bool) or not isinstance(value, kind):
            raise UsageError(f"{name} is {value!r}, not a number", "fix generation_config.json or pass the option")
    if s["max_new_tokens"] < 1:
        raise UsageError(f"max_new_tokens is {s['max_new_tokens']}", "ask for at least one new token")
    if not all(isinstance(x, str) and x for x in s["stop_strings"]):
        raise UsageError("stop strings must be non-empty text", "fix --stop")
    sampling(s).check()
    if any(x.name == "num_beams" for x in s.settings):
        _check_seq2seq(s)


def _check_seq2seq(s: GenerationSettings) -> None:
    for name, kind in (("num_beams", int), ("num_return_sequences", int), ("no_repeat_ngram_size", int), ("min_length", int),
                       ("length_penalty", (int, float))):
        value = s[name]
        if isinstance(value, bool) or not isinstance(value, kind):
            raise UsageError(f"{name} is {value!r}, not a number", "fix generation_config.json or pass the option")
    if s["no_repeat_ngram_size"] < 0 or s["min_length"] < 0:
        raise UsageError("no_repeat_ngram_size and min_length cannot be negative")
    beams(s).check()
    if s["num_beams"] > 1 and sampling(s).do_sample and not sampling(s).greedy:
        raise Unsupported("beam sampling (--sample with --num-beams > 1) is not supported", "use --greedy with beams, or --num-beams 1 to sample")
    if s["num_beams"] > 1 and s["stop_strings"]:
        raise Unsupported("--stop is not supported with beam search", "use --num-beams 1, or cut the text afterwards")
    if s["num_return_sequences"] > 1 and s["num_beams"] == 1:
        raise UsageError("--num-return-sequences above 1 needs beam search", "add --num-beams N (N >= the sequences asked for)")
    for name in ("forced_bos_token_id",):
        if s[name] is not None:
            _ids(s[name], name)
    if s["forced_eos_token_id"] is not None:
        _ids(s["forced_eos_token_id"], "forced_eos_token_id")


# Settings whose token ids index the embeddings or the logits (an EOS id outside the vocabulary is only never
# produced, so EOS lists are left alone: real configs list ids the model cannot emit).
INDEXING_IDS = ("pad_token_id", "decoder_start_token_id", "forced_bos_token_id", "forced_eos_token_id")


def check_ids_in_vocab(s: GenerationSettings, vocab) -> None:
    if not isinstance(vocab, int) or isinstance(vocab, bool):
        return
    for setting in s.settings:
        if setting.name in INDEXING_IDS and setting.value is not None:
            for v in _as_list(setting.value):
                if isinstance(v, int) and not 0 <= v < vocab:
                    raise InvalidCheckpoint(f"{setting.name} {v} (from {setting.source}) is outside the model's {vocab:,}-token vocabulary",
                                            f"fix {setting.source}" if setting.source.endswith(".json") else "pass an id inside the vocabulary")


def beams(s: GenerationSettings):
    from autocli.tasks.beam import BeamSettings

    return BeamSettings(num_beams=int(s["num_beams"]), length_penalty=float(s["length_penalty"]),
                        early_stopping=s["early_stopping"], num_return_sequences=int(s["num_return_sequences"]))


def sampling(s: GenerationSettings):
    from autocli.tasks.sampling import Sampling

    return Sampling(
        do_sample=bool(s["do_sample"]), temperature=float(s["temperature"]), top_k=int(s["top_k"]),
        top_p=float(s["top_p"]), min_p=None if s["min_p"] is None else float(s["min_p"]),
        repetition_penalty=float(s["repetition_penalty"]), seed=s["seed"],
    )


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
    """Give each prompt its token ids, or its error (the others go on)."""
    for p in prompts:
        if p.error is None and p.ids is None:
            try:
                p.ids = encode_prompt(tokenizer, p, chat, system)
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


# --- incremental text ----------------------------------------------------------------------------

class TextStream:
    """Token ids in, text out: only complete characters, never the start of a possible stop string.

    Each step decodes a short window that starts one step back, so decoders that depend on context
    (a SentencePiece word's leading space, a byte-level character split over tokens) spell it right.
    """

    def __init__(self, tokenizer, stops: list[str]):
        self.tokenizer = tokenizer
        self.stops = stops
        self.ids: list[int] = []
        self.prefix = 0  # the window starts here
        self.read = 0  # ids before this are in self.text
        self.text = ""  # decoded so far (complete characters only), cut at a stop string
        self.emitted = 0  # characters of self.text handed out
        self.stopped = False

    def push(self, token: int) -> str:
        self.ids.append(token)
        if self.stopped:
            return ""
        prev = self._decode(self.ids[self.prefix:self.read])
        full = self._decode(self.ids[self.prefix:])
        if full.endswith("\ufffd") and len(self.ids) - self.read < UTF8_MAX_BYTES:
            return ""  # maybe an incomplete UTF-8 sequence: wait for the rest of the character
        self.text += full[len(prev):]
        self.prefix, self.read = self.read, len(self.ids)
        return self._release()

    def finish(self) -> str:
        """The rest of the text at the end (a trailing incomplete character shows as U+FFFD)."""
        if not self.stopped and self.read < len(self.ids):
            prev = self._decode(self.ids[self.prefix:self.read])
            self.text += self._decode(self.ids[self.prefix:])[len(prev):]
            self.read = len(self.ids)
        delta = self._release()
        rest = self.text[self.emitted:]
        self.emitted = len(self.text)
        return delta + rest

    def _decode(self, ids: list[int]) -> str:
        # a model may have more embedding rows than the tokenizer has tokens; those ids have no text
        n = self.tokenizer.vocab_size
        return self.tokenizer.decode([i for i in ids if i < n])

    def _release(self) -> str:
        hits = [self.text.find(stop, max(0, self.emitted - len(stop) + 1)) for stop in self.stops]
        hits = [at for at in hits if at >= 0]
        if hits:  # the earliest stop string ends the text, and is not part of it
            self.text = self.text[: min(hits)]
            self.stopped = True
        safe = len(self.text) if self.stopped else len(self.text) - self._held()
        delta = self.text[self.emitted:safe]
        self.emitted = max(self.emitted, safe)
        return delta

    def _held(self) -> int:
        """Length of the longest tail of the text that begins some stop string."""
        best = 0
        for stop in self.stops:
            for n in range(min(len(stop) - 1, len(self.text)), best, -1):
                if self.text.endswith(stop[:n]):
                    best = n
                    break
        return best


# --- the loop --------------------------------------------------------------------------------------

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


def new_token_budget(model, s: GenerationSettings, prompt_len: int) -> int:
    """New tokens a prompt may get: --max-new-tokens, within max_length and the model's positions."""
    budget = int(s["max_new_tokens"])
    for limit in (s["max_length"], model.max_positions):
        if limit is not None:
            budget = min(budget, int(limit) - prompt_len)
    if budget < 1:
        limit = min(x for x in (s["max_length"], model.max_positions) if x is not None)
        raise UsageError(f"the prompt has {prompt_len} tokens, leaving no room for new ones in this model's {limit}",
                         "shorten the prompt")
    return budget


def generate_batch(model, tokenizer, rows: list[list[int]], s: GenerationSettings, *,
                   on_text: Callable[[int, str], None] | None = None) -> tuple[list[tuple[list[int], str, str]], Stats]:
    """Token id rows -> [(new token ids, text, finish reason)] per row, and the batch's Stats.

    on_text(row, delta) is called as each row's text grows.
    """
    import torch

    from autocli.tasks.sampling import Chooser

    module = model.module
    B, T = len(rows), max(len(r) for r in rows)
    pad = s["pad_token_id"]
    eos = set(s["eos_token_id"])
    budgets = [new_token_budget(model, s, len(r)) for r in rows]  # per row: positions are per row
    budget = max(budgets)
    device = model.device
    ids = torch.tensor([[pad] * (T - len(r)) + r for r in rows], dtype=torch.long, device=device)  # (B, T) left-padded
    mask = torch.tensor([[0] * (T - len(r)) + [1] * len(r) for r in rows], dtype=torch.long, device=device)  # (B, T)
    vocab = model.config.raw.get("vocab_size") or tokenizer.vocab_size
    chooser = Chooser(sampling(s), B, max(vocab, tokenizer.vocab_size), device)
    streams = [TextStream(tokenizer, list(s["stop_strings"])) for _ in rows]
    out_ids: list[list[int]] = [[] for _ in rows]
    reasons: list[str | None] = [None] * B

    def emit(row: int, delta: str) -> None:
        if delta and on_text is not None:
            on_text(row, delta)

    with torch.inference_mode():
        t0 = time.perf_counter()
        cache = module.new_cache(B, T + budget)
        chooser.observe(ids, mask)
        logits = module.prefill(ids, mask, cache)  # (B, V)
        t_prefill = time.perf_counter()
        ttft = None
        for step in range(budget):
            tokens = chooser(logits)  # (B,)
            listed = tokens.tolist()
            if ttft is None:
                ttft = time.perf_counter() - t0
            for b, tok in enumerate(listed):
                if reasons[b] is not None:
                    continue
                out_ids[b].append(tok)
                if tok in eos:
                    reasons[b] = "eos"
                    continue
                emit(b, streams[b].push(tok))
                if streams[b].stopped:
                    reasons[b] = "stop"
                elif len(out_ids[b]) == budgets[b]:
                    reasons[b] = "length"
            if all(r is not None for r in reasons) or step == budget - 1:
                break
            chooser.observe(tokens[:, None])
            logits = module.decode(tokens, cache)
        t_end = time.perf_counter()
    results = []
    for b in range(B):
        emit(b, streams[b].finish())
        results.append((out_ids[b], streams[b].text, reasons[b] or "length"))
    new_tokens = sum(len(o) for o in out_ids)
    stats = Stats(prompts=B, prompt_tokens=int(mask.sum()), prefill_s=t_prefill - t0, ttft_s=ttft,
                  new_tokens=new_tokens - B, decode_s=t_end - t0 - ttft, peak_memory_bytes=peak_memory(device))
    return results, stats


def generate(model, tokenizer, prompts: list[Prompt], s: GenerationSettings, *, chat: bool = False,
             system: str | None = None, batch_size: int = BATCH_SIZE,
             on_text: Callable[[int, str], None] | None = None,
             on_stats: Callable[[Stats], None] | None = None) -> Iterator[Generation | ErrorRecord]:
    """Prompts in input order, `batch_size` at a time; yields one record per prompt, in order.

    on_text(prompt index, delta) streams each prompt's text as it grows.
    """
    if batch_size < 1:
        raise UsageError("--batch-size must be at least 1")
    vocab = model.config.raw.get("vocab_size")
    check_ids_in_vocab(s, vocab)  # a broken setting fails the run once, before any prompt
    encode_prompts(tokenizer, prompts, chat, system)
    seq2seq = is_seq2seq(model)
    for p in prompts:
        if p.error is None:
            try:
                if seq2seq:
                    check_encoder_input(model, s, p.index, len(p.ids))
                else:
                    new_token_budget(model, s, len(p.ids))
                if isinstance(vocab, int) and max(p.ids) >= vocab:
                    raise InvalidCheckpoint(f"input {p.index}: token id {max(p.ids)} is outside the model's vocabulary ({vocab})",
                                            "the tokenizer and the weights do not belong together")
            except AutocliError as e:
                p.error = e
    encoded = [(p, p.ids, p.error) for p in prompts]
    for start in range(0, len(encoded), batch_size):
        group = encoded[start:start + batch_size]
        todo = [(p, ids) for p, ids, err in group if err is None]
        done: dict[int, Generation] = {}
        failed: dict[int, AutocliError] = {p.index: err for p, _, err in group if err is not None}
        if todo:
            try:
                results, stats = (seq2seq_batch if seq2seq else generate_batch)(
                    model, tokenizer, [ids for _, ids in todo], s,
                    on_text=None if on_text is None else (lambda row, delta, todo=todo: on_text(todo[row][0].index, delta)))
            except AutocliError as e:
                failed.update({p.index: e for p, _ in todo})
            else:
                timings = {"prefill_s": round(stats.prefill_s, 4), "time_to_first_token_s": round(stats.ttft_s, 4),
                           "decode_s": round(stats.decode_s, 4), "decode_tokens_per_s": round(stats.decode_tokens_per_s, 2)
                           if stats.decode_s > 0 else None}
                if seq2seq:
                    timings = {"encode_s": timings.pop("prefill_s"), "encoder_tokens_per_s": round(stats.prefill_tokens_per_s, 2)
                               if stats.prefill_s > 0 else None, **timings}
                for (p, ids), result in zip(todo, results):
                    if seq2seq:
                        (new, text, reason, score), others = result[0], result[1:]
                        alts = [{"text": t, "token_ids": i, "finish_reason": r, "score": sc} for i, t, r, sc in others]
                        done[p.index] = Seq2SeqGeneration(p.index, text, new, reason, len(ids), timings, score, alts)
                    else:
                        new, text, reason = result
                        done[p.index] = Generation(p.index, text, new, reason, len(ids), timings)
                if on_stats is not None:
                    on_stats(stats)
        for p, _, _ in group:
            yield done[p.index] if p.index in done else error_record(p.index, failed[p.index])


# --- encoder-decoders (T5, BART): the encoder once, then the decoder token by token or in beams ------------

def is_seq2seq(model) -> bool:
    return bool(getattr(model.module, "is_seq2seq", False))


def check_encoder_input(model, s: GenerationSettings, index: int, n: int) -> None:
    """An input the encoder can take, and room for at least one decoder token."""
    if model.max_positions is not None and n > model.max_positions:
        raise UsageError(f"input {index}: {n} tokens is more than this model's {model.max_positions} positions",
                         "shorten the input")
    new_token_budget(model, s, 1)


def task_prefix(config, name: str) -> tuple[str, dict]:
    """A T5 `task_specific_params` entry by its name or a start of it ("summarization", "summ", "translation_en_to_de"),
    or by the start of its prefix text ("summarize", "translate English to German") -> (prefix text, settings)."""
    params = config.raw.get(TASK_PARAMS)
    if not isinstance(params, dict) or not params:
        raise UsageError("this checkpoint's config.json has no task_specific_params, so --task-prefix has nothing to apply",
                         "put the prefix into the input text instead")
    entries = {k: v for k, v in params.items() if isinstance(v, dict)}
    want = name.strip().lower()
    hits = [k for k in entries if k.lower() == want]
    if not hits:
        hits = [k for k, v in entries.items() if k.lower().startswith(want)
                or str(v.get("prefix", "")).strip().rstrip(":").lower().startswith(want)]
    if len(hits) != 1:
        what = "matches none" if not hits else f"matches {', '.join(sorted(hits))}"
        raise UsageError(f"--task-prefix {name!r} {what} of task_specific_params", f"choose one of: {', '.join(sorted(entries))}")
    entry = dict(entries[hits[0]])
    prefix = entry.pop("prefix", "")
    return (prefix if isinstance(prefix, str) else ""), entry


def seq2seq_batch(model, tokenizer, rows: list[list[int]], s: GenerationSettings, *,
                  on_text: Callable[[int, str], None] | None = None) -> tuple[list[list[tuple]], Stats]:
    """Input rows -> per row [(token ids, text, finish reason, score)] (num_return_sequences of them, best first) and Stats.

    Greedy and sampled decoding stream each row's text through on_text(row, delta); beam search hands out
    the best text when the search ends (a beam's text can change until then)."""
    import torch

    from autocli.tasks.beam import Processors, beam_search

    module, device = model.module, model.device
    B, S = len(rows), max(len(r) for r in rows)
    pad, eos, start = s["pad_token_id"], list(s["eos_token_id"]), int(s["decoder_start_token_id"])
    budget = new_token_budget(model, s, 1)  # the decoder's positions count its start token
    ids = torch.tensor([r + [pad] * (S - len(r)) for r in rows], dtype=torch.long, device=device)  # (B, S) right-padded
    mask = torch.tensor([[1] * len(r) + [0] * (S - len(r)) for r in rows], dtype=torch.long, device=device)
    forced_eos = s["forced_eos_token_id"]
    proc = Processors(eos=eos, repetition_penalty=float(s["repetition_penalty"]), no_repeat_ngram_size=int(s["no_repeat_ngram_size"]),
                      min_length=int(s["min_length"]), forced_bos_token_id=s["forced_bos_token_id"],
                      forced_eos_token_id=None if forced_eos is None else _as_list(forced_eos), max_length=1 + budget)
    settings = beams(s)
    K = settings.num_beams

    def emit(row: int, delta: str) -> None:
        if delta and on_text is not None:
            on_text(row, delta)

    ttft = None
    with torch.inference_mode():
        t0 = time.perf_counter()
        enc = module.encode(ids, mask)  # (B, S, H)
        cache = module.new_cache(enc, mask, K, budget)
        t_enc = time.perf_counter()
        if K > 1:
            def step(tokens):
                nonlocal ttft
                logits = module.step(tokens.to(device), cache)
                ttft = ttft if ttft is not None else time.perf_counter() - t0
                return logits

            hyps = beam_search(step, lambda r: cache.reorder(r.to(device)), B, start, budget, eos, pad, settings, proc)
            results = []
            for b in range(B):
                row = []
                for h in hyps[b]:
                    stream = TextStream(tokenizer, [])
                    toks = h.tokens[:-1] if h.tokens and h.tokens[-1] in eos else h.tokens
                    text = "".join(stream.push(t) for t in toks) + stream.finish()
                    row.append((h.tokens, text, "eos" if h.tokens and h.tokens[-1] in eos else "length", h.score))
                emit(b, "\n".join(r[1] for r in row))
                results.append(row)
            new_tokens = sum(len(h.tokens) for row in hyps for h in row[:1])
        else:
            results, new_tokens, ttft = _seq2seq_sample(module, tokenizer, cache, B, start, budget, eos, pad, proc, s, emit, t0)
        t_end = time.perf_counter()
    stats = Stats(prompts=B, prompt_tokens=int(mask.sum()), prefill_s=t_enc - t0, ttft_s=ttft or 0.0, new_tokens=max(new_tokens - B, 0),
                  decode_s=t_end - t0 - (ttft or 0.0), peak_memory_bytes=peak_memory(device))
    return results, stats


def _seq2seq_sample(module, tokenizer, cache, B, start, budget, eos, pad, proc, s, emit, t0):
    """Greedy or sampled decoding: each row's text streams as it grows; finished rows are fed pad."""
    import torch

    from autocli.tasks.sampling import warp

    device = cache.k[0].device
    samp = sampling(s)
    generator = None
    if not samp.greedy:
        generator = torch.Generator(device=device)
        if samp.seed is not None:
            generator.manual_seed(samp.seed)
        else:
            generator.seed()
    eos_set = set(eos)
    seq = torch.full((B, 1 + budget), start, dtype=torch.long, device=device)  # decoder tokens so far (processors read them)
    streams = [TextStream(tokenizer, list(s["stop_strings"])) for _ in range(B)]
    out_ids: list[list[int]] = [[] for _ in range(B)]
    reasons: list[str | None] = [None] * B
    live = torch.ones(B, dtype=torch.bool, device=device)
    tokens = seq[:, 0]
    ttft = None
    for step in range(budget):
        logits = module.step(tokens, cache).float()  # (B, V)
        scores = proc(seq[:, : step + 1], logits)
        if samp.greedy:
            nxt = scores.argmax(dim=-1)
        else:
            nxt = torch.multinomial(torch.softmax(warp(scores, samp), dim=-1), 1, generator=generator).squeeze(1)
        nxt = torch.where(live, nxt, torch.full_like(nxt, pad))  # finished rows continue with padding, as transformers
        seq[:, step + 1] = nxt
        if ttft is None:
            ttft = time.perf_counter() - t0
        for b, tok in enumerate(nxt.tolist()):
            if reasons[b] is not None:
                continue
            out_ids[b].append(tok)
            if tok in eos_set:
                reasons[b] = "eos"
            else:
                emit(b, streams[b].push(tok))
                if streams[b].stopped:
                    reasons[b] = "stop"
                elif len(out_ids[b]) == budget:
                    reasons[b] = "length"
            if reasons[b] is not None:
                live[b] = False
        if all(r is not None for r in reasons) or step == budget - 1:
            break
        tokens = nxt
    results = []
    for b in range(B):
        emit(b, streams[b].finish())
        results.append([(out_ids[b], streams[b].text, reasons[b] or "length", None)])
    return results, sum(len(o) for o in out_ids), ttft
