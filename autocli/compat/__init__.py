"""compat: which tasks each checkpoint can run, and what is wrong with it, from headers alone.

Reads config.json, the tokenizer files (loaded as the run commands load them, with the `tokenizers`
library), generation_config.json and the safetensors headers (range reads on the Hub); never weight
bytes, never torch. Task verdicts come from the registry (FAMILIES, their `heads` tables, TASKS).

The JSON document (`autocli compat --format json`, schema "autocli.compat/1") is described field by
field by `autocli compat --schema` (autocli/compat/schema.py). `--format jsonl` prints one checkpoint
object per line, each with "schema" and its own "ok".
"""

from __future__ import annotations

from autocli import registry
from autocli.compat.facts import (
    Facts,
    added_tokens_bound,
    gather,
    tokenizer_json_vocab,
    vocab_json_size,
    vocab_txt_size,
)
from autocli.compat.lint import (
    CLASSIFIER_PREFIXES,
    FINDINGS,
    SEV_ERROR,
    Finding,
    arch_stem,
    classifier_output,
    embedding_rows,
    lint_architectures,
    lint_labels,
    lint_problem_type,
    lint_tags,
    position_offset,
)
from autocli.compat.verdicts import (
    BLOCKED,
    ERROR,
    INCOMPLETE,
    NO_FAMILY,
    NO_HEAD,
    READY,
    REQUIREMENTS,
    UNTRAINED,
    VERDICTS,
    CheckpointReport,
    Unmet,
    Verdict,
    assess,
)
from autocli.config import parse_config
from autocli.errors import AutocliError, UsageError
from autocli.reports import CompatReport

SCHEMA = "autocli.compat/1"

__all__ = [
    "BLOCKED", "CLASSIFIER_PREFIXES", "ERROR", "FINDINGS", "INCOMPLETE", "NO_FAMILY", "NO_HEAD", "READY",
    "REQUIREMENTS", "SCHEMA", "UNTRAINED", "VERDICTS", "CheckpointReport", "CompatReport", "Facts", "Finding",
    "Unmet", "Verdict", "added_tokens_bound", "arch_stem", "assess", "check", "classifier_output",
    "embedding_rows", "error_report", "failure_summary", "finish", "gather", "lint_architectures", "lint_labels",
    "lint_problem_type", "lint_tags", "parse_config", "position_offset", "resolve_tasks", "tokenizer_json_vocab",
    "vocab_json_size", "vocab_txt_size",
]


def error_report(spec: str, err: AutocliError, tasks: list[str]) -> CheckpointReport:
    report = CheckpointReport(spec, error=err.as_record())
    unmet = [Unmet("config", err.message)]
    report.verdicts = {t: Verdict(ERROR, err.message, registry.AUTO_CLASSES.get(t), unmet) for t in tasks}
    return report


def resolve_tasks(names: list[str] | None) -> list[str]:
    """Canonical task names in registry order; unknown names are a usage error."""
    wanted = []
    for name in names or []:
        task = registry.canonical_task(name)
        if task is None:
            raise UsageError(f"unknown task {name!r}",
                             f"tasks: {', '.join(registry.TASKS)}; transformers' names (token-classification, "
                             "AutoModelForTokenClassification) and aliases such as ner, qa work too")
        wanted.append(task)
    return [t for t in registry.TASKS if t in wanted]


def finish(reports: list[CheckpointReport], tasks: list[str], required: list[str], strict: bool) -> CompatReport:
    for r in reports:
        r.failed = [t for t in required if r.verdicts.get(t, Verdict(ERROR, "")).verdict != READY]
        lint_failed = strict and (r.error is not None or any(f.severity == SEV_ERROR for f in r.findings))
        r.ok = not r.failed and not lint_failed
    return CompatReport(SCHEMA, tasks, required, strict, all(r.ok for r in reports), reports)


def check(specs: list[str], tasks: list[str], required: list[str], strict: bool, tokenizer: str | None = None,
          verbose: bool = False, **resolve_kw) -> CompatReport:
    """compat over several checkpoints: one that cannot be read is an error row, the rest go on.
    tokenizer: a checkpoint whose tokenizer the run commands would be given (--tokenizer SRC);
    verbose: one stderr line per checkpoint saying what was read from where, and how long it took."""
    import time

    from autocli.checkpoint import Checkpoint
    from autocli.render import note

    lender = Checkpoint.resolve(tokenizer, **resolve_kw) if tokenizer else None
    reports = []
    for spec in specs:
        start = time.perf_counter()
        try:
            ckpt = Checkpoint.resolve(spec, **resolve_kw)
            facts = gather(ckpt, lender)
            reports.append(assess(spec, facts, tasks))
        except AutocliError as e:
            reports.append(error_report(spec, e, tasks))
            facts = None
        if verbose:
            what = (f"read config.json, {len(facts.shards)} weight header(s) and the tokenizer ({facts.tokenizer or 'none'}) "
                    f"from {ckpt.where}") if facts else "could not be read"
            note(f"{spec}: {what} in {time.perf_counter() - start:.2f} s")
    return finish(reports, tasks, required, strict)


def failure_summary(report: CompatReport) -> tuple[str, str]:
    """The one-line error (and hint) for exit 6."""
    parts = []
    for r in report.checkpoints:
        why = [f"{t}: {r.verdicts[t].verdict}" for t in r.failed]
        if report.strict:
            n = sum(f.severity == SEV_ERROR for f in r.findings)
            why += [f"{n} lint error{'s' * (n != 1)}"] if n else []
            why += ["unreadable"] if r.error and not r.failed else []
        if why:
            parts.append(f"{r.checkpoint} ({', '.join(why)})")
    message = f"compat requirements not met: {'; '.join(parts[:5])}" + (f" and {len(parts) - 5} more" if len(parts) > 5 else "")
    return message, "the report above gives each verdict's reason, each unmet requirement and each lint finding"
