"""The preprocessor side of compat, for checkpoints that read images or audio: preprocessor_config.json
present, of a type autocli runs, with settings it can honour; a CTC checkpoint's vocab.json for decoding.
Plain JSON, no library."""

from __future__ import annotations

from autocli import registry
from autocli.compat.lint import SEV_ERROR, SEV_WARNING, Finding
from autocli.config import Config
from autocli.preprocess import PREPROCESSOR_CONFIG, PROCESSORS, processor_type

CTC_VOCAB = "vocab.json"


def processor_findings(cfg: Config, facts) -> list[Finding]:
    """Lint of preprocessor_config.json for an image or audio family (none for text families)."""
    kind = registry.input_kind(cfg.model_type)
    fam = registry.family(cfg.model_type)
    if kind == "text" or (fam is not None and fam.combined and not fam.processor):  # tokenizer-side only (LayoutLM v1)
        return []
    settings = facts.preprocessor
    if settings is None:
        why = facts.preprocessor_error or f"no {PREPROCESSOR_CONFIG}: the {kind} inputs cannot be prepared as the model was trained"
        return [Finding("preprocessor-missing" if facts.preprocessor_error is None else "preprocessor-invalid", SEV_ERROR, why)]
    out = []
    name = processor_type(settings, cfg.model_type)
    if name is None or name not in PROCESSORS:
        out.append(Finding("preprocessor-type", SEV_ERROR, f"preprocessor {name!r} is not one autocli runs "
                                                             f"(it runs {', '.join(sorted(PROCESSORS)) or 'none yet'})"))
    if kind == "image":
        channels = cfg.get("num_channels", 3)
        for key in ("image_mean", "image_std"):
            value = settings.get(key)
            if isinstance(value, list) and len(value) != channels:
                out.append(Finding("preprocessor-invalid", SEV_ERROR,
                                   f"{PREPROCESSOR_CONFIG}: {key} has {len(value)} values for {channels} channels"))
        std = settings.get("image_std")
        if isinstance(std, list) and any(not isinstance(v, (int, float)) or v == 0 for v in std):
            out.append(Finding("preprocessor-invalid", SEV_ERROR, f"{PREPROCESSOR_CONFIG}: image_std has a zero or non-number"))
    if kind == "audio":
        rate = settings.get("sampling_rate")
        if rate is None:
            out.append(Finding("preprocessor-invalid", SEV_ERROR, f"{PREPROCESSOR_CONFIG} has no sampling_rate: audio cannot be resampled for the model"))
        elif isinstance(rate, bool) or not isinstance(rate, int) or rate <= 0:
            out.append(Finding("preprocessor-invalid", SEV_ERROR, f"{PREPROCESSOR_CONFIG}: sampling_rate {rate!r} is not a positive integer"))
        if "ctc" in registry.declared_tasks(cfg.architectures, registry.family(cfg.model_type)) and CTC_VOCAB not in facts.files:
            out.append(Finding("tokenizer-missing", SEV_WARNING, f"a CTC checkpoint without {CTC_VOCAB}: transcripts cannot be decoded"))
    return out


def media_unmet(cfg: Config, task: str, facts, findings: list[Finding]) -> list[tuple[str, str]]:
    """(requirement, message) of what an image or audio task lacks: a usable preprocessor, and for CTC the
    vocabulary that turns ids into text. Nothing for text families."""
    if registry.input_kind(cfg.model_type) == "text":
        return []
    out = [("preprocessor", f.message) for f in findings if f.name.startswith("preprocessor-") and f.severity == SEV_ERROR]
    if task == "ctc" and CTC_VOCAB not in facts.files:
        out.append(("tokenizer", f"no {CTC_VOCAB}: CTC ids cannot be decoded into text"))
    return out
