"""Verdicts: for each task, is everything it needs present and usable, and if not, each unmet requirement.

A task is ready when config.json is accepted, no remote code is asked for, the family is one autocli runs,
the weights are what the loader accepts (headers only), the task's head is trained, a tokenizer loads
(the checkpoint's own, or the --tokenizer one) for text families, a preprocessor for image and audio ones,
and, for generation, generate's settings are usable.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from autocli import registry
from autocli.compat import lint, weights
from autocli.compat.facts import Facts
from autocli.compat.generation import generation_problems
from autocli.compat.lint import SEV_ERROR, Finding
from autocli.compat.processor import media_unmet, processor_findings
from autocli.config import Config, parse_config, remote_code
from autocli.errors import InvalidCheckpoint

READY = "ready"
INCOMPLETE = "incomplete"
UNTRAINED = "head-untrained"
NO_HEAD = "unsupported-head"
NO_FAMILY = "family-unsupported"
BLOCKED = "blocked"
ERROR = "error"
VERDICTS = (READY, INCOMPLETE, UNTRAINED, NO_HEAD, NO_FAMILY, BLOCKED, ERROR)

# Requirement names in the JSON, in the order they are checked; the first unmet one gives the verdict.
REQUIREMENTS = {
    "config": ERROR,  # config.json accepted (sizes, norm epsilons)
    "remote-code": BLOCKED,  # no auto_map
    "safe-weights": BLOCKED,  # safetensors (pickle-only weights need --allow-pickle)
    "family": NO_FAMILY,  # a model_type autocli runs
    "weights": ERROR,  # weights the loader accepts
    "task": NO_HEAD,  # the architecture has this task's head, and autocli runs it
    "head": UNTRAINED,  # the head's weights are trained
    "tokenizer": INCOMPLETE,  # a tokenizer that loads (text families; CTC's vocabulary)
    "preprocessor": INCOMPLETE,  # image and audio families: a preprocessor_config.json autocli runs
    "generation": INCOMPLETE,  # generate's settings are usable
}
GENERATION_TASKS = {"causal-lm": False, "seq2seq-lm": True}  # task -> encoder-decoder


@dataclass
class Unmet:
    requirement: str  # a key of REQUIREMENTS
    message: str


@dataclass
class Verdict:
    verdict: str
    reason: str
    auto_class: str | None = None  # transformers' Auto class for the task
    unmet: list = field(default_factory=list)  # every Unmet requirement of the task


@dataclass
class CheckpointReport:
    checkpoint: str
    model_type: str | None = None
    family: str | None = None
    architectures: list = field(default_factory=list)
    error: dict | None = None
    verdicts: dict = field(default_factory=dict)  # task -> Verdict
    findings: list = field(default_factory=list)
    failed: list = field(default_factory=list)
    ok: bool = True


def _findings(cfg: Config, fam, facts: Facts, trained: set[str], refused: bool) -> list[Finding]:
    tensors = facts.tensors()
    declared = registry.declared_tasks(cfg.architectures, registry.family(cfg.model_type))
    rows = lint.classifier_output(tensors, ((fam.heads.get("sequence-classification") or ()) if fam else ()) or lint.CLASSIFIER_PREFIXES)
    # sizes the config gets wrong would only repeat themselves as tensor shapes
    return (([] if refused else weights.lint_weights(cfg, fam, tensors))
            + lint.lint_architectures(cfg, fam, tensors, trained)
            + lint.lint_labels(cfg, fam, tensors, declared)
            + lint.lint_problem_type(cfg, declared, rows[1][0] if rows else None)
            + (lint.lint_tokenizer(cfg, fam, facts, tensors) if registry.input_kind(cfg.model_type) == "text" else [])
            + processor_findings(cfg, facts)
            + lint.lint_tied(cfg, fam, tensors, declared)
            + lint.lint_decoder_pad(cfg, fam, tensors, declared)
            + lint.lint_shards(facts)
            + _lint_generation(cfg, fam, facts, declared))


def _lint_generation(cfg: Config, fam, facts: Facts, declared: list[str]) -> list[Finding]:
    """A checkpoint made for generation (architectures says so) that generate would refuse to start."""
    tasks = [t for t in declared if t in GENERATION_TASKS]
    if fam is None or not tasks:
        return []
    run_cfg = Config({**fam.overrides, **cfg.raw}, cfg.source)
    return [Finding("generation-config", SEV_ERROR, m) for m in generation_problems(run_cfg, facts, GENERATION_TASKS[tasks[0]])]


def _config_checks(cfg: Config) -> list[Finding]:
    out = []
    for name, check in (("dimensions", cfg.check_sizes), ("norm-eps", cfg.check_norm_eps)):
        try:
            check()
        except InvalidCheckpoint as e:
            out.append(Finding(name, SEV_ERROR, e.message))
    return out


def _common(cfg: Config, fam, facts: Facts, refused: list[Finding], weight_errors: list[Finding]) -> list[Unmet]:
    """Requirements every task shares."""
    out = [Unmet("config", f"config refused: {f.message}") for f in refused]
    remote = remote_code(cfg.raw, facts.tokenizer_config)
    if remote:
        out.append(Unmet("remote-code", f"{remote}: autocli never runs remote code"))
    if not facts.shards and facts.pickle_files:
        out.append(Unmet("safe-weights", f"only pickle weights ({', '.join(facts.pickle_files[:2])}): convert to safetensors, or run with --allow-pickle"))
    if fam is None:
        out.append(Unmet("family", f"model_type {cfg.model_type!r} is not supported; autocli runs: {', '.join(registry.supported_families()) or 'none yet'}"))
    if facts.weights_problem:
        out.append(Unmet("weights", f"weights refused: {facts.weights_problem}"))
    elif not facts.shards and not facts.pickle_files:
        out.append(Unmet("weights", "no safetensors weights in the checkpoint"))
    out += [Unmet("weights", f"weights refused: {f.message}") for f in weight_errors]
    if facts.tokenizer is None and registry.input_kind(cfg.model_type) == "text":
        why = facts.tokenizer_error if facts.tokenizer_files else "no tokenizer files (tokenizer.json, vocab.txt, vocab.json, *.model)"
        out.append(Unmet("tokenizer", f"{why}: pass --tokenizer SRC to borrow one"))
    return out


def _head(task: str, fam, mt: str, trained: set[str]) -> tuple[str, Unmet | None]:
    """The head's own verdict: (reason when ready, the unmet requirement otherwise)."""
    if task in fam.not_run:
        return "", Unmet("task", f"{mt} has a {task} head in transformers, but {fam.not_run[task]}")
    if task == "base":
        return "backbone weights present", None
    prefixes = fam.heads.get(task)
    if prefixes is None:
        return "", Unmet("task", f"{mt} has no {task} head")
    where = ", ".join(p + "*" for p in prefixes)
    if task in trained:
        return f"head weights present ({where})", None
    return "", Unmet("head", f"no {where} weights: the head would be random")


def _verdict(task: str, common: list[Unmet], cfg: Config, fam, facts: Facts, trained: set[str], findings: list) -> Verdict:
    unmet = list(common) + [Unmet(req, message) for req, message in media_unmet(cfg, task, facts, findings)]
    reason = ""
    if fam is not None:
        reason, head = _head(task, fam, cfg.model_type, trained)
        unmet += [head] if head else []
        if task in GENERATION_TASKS and not (head and head.requirement == "task"):
            unmet += [Unmet("generation", m) for m in generation_problems(cfg, facts, GENERATION_TASKS[task])]
    auto = registry.AUTO_CLASSES.get(task)
    if not unmet:
        return Verdict(READY, reason, auto)
    unmet.sort(key=lambda u: list(REQUIREMENTS).index(u.requirement))
    verdict = REQUIREMENTS[unmet[0].requirement]
    same = [u.message for u in unmet if REQUIREMENTS[u.requirement] == verdict] if verdict == INCOMPLETE else [unmet[0].message]
    return Verdict(verdict, "; ".join(same), auto, unmet)


def assess(spec: str, facts: Facts, tasks: list[str]) -> CheckpointReport:
    """Verdicts and findings for one checkpoint. Raises InvalidCheckpoint when config.json is unusable."""
    cfg = parse_config(facts.config)
    fam = registry.family(cfg.model_type)
    run_cfg = Config({**fam.overrides, **cfg.raw}, cfg.source) if fam and fam.overrides else cfg  # as the loader sees it
    report = CheckpointReport(spec, cfg.model_type, fam.module if fam else None, cfg.architectures)
    trained = registry.trained_heads(fam, facts.tensors(), cfg.architectures, cfg.raw) if fam else set()
    refused = _config_checks(run_cfg)
    report.findings = refused + _findings(cfg, fam, facts, trained, bool(refused))
    weight_errors = [f for f in report.findings if f.name in weights.FINDING_NAMES]
    common = _common(cfg, fam, facts, refused, weight_errors)
    report.verdicts = {task: _verdict(task, common, run_cfg, fam, facts, trained, report.findings) for task in tasks}
    return report
