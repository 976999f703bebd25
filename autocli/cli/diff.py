"""`autocli diff A B`: what differs between two checkpoints; with --outputs, how far apart their outputs are."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from autocli.cli import options as o

EPILOG = (
    "Compares config.json keys that change the math, architectures, the heads present and each task's compat "
    "verdict, the tensors (added, removed, reshaped, retyped; repeated layers collapsed), tied weights, the "
    "tokenizer, generation_config.json and the preprocessor config, from headers only. When both are local "
    "folders each tensor's bytes are hashed too (`content` changes; --no-hashes skips it). Nothing is loaded "
    "and torch is not imported unless --outputs is given.\n\n"
    "--outputs runs both checkpoints on the same ids (A's tokenizer): max |Δ| of the head's outputs, top-1 "
    "agreement, mean KL(A || B) of the softmaxed outputs and, for language models, greedy continuation agreement "
    "over --max-new-tokens.\n\n"
    "Exit codes: 0 whether or not they differ; 6 when a gate fails (--max-kl, --require-same-tokenizer, "
    "--require-same-heads); the report is printed in every case. --format json: schema autocli.diff/1, "
    "printed by `autocli diff --schema`.\n\n"
    "Examples:\n\n"
    "  autocli diff ./fine-tuned ./base\n\n"
    "  autocli diff org/model@v1 org/model@v2 --json | jq '.tensors'\n\n"
    "  autocli diff ./export ./original --outputs prompts.txt --max-kl 1e-4 --require-same-tokenizer"
)


def _schema() -> dict:
    from autocli.diff.schema import SCHEMA

    return SCHEMA


Schema = o.schema_option(_schema)
GATES = "Gates (exit 6)"
OPTIONS = ("offline", "cache_dir", "token", "batch_size", "max_length", "device", "dtype", *o.OUTPUT_OPTIONS)


@o.shared_options(OPTIONS)
def diff_cmd(
    a: Annotated[str, typer.Argument(help="A local folder or Hub id (org/name@rev).", show_default=False, metavar="A")],
    b: Annotated[str, typer.Argument(help="The checkpoint to compare it with.", show_default=False, metavar="B")],
    outputs: Annotated[Optional[list[str]], typer.Option(
        "--outputs", metavar="INPUTS",
        help="Run both on these inputs: a text file (one input per line) or a text; repeatable. Loads both models.")] = None,
    task: Annotated[Optional[str], typer.Option("--task", "-t", help="The head to compare with --outputs (default: "
                                                "the task both declare, else base).")] = None,
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", min=0, help="Greedy tokens per input compared "
                                                "for language models (--outputs).")] = 8,
    no_hashes: Annotated[bool, typer.Option("--no-hashes", help="Do not hash local tensors' bytes.")] = False,
    max_kl: Annotated[Optional[float], typer.Option("--max-kl", min=0.0, metavar="X", rich_help_panel=GATES,
                                                    help="Exit 6 when the mean KL divergence exceeds X (needs --outputs).")] = None,
    same_tokenizer: Annotated[bool, typer.Option("--require-same-tokenizer", rich_help_panel=GATES,
                                                 help="Exit 6 when the tokenizers differ.")] = False,
    same_heads: Annotated[bool, typer.Option("--require-same-heads", rich_help_panel=GATES,
                                             help="Exit 6 when the heads present in the weights differ.")] = False,
    schema: Schema = False,
    *,
    shared: o.Shared,
) -> None:
    """Show what differs between two checkpoints (configs, tensors, tokenizer), optionally their outputs."""
    from autocli import render
    from autocli.checkpoint import Checkpoint
    from autocli.diff import diff, gate_failures
    from autocli.errors import RequirementFailed, UsageError

    if max_kl is not None and not outputs:
        raise UsageError("--max-kl needs --outputs", "add --outputs INPUTS: the texts both checkpoints run on")
    texts = _inputs(outputs) if outputs else None
    ckpts = [Checkpoint.resolve(spec, **shared.hub) for spec in (a, b)]
    result = diff(*ckpts, hashes=not no_hashes)
    if texts is not None:
        from autocli.diff.outputs import compare_outputs

        result.outputs = compare_outputs([a, b], ckpts, texts, task, max_new_tokens, shared)
    result.failed = gate_failures(result, max_kl, same_tokenizer, same_heads)
    render.emit(result, shared.format(o.Format.json))
    if result.failed:
        raise RequirementFailed("diff gates failed: " + "; ".join(result.failed), "the report above shows each difference")


def _inputs(values: list[str]) -> list[str]:
    """--outputs values: a file's lines (blank ones skipped), or the text itself."""
    from pathlib import Path

    from autocli.errors import UsageError

    texts = []
    for value in values:
        path = Path(value)
        if path.is_file():
            try:
                texts += [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
            except (OSError, UnicodeDecodeError) as e:
                raise UsageError(f"cannot read --outputs file {value}: {e}", "pass a UTF-8 text file, one input per line") from None
        else:
            texts.append(value)
    if not texts:
        raise UsageError("--outputs gave no inputs", "pass a text, or a file with one input per line")
    return texts
