"""Generation: exact match and chrF of generated text against references.

Rows: {"prompt", "reference"} for a causal LM, {"source", "reference"} for an encoder-decoder. The text comes
from `autocli generate` (tasks/generate.py) with the checkpoint's generation settings (generation_config.json;
sampling, if it asks for it, seeded by --seed). exact_match: the share of outputs equal to their reference
once both are stripped of surrounding whitespace; chrf: sacrebleu's corpus chrF (0-100), from the optional
extra autocli[eval].
"""

from __future__ import annotations

from pathlib import Path

from autocli.errors import UsageError
from autocli.evaluate import EvalOptions, Outcome, nothing_scored
from autocli.evaluate.data import read_rows
from autocli.results import ErrorRecord

METRICS = ("exact_match", "chrf")


def model_task(config) -> str:
    """The head generation runs: the encoder-decoder's LM for seq2seq families, else the causal LM."""
    from autocli import registry

    fam = registry.family(config.model_type)
    return "seq2seq-lm" if fam is not None and fam.kind == "seq2seq" else "causal-lm"


def chrf_module():
    from autocli.extras import need

    return need("sacrebleu.metrics", "eval")


def evaluate(model, tokenizer, path: Path, options: EvalOptions) -> Outcome:
    from autocli.tasks.gen_settings import GENERATION_CONFIG, resolve_settings
    from autocli.tasks.generate import Prompt, generate

    metrics_lib = chrf_module()
    field = "source" if model.task == "seq2seq-lm" else "prompt"
    items = list(read_rows(path, options.limit))
    prompts = []
    for item in items:
        text, ref = item.fields.get(field), item.fields.get("reference")
        if item.error is None and not (isinstance(text, str) and text and isinstance(ref, str)):
            item.error = UsageError(f'the row needs "{field}" and "reference" strings', f'use {{"{field}": "...", "reference": "..."}}')
        prompts.append(Prompt(item.index, text if item.error is None else None, error=item.error))
    gen_config = options.ckpt.json(GENERATION_CONFIG) if options.ckpt is not None else None
    settings = resolve_settings(model.config, gen_config, tokenizer, {"seed": options.seed, "max_new_tokens": options.max_new_tokens}, seq2seq=model.task == "seq2seq-lm")
    records = list(generate(model, tokenizer, prompts, settings, batch_size=options.batch_size))
    errors = [r for r in records if isinstance(r, ErrorRecord)]
    done = [(items[n], r.best.text) for n, r in enumerate(records) if not isinstance(r, ErrorRecord)]
    if not done:
        raise nothing_scored(path, len(items), errors)
    refs = [it.fields["reference"] for it, _ in done]
    outs = [text for _, text in done]
    exact = [o.strip() == r.strip() for o, r in zip(outs, refs)]
    chrf = metrics_lib.CHRF().corpus_score(outs, [refs]).score
    out = Outcome({"exact_match": sum(exact) / len(exact), "chrf": chrf}, len(items), errors, {"generated": len(done)})
    out.predictions = [{"index": it.index, "prediction": o, "reference": r, "exact": e} for (it, o), r, e in zip(done, refs, exact)]
    return out
