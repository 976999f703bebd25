"""`autocli eval MODEL DATA`: loss and metrics of a checkpoint on a labelled data file, with CI bounds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from autocli.cli import options as o

EPILOG = (
    "Tasks and data (the task comes from the checkpoint's architectures unless --task):\n\n"
    "  causal-lm                 a plain text file (one stream), or JSONL {\"text\"} (rows joined with a blank line):\n"
    "                            loss, perplexity, bits_per_byte, with transformers' strided window (--max-length, --stride)\n\n"
    "  seq2seq-lm                JSONL {\"source\", \"target\"}: loss, perplexity (teacher forcing, every target token)\n\n"
    "  sequence-classification   JSONL {\"text\", \"text_pair\"?, \"label\"} or CSV/TSV with a header: loss, accuracy,\n"
    "                            macro_f1, micro_f1, per-label precision/recall, confusion matrix\n\n"
    "  token-classification      JSONL {\"tokens\": [...], \"tags\": [...]} or CoNLL (.conll): entity precision, recall,\n"
    "                            f1 (seqeval's default mode) and strict_* (IOB2), per entity type\n\n"
    "  question-answering        JSONL {\"question\", \"context\", \"answers\": {\"text\": [...], \"answer_start\": [...]}}:\n"
    "                            exact_match, f1 (SQuAD, 0-100); --allow-impossible: has_ans_* and no_ans_* (v2.0)\n\n"
    "  multiple-choice           JSONL {\"question\", \"choices\": [...], \"label\": position or text}: loss, accuracy\n\n"
    "  generation (--task)       JSONL {\"prompt\" (causal LM) or \"source\" (encoder-decoder), \"reference\"}: exact_match,\n"
    "                            chrf (sacrebleu: pip install 'autocli[eval]'), with the checkpoint's generation settings\n\n"
    "Every task that reads rows also reads Parquet (.parquet, its columns as the fields; pip install 'autocli[parquet]').\n\n"
    "A row that cannot be scored is counted and reported (exit 7 when every bound holds); a bound that fails exits 6, "
    "and the JSON lists the bounds with their values.\n\n"
    "Examples:\n\n"
    "  autocli eval ./gpt2-finetune wiki.test.txt --max-length 1024 --stride 512 --max perplexity=30\n\n"
    "  autocli eval ./sst2-model dev.jsonl --min accuracy=0.91 --min macro_f1=0.9 --format json\n\n"
    "  autocli eval ./ner-model dev.conll --min f1=0.85 --predictions preds.jsonl"
)

EVAL_OPTIONS = ("batch_size", "max_length", "device", "dtype", "allow_random_head", "allow_pickle", "tokenizer_source",
                *o.HUB_OPTIONS, *o.OUTPUT_OPTIONS)


@o.shared_options(EVAL_OPTIONS)
def eval_cmd(
    model: o.Checkpoint,
    data: Annotated[Path, typer.Argument(help="The labelled data: .jsonl, .csv, .tsv, .conll, or plain text (causal LM).", show_default=False, metavar="DATA")],
    task: Annotated[Optional[str], typer.Option("--task", help="The task to evaluate (default: the checkpoint's architectures).")] = None,
    min_: Annotated[Optional[list[str]], typer.Option("--min", metavar="METRIC=VALUE", help="Fail (exit 6) when METRIC is below VALUE; repeatable.")] = None,
    max_: Annotated[Optional[list[str]], typer.Option("--max", metavar="METRIC=VALUE", help="Fail (exit 6) when METRIC is above VALUE; repeatable.")] = None,
    limit: Annotated[Optional[int], typer.Option("--limit", min=1, help="Evaluate the first N rows (lines of a plain text file).")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seeds torch: generation's sampling (when the checkpoint samples), a random head under --allow-random-head.")] = 0,
    predictions: Annotated[Optional[Path], typer.Option("--predictions", metavar="FILE", help="Write one JSON line per example (causal LM: per window).")] = None,
    stride: Annotated[Optional[int], typer.Option("--stride", min=1, help="Causal LM: tokens each window moves on (default: half the window).")] = None,
    max_new_tokens: Annotated[Optional[int], typer.Option("--max-new-tokens", min=1, help="Generation: new tokens per prompt at most (default: the checkpoint's, as generate).")] = None,
    allow_impossible: Annotated[bool, typer.Option("--allow-impossible", help="QA: rows without a gold answer are unanswerable questions (SQuAD v2.0).")] = False,
    *,
    shared: o.Shared,
) -> None:
    """Score a checkpoint on labelled data: loss, perplexity, accuracy, F1; --min/--max gate CI (exit 6)."""
    from autocli import evaluate
    from autocli.evaluate.bounds import check_names, parse_bounds

    bounds = parse_bounds(min_ or [], max_ or [])
    task_name = pick_task(model, task, shared)
    check_names(bounds, evaluate.metrics_of(task_name), task_name)
    if not data.is_file():
        from autocli.errors import UsageError

        what = f"{data} is a directory, not a data file" if data.is_dir() else f"no data file {data}"
        raise UsageError(what, "give the path of a .jsonl, .csv, .tsv, .conll or text file")
    import torch

    torch.manual_seed(seed)
    runner = evaluate.module_for(task_name)
    load_task = task_name
    if task_name == "generation":
        from autocli.tasks import resolve

        runner.chrf_module()  # the optional extra, before the model loads
        load_task = runner.model_task(resolve(model, **shared.hub).config())
    ckpt, tokenizer, loaded = shared.load(model, load_task)
    options = evaluate.EvalOptions(shared.batch_size, shared.max_length, stride, limit, shared.quiet, allow_impossible, seed, ckpt,
                                   max_new_tokens)
    outcome = runner.evaluate(loaded, tokenizer, data, options)
    if predictions is not None:
        write_predictions(predictions, outcome.predictions)
    report = evaluate.report(outcome, task_name, model, str(data), bounds)
    from autocli import render

    render.emit(report, shared.format(natural=o.Format.json).value)
    evaluate.finish(report, shared.quiet)


def pick_task(model: str, task: str | None, shared: o.Shared) -> str:
    """--task, or the first evaluable task the checkpoint's architectures declare."""
    from autocli import evaluate, registry
    from autocli.errors import Unsupported, UsageError

    if task is not None:
        name = "generation" if task.strip().lower() == "generation" else registry.canonical_task(task)
        if name not in evaluate.MODULES:
            raise UsageError(f"--task {task!r} is not a task autocli eval runs", f"use one of: {', '.join(evaluate.MODULES)}")
        return name
    from autocli.tasks import resolve

    config = resolve(model, **shared.hub).config()
    declared = registry.declared_tasks(config.architectures, registry.family(config.model_type))
    for name in declared:
        if name in evaluate.MODULES:
            return name
    raise Unsupported(f"the checkpoint declares {', '.join(declared) or 'no task'}; autocli eval runs {', '.join(evaluate.MODULES)}",
                      "give --task to evaluate another head")


def write_predictions(path: Path, rows: list) -> None:
    import json

    from autocli.errors import UsageError
    from autocli.render import to_data

    try:
        with open(path, "w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(to_data(row), ensure_ascii=False, allow_nan=False) + "\n")
    except OSError as e:
        raise UsageError(f"cannot write --predictions {path}: {e.strerror}", "check the path") from None
