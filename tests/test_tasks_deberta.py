"""`classify`, `tag` and `qa` on DeBERTa-v2/v3 (SentencePiece-only folder), DeBERTa v1 and ModernBERT:
the commands run them unchanged and agree with transformers' pipelines on the same folders."""

from __future__ import annotations

import pytest

from tests.fx_deberta import build_family_checkpoint

TOL = 1e-4
TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "A café in Zürich serves crème brûlée.",
    "Hello world!",
    "Numbers like 3.14, 2024 and 1,000,000 appear in text too, as do emoji 🙂.",
]
# family -> (variant, tokenizer kind)
FAMILIES = {"deberta-v2": ("v3", "spm"), "deberta": ("base", "bpe"), "modernbert": ("alternating", "bpe")}
NER = {0: "O", 1: "B-PER", 2: "I-PER"}


def _folder(root, family, task, **extra):
    variant, tok = FAMILIES[family]
    return build_family_checkpoint(root, family, task, variant, tokenizer=tok, **extra)


def _pipeline(kind: str, folder, **kw):
    from transformers import pipeline

    return pipeline(kind, model=str(folder), device="cpu", **kw)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_classify(cli, deberta_root, family):
    folder = _folder(deberta_root, family, "sequence-classification")
    res = cli(["classify", folder, *TEXTS, "--top-k", "all", "--format", "jsonl", "--batch-size", "3"])
    assert res.exit_code == 0, res.stderr
    pipe = _pipeline("text-classification", folder)
    for rec, text in zip(res.jsonl(), TEXTS):
        want = pipe(text, top_k=None)
        assert [s["label"] for s in rec["scores"]] == [w["label"] for w in want]
        assert all(abs(s["score"] - w["score"]) <= TOL for s, w in zip(rec["scores"], want))


@pytest.mark.parametrize("family", list(FAMILIES))
def test_tag(cli, deberta_root, family):
    folder = _folder(deberta_root, family, "token-classification", num_labels=3, id2label=NER, label2id={v: k for k, v in NER.items()})
    res = cli(["tag", folder, *TEXTS, "--aggregation", "simple", "--format", "jsonl"])
    assert res.exit_code == 0, res.stderr
    pipe = _pipeline("token-classification", folder, aggregation_strategy="simple")
    for rec, text in zip(res.jsonl(), TEXTS):
        want = pipe(text)
        got = rec["entities"]
        assert [(e["label"], e["start"], e["end"]) for e in got] == [(w["entity_group"], w["start"], w["end"]) for w in want]
        assert all(abs(e["score"] - float(w["score"])) <= TOL for e, w in zip(got, want))


def _best_span(folder, family, question, context, max_len=15):
    """The span a QA reader must rank first: context tokens only, end >= start, at most max_len tokens,
    maximal start + end logit (the pipeline's product of softmaxes orders spans the same way), widened to
    whole words. Computed from transformers' tokenizer and model on the same folder."""
    import torch
    from transformers import AutoTokenizer

    from tests.fx_deberta import oracle_model

    tok = AutoTokenizer.from_pretrained(str(folder))
    enc = tok(question, context, return_offsets_mapping=True, return_tensors="pt")
    offsets = enc.pop("offset_mapping")[0].tolist()
    ctx = [i for i, s in enumerate(enc.sequence_ids(0)) if s == 1]
    with torch.no_grad():
        out = oracle_model(folder, family, "question-answering")(**{k: v for k, v in enc.items() if k != "token_type_ids" or family == "bert"})
    start, end = out.start_logits[0], out.end_logits[0]
    s, e = max(((s, e) for s in ctx for e in ctx if 0 <= e - s < max_len), key=lambda se: float(start[se[0]] + end[se[1]]))
    words = enc.word_ids(0)  # answers are widened to whole words, as the v4 pipeline's align_to_words
    same_word = [i for i in ctx if words[i] is not None and words[i] in (words[s], words[e])]
    return min(offsets[i][0] for i in same_word + [s]), max(offsets[i][1] for i in same_word + [e])


@pytest.mark.parametrize("family", list(FAMILIES))
def test_qa(cli, deberta_root, family):
    folder = _folder(deberta_root, family, "question-answering", max_position_embeddings=512)  # one window
    question, context = "Where does the café serve crème brûlée?", " ".join(TEXTS)
    res = cli(["qa", folder, "--question", question, "--context", context, "--top-k", "3", "--format", "jsonl"])
    assert res.exit_code == 0, res.stderr
    (record,) = res.jsonl()
    answers = record["answers"]
    assert len(answers) == 3 and all(a["answer"] == context[a["start"]:a["end"]] for a in answers)
    assert [a["score"] for a in answers] == sorted((a["score"] for a in answers), reverse=True)
    start, end = _best_span(folder, family, question, context)
    assert (answers[0]["start"], answers[0]["end"]) == (start, end)
