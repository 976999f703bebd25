"""`autocli generate MODEL [PROMPT...]`: continue prompts with a causal LM, streaming the text."""

from __future__ import annotations

import sys
from enum import Enum
from typing import Annotated, Optional

import typer

from autocli.cli import options as o
from autocli.tasks.gen_settings import BATCH_SIZE, MAX_NEW_TOKENS  # torch-free

DECODING = "Decoding (defaults: generation_config.json, else greedy)"
BEAMS = "Encoder-decoders (t5, bart): beam search and task prefixes"

EPILOG = (
    "Settings come from the checkpoint's generation_config.json, then these options; --show-config lists each "
    "value and its source. On a terminal, text streams as it is produced, one prompt after another, each ending "
    "with a newline. In a pipe, one prompt gives its plain text and several give JSONL, one record per prompt in "
    "input order (index, text, token_ids, finish_reason eos|stop|length, timings); --format text|table|json|jsonl "
    "chooses. --logprobs N adds each token's log-probability and the N most likely tokens at that step.\n\n"
    "Examples:\n\n"
    "  autocli generate openai-community/gpt2 \"The meaning of life is\" --max-new-tokens 40\n\n"
    "  autocli generate Qwen/Qwen2.5-0.5B-Instruct --chat \"Name three rivers.\" --sample --temperature 0.7 --seed 1\n\n"
    "  cat chats.jsonl | autocli generate ./model --jsonl --format jsonl --stop \"\\n\\n\"   "
    "# {\"prompt\": ...} or {\"messages\": [...]}\n\n"
    "  autocli generate google-t5/t5-small --task-prefix translation_en_to_de \"The house is wonderful.\" --num-beams 4"
)


class GenFormat(str, Enum):
    text = "text"
    table = "table"
    json = "json"
    jsonl = "jsonl"


def default_format(prompts: int, logprobs: bool, tty: bool) -> GenFormat:
    """Without --format: streamed text on a terminal (a table with --logprobs, which text cannot show); in a
    pipe the machine form: one prompt's plain text, or JSONL records (always with --logprobs)."""
    if tty:
        return GenFormat.table if logprobs else GenFormat.text
    return GenFormat.text if prompts == 1 and not logprobs else GenFormat.jsonl


SHARED = ("input_file", "jsonl", "batch_size", "device", "dtype", "allow_pickle", "tokenizer_source", *o.HUB_OPTIONS,
          "json_flag", "quiet", "verbose", *o.GOLDEN_OPTIONS, *o.ENGINE_OPTIONS)


@o.shared_options(SHARED, batch_size=(o.BatchSize, BATCH_SIZE))
def generate_cmd(
    model: o.Checkpoint,
    prompts: Annotated[Optional[list[str]], typer.Argument(help="Prompts ('-' or none: stdin, one per line).", show_default=False)] = None,
    chat: Annotated[bool, typer.Option("--chat", help="Render prompts with the checkpoint's chat template.", rich_help_panel="Input")] = False,
    system: Annotated[Optional[str], typer.Option("--system", help="System message for --chat (and JSONL messages).", rich_help_panel="Input")] = None,
    sample: Annotated[Optional[bool], typer.Option("--sample/--greedy", help="Sample instead of picking the most likely token.", rich_help_panel=DECODING, show_default=False)] = None,
    temperature: Annotated[Optional[float], typer.Option("--temperature", min=0.0, help="Sampling temperature (0 = greedy).", rich_help_panel=DECODING)] = None,
    top_k: Annotated[Optional[int], typer.Option("--top-k", min=0, help="Sample from the K most likely tokens (0 = off; default 50).", rich_help_panel=DECODING)] = None,
    top_p: Annotated[Optional[float], typer.Option("--top-p", min=0.0, max=1.0, help="Nucleus sampling mass (1 = off).", rich_help_panel=DECODING)] = None,
    min_p: Annotated[Optional[float], typer.Option("--min-p", min=0.0, max=1.0, help="Drop tokens below MIN_P x the top probability.", rich_help_panel=DECODING)] = None,
    repetition_penalty: Annotated[Optional[float], typer.Option("--repetition-penalty", help="Penalise tokens already present (1 = off).", rich_help_panel=DECODING)] = None,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Random seed: the same seed gives the same samples.", rich_help_panel=DECODING)] = None,
    max_new_tokens: Annotated[Optional[int], typer.Option("--max-new-tokens", min=1, help=f"New tokens per prompt at most (default {MAX_NEW_TOKENS}).", rich_help_panel=DECODING)] = None,
    ignore_eos: Annotated[bool, typer.Option("--ignore-eos", help="Do not stop at end-of-sequence tokens (benchmarks).", rich_help_panel=DECODING)] = False,
    stop: Annotated[Optional[list[str]], typer.Option("--stop", help="Stop when the text contains STRING (repeatable); it is not printed.", rich_help_panel=DECODING)] = None,
    num_beams: Annotated[Optional[int], typer.Option("--num-beams", min=1, help="Beam search with N beams (1 = greedy or sampling).", rich_help_panel=BEAMS)] = None,
    length_penalty: Annotated[Optional[float], typer.Option("--length-penalty", help="Beam scores are divided by length ** P (> 0 favours longer outputs).", rich_help_panel=BEAMS)] = None,
    early_stopping: Annotated[Optional[bool], typer.Option("--early-stopping/--no-early-stopping", help="Stop the search once N beams have finished.", rich_help_panel=BEAMS, show_default=False)] = None,
    no_repeat_ngram_size: Annotated[Optional[int], typer.Option("--no-repeat-ngram-size", min=0, help="Never repeat an N-gram of the output (0 = off).", rich_help_panel=BEAMS)] = None,
    num_return_sequences: Annotated[Optional[int], typer.Option("--num-return-sequences", min=1, help="Sequences per input from beam search (the best is the record's text).", rich_help_panel=BEAMS)] = None,
    logprobs: Annotated[Optional[int], typer.Option("--logprobs", min=0, max=100, help="Add each new token's log-probability and the N most likely tokens at its step.", rich_help_panel=o.OUT)] = None,
    echo: Annotated[bool, typer.Option("--echo", help="Print the prompt and its continuation as one text (decoded together).", rich_help_panel=o.OUT)] = False,
    task_prefix: Annotated[Optional[str], typer.Option("--task-prefix", help="Apply a task_specific_params entry (T5: summarization, translation_en_to_de, ...): its prefix and settings.", rich_help_panel=BEAMS)] = None,
    show_config: Annotated[bool, typer.Option("--show-config", help="Print each generation setting with its source, and exit.", rich_help_panel=o.OUT)] = False,
    stats: Annotated[bool, typer.Option("--stats", help="Print prompt tokens, prefill and decode speed, time to first token and peak memory to stderr.", rich_help_panel=o.OUT)] = False,
    kernels: o.KernelsOpt = o.Kernels.auto,
    fmt: Annotated[Optional[GenFormat], typer.Option("--format", "-f", help="text: streamed; table; jsonl: one record per prompt; json: one document (default: text on a terminal, the machine form in a pipe).", rich_help_panel=o.OUT, show_default=False)] = None,
    shared: o.Shared = None,
) -> None:
    """Generate text from prompts with a causal LM or an encoder-decoder (greedy, sampled or beam search)."""
    import time

    from autocli.tasks import describe_load
    from autocli.tasks.gen_settings import task_prefix as find_task
    from autocli.tasks.generate import generate

    start = time.perf_counter()
    flags = _flags(locals())
    fmt = GenFormat.json if shared.json_flag else fmt
    ckpt = _checkpoint(model, shared.hub)
    config = ckpt.config()
    seq2seq = _is_seq2seq(config, flags, task_prefix, echo)
    prefix, task_params = find_task(config, task_prefix) if task_prefix is not None else ("", None)
    if show_config:
        _show_config(ckpt, _tokenizer(ckpt, shared, False), flags, seq2seq, task_params, fmt)
        return
    items = _prompts(prompts, shared, prefix, chat, system)
    fmt = fmt or default_format(len(items), logprobs is not None, sys.stdout.isatty())

    tokenizer = shared.keep("tokenizer", lambda: _tokenizer(ckpt, shared, chat))
    settings = _resolve(ckpt, tokenizer, flags, seq2seq, task_params)
    loaded = _load(ckpt, tokenizer, items, settings, seq2seq, chat, system, shared)
    loaded.module.kernels = kernels.value
    if loaded.module.kind == "decoder":  # a kernel this CPU cannot run: refused once (exit 5), not per prompt
        from autocli.kernels import pick

        pick(kernels.value, loaded.dtype, loaded.device)
    o.note_time(shared.verbose, start, describe_load(ckpt, loaded, tokenizer, shared.tokenizer_source))
    _print(items, fmt, stats, shared, lambda on_text, on_stats: generate(
        loaded, tokenizer, items, settings, chat=chat, system=system, batch_size=shared.batch_size, logprobs=logprobs,
        echo=echo, on_text=on_text, on_stats=on_stats))

def _load(ckpt, tokenizer, items, settings, seq2seq: bool, chat: bool, system, shared: o.Shared):
    """The model, in the dtype --dtype auto picks for this job (the prompts are encoded first to weigh it)."""
    from autocli.models import load_model, resolve_device
    from autocli.tasks.generate import auto_dtype, encode_prompts

    encode_prompts(tokenizer, items, chat, system)
    dt = shared.dtype
    if dt == "auto":
        ready = [p for p in items if p.ids is not None]
        dt = auto_dtype(ckpt.config(), resolve_device(shared.device), sum(len(p.ids) for p in ready),
                        settings["max_new_tokens"] * len(ready))
    task = "seq2seq-lm" if seq2seq else "causal-lm"
    return shared.keep(("model", task, dt), lambda: load_model(ckpt, task, device=shared.device, dtype=dt, allow_pickle=shared.allow_pickle))


def _checkpoint(model: str, where: dict):
    """The checkpoint's files; remote code is refused before anything reads them."""
    from autocli.compat.weights import refuse_unloadable
    from autocli.tasks import resolve

    ckpt = resolve(model, **where)
    refuse_unloadable(ckpt)
    return ckpt


# command-line option -> generation setting (the others keep their names)
SETTING_NAMES = {"sample": "do_sample", "stop": "stop_strings"}
SETTINGS = ("sample", "temperature", "top_k", "top_p", "min_p", "repetition_penalty", "max_new_tokens", "stop", "seed",
            "ignore_eos", "num_beams", "length_penalty", "early_stopping", "no_repeat_ngram_size", "num_return_sequences")


def _flags(options: dict) -> dict:
    """The generation settings given on the command line (None: not given)."""
    flags = {SETTING_NAMES.get(k, k): options[k] for k in SETTINGS}
    flags["stop_strings"] = list(flags["stop_strings"] or [])
    if options["temperature"] == 0 and options["sample"] is None:
        flags["do_sample"] = False  # --temperature 0 means greedy
    return flags


def _is_seq2seq(config, flags: dict, task_prefix, echo: bool) -> bool:
    """Whether the checkpoint generates with an encoder-decoder; options that only apply to the other kind are refused."""
    from autocli import registry
    from autocli.errors import Unsupported

    fam = registry.family(config.model_type)
    seq2seq = fam is not None and fam.kind == "seq2seq"
    if seq2seq and "causal-lm" in registry.declared_tasks(config.architectures):
        raise Unsupported(f"{config.architectures[0]} (a decoder without its encoder) is not supported by generate",
                          "generate runs the encoder-decoder checkpoints (*ForConditionalGeneration) of this family")
    beam_flags = ("num_beams", "length_penalty", "early_stopping", "no_repeat_ngram_size", "num_return_sequences")
    given = [k for k in beam_flags if flags[k] is not None] + (["task_prefix"] if task_prefix is not None else [])
    if not seq2seq and given:
        raise Unsupported(f"--{given[0].replace('_', '-')} is for encoder-decoder checkpoints (t5, bart), not {config.model_type}",
                          "drop the option; causal LMs decode greedily or by sampling")
    if seq2seq and echo:
        raise Unsupported("--echo is for decoder-only models: an encoder-decoder's output does not continue its input",
                          "drop --echo")
    return seq2seq


def _tokenizer(ckpt, shared: o.Shared, chat: bool):
    """The checkpoint's tokenizer, or --tokenizer SRC's (remote code refused there too)."""
    from autocli.errors import Unsupported
    from autocli.tasks import tokenizer_of

    tokenizer = tokenizer_of(ckpt, shared.tokenizer_source, **shared.hub)
    if chat and tokenizer.chat_template is None:
        raise Unsupported("this checkpoint has no chat template, so --chat cannot render prompts",
                          "chat needs tokenizer_config.json \"chat_template\" or chat_template.jinja; drop --chat to continue plain text")
    return tokenizer


def _resolve(ckpt, tokenizer, flags: dict, seq2seq: bool, task_params):
    from autocli.tasks.gen_settings import GENERATION_CONFIG, resolve_settings

    return resolve_settings(ckpt.config(), ckpt.json(GENERATION_CONFIG), tokenizer, flags, seq2seq=seq2seq, task_params=task_params)


def _show_config(ckpt, tokenizer, flags: dict, seq2seq: bool, task_params, fmt) -> None:
    """--show-config: the settings table on a terminal, one JSON document in a pipe."""
    from autocli import render, render_generate  # noqa: F401  (registers the settings table)

    settings = _resolve(ckpt, tokenizer, flags, seq2seq, task_params)
    if fmt is None:
        fmt = GenFormat.table if sys.stdout.isatty() else GenFormat.json
    render.emit(settings, "table" if fmt in (GenFormat.text, GenFormat.table) else fmt.value)


def _print(items, fmt: GenFormat, stats: bool, shared: o.Shared, run) -> None:
    """Run the generation and print each record as the format says; exit 6 when a record drifted from
    --expect's golden run, else 7 when some prompts failed."""
    from autocli import render, render_generate as rg
    from autocli.tasks.generate import Generation

    if shared.routed:  # an --output job's shard: the engine takes the records
        shared.emit(run(None, None), Generation)
        return
    stream = rg.OrderedStream([p.index for p in items]) if fmt == GenFormat.text else None
    records = shared.watch(run(stream.text if stream else None, rg.generation_stats if stats else None), rg.record)
    if fmt == GenFormat.table:  # its columns fit every record: printed at the end
        tally = render.emit_records(records, "table", of=Generation)
        shared.check_golden()
        render.finish(tally, "prompts")
        return
    tally, kept = render.Tally(), []
    for record in records:
        tally.total += 1
        if isinstance(record, render.ErrorRecord):
            tally.failed += 1
            if stream is None:  # the streamed text says it itself
                render.stream_error(record)
        if stream is not None:
            stream.finished(record)
        elif fmt == GenFormat.jsonl:
            rg.jsonl_record(record)
        else:
            kept.append(record)
    if fmt == GenFormat.json:
        rg.json_document(kept)
    shared.check_golden()
    render.finish(tally, "prompts")


def _prompts(args, shared: o.Shared, prefix: str, chat: bool, system: str | None):
    """Inputs -> Prompts: plain lines, or JSONL objects with "prompt" (text, after the task prefix) or "messages" (chat)."""
    from autocli.errors import UsageError
    from autocli.inputs import not_a_text
    from autocli.tasks.generate import Prompt

    if system is not None and not chat and not shared.jsonl:
        raise UsageError("--system needs --chat", "add --chat to render the prompt with the chat template")

    out = []
    for item in shared.read(args, primary="prompt"):
        p = Prompt(item.index, error=item.error)
        if item.error is None:
            text, messages = item.fields.get("prompt"), item.fields.get("messages")
            if messages is not None:
                if not isinstance(messages, list) or not messages:
                    p.error = UsageError(f"input {item.index}: 'messages' must be a non-empty list", 'use "messages": [{"role": "user", "content": "..."}]')
                else:
                    p.messages = messages
            elif isinstance(text, str) and not_a_text(text):
                p.error = not_a_text(text)
            elif isinstance(text, str):
                p.text = prefix + text
            else:
                got = "missing" if text is None else f"a {type(text).__name__}"
                p.error = UsageError(f"input {item.index}: field 'prompt' is {got}", 'each JSONL object needs "prompt": "..." or "messages": [...]')
        out.append(p)
    return out
