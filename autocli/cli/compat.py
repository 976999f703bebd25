"""`autocli compat MODEL...`: which tasks each checkpoint runs, plus lint, from headers only."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from autocli.cli import options as o

EPILOG = (
    "Verdicts: ready · head-untrained (the head's weights are missing: it would be random) · "
    "unsupported-head · family-unsupported · blocked (remote code or pickle-only weights) · "
    "error (unreadable or refused checkpoint) · incomplete (the head is there, but the tokenizer or the "
    "generation setup is missing or unusable). Ready means everything the task needs is present and loads: "
    "head weights, a tokenizer (or --tokenizer) for text, a preprocessor_config.json autocli runs for images "
    "and audio (and vocab.json for CTC), a usable generation_config.json for generation; the JSON "
    "lists every unmet requirement per task and names transformers' Auto class.\n\n"
    "Lint findings (severity error, warning or info): dimensions, norm-eps, tensor-dtype, tensor-shape, "
    "missing-tensor, architectures-model-type, "
    "architectures-weights, id2label-size, generic-labels, bio-tags, problem-type, vocab-size, max-length, "
    "tied-embeddings, decoder-pad-token, index-missing-shard, index-extra-shard, index-missing-tensor, "
    "index-unlisted-tensor, mixed-dtypes, tokenizer-invalid, tokenizer-missing, generation-config, "
    "preprocessor-missing, preprocessor-invalid, preprocessor-type. "
    "--format json: schema autocli.compat/1, printed by `autocli compat --schema`; --format jsonl: one "
    "checkpoint per line, each with schema and ok.\n\n"
    "Exit codes: 0 every --require met (and, with --strict, no lint error); "
    "6 some checkpoint is not ready for a --require task (an unreadable one never is), "
    "or --strict and a lint error; when no checkpoint could be read at all, the first one's own code "
    "(3 not reachable, 4 invalid). The report is printed in every case.\n\n"
    "Examples:\n\n"
    "  autocli compat ./my-model\n\n"
    "  autocli compat dslim/bert-base-NER bert-base-cased --task ner --task AutoModelForQuestionAnswering\n\n"
    "  autocli compat org/model --require token-classification --strict --format json\n\n"
    "CI (a GitHub Actions step):\n\n"
    "  - name: Check the model runs as a token classifier\n\n"
    "    run: autocli compat org/model --require token-classification"
)


def _task_names(incomplete: str) -> list[str]:
    """Shell completion of --task / --require: the canonical names first, then transformers' and aliases."""
    from autocli import registry

    classes = {c.lower() for c in registry.AUTO_CLASSES.values()}
    names = [*registry.TASKS, *sorted(registry.AUTO_CLASSES.values()), *sorted(set(registry.TASK_ALIASES) - classes)]
    return [n for n in names if n.lower().startswith(incomplete.lower()) and registry.canonical_task(n)]


def _print_schema(value: bool) -> None:
    if value:
        import json

        from autocli.compat.schema import SCHEMA

        typer.echo(json.dumps(SCHEMA, indent=2))
        raise typer.Exit()


@o.shared_options(o.HUB_OPTIONS + o.OUTPUT_OPTIONS)
def compat_cmd(
    checkpoints: Annotated[
        list[str],
        typer.Argument(help="Local folders or Hub ids (org/name, org/name@rev).", show_default=False, metavar="MODEL..."),
    ],
    task: Annotated[
        Optional[list[str]],
        typer.Option("--task", "-t", metavar="TASK", autocompletion=_task_names,
                     help="Only these tasks (repeatable; transformers' names such as token-classification or "
                          "AutoModelForTokenClassification, and aliases such as ner, qa, fill-mask work). Default: all."),
    ] = None,
    require: Annotated[
        Optional[list[str]],
        typer.Option("--require", "-r", metavar="TASK", autocompletion=_task_names,
                     help="Exit 6 unless every checkpoint is ready for TASK (repeatable)."),
    ] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Also exit 6 on any lint error.")] = False,
    tokenizer: Annotated[
        Optional[str],
        typer.Option("--tokenizer", metavar="SRC", help="Judge the tasks with this folder's or Hub id's tokenizer, "
                                                        "as the run commands' --tokenizer would use it."),
    ] = None,
    schema: Annotated[
        bool,
        typer.Option("--schema", is_eager=True, callback=_print_schema, help="Print the JSON Schema of --format json and exit."),
    ] = False,
    *,
    shared: o.Shared,
) -> None:
    """Check, without loading weights, which tasks each checkpoint can run, and lint it."""
    from autocli import compat, registry, render
    from autocli.errors import AutocliError, RequirementFailed

    fmt = shared.format(o.Format.json)
    required = compat.resolve_tasks(require)
    tasks = compat.resolve_tasks(task) if task else list(registry.TASKS)
    tasks = [t for t in registry.TASKS if t in tasks or t in required]  # a required task is always shown
    report = compat.check(checkpoints, tasks, required, strict, tokenizer, shared.verbose, **shared.hub)
    if fmt == o.Format.jsonl:  # one checkpoint per line, each carrying the schema
        for r in report.checkpoints:
            render.emit({"schema": report.schema, **render.to_data(r)}, fmt)
    else:
        render.emit(report, fmt)
    errors = [r.error for r in report.checkpoints if r.error]
    if errors and len(errors) == len(report.checkpoints):  # nothing could be checked: say why, as other commands do
        raise AutocliError(errors[0]["message"], errors[0]["hint"], errors[0]["exit_code"])
    if not report.ok:
        raise RequirementFailed(*compat.failure_summary(report))
