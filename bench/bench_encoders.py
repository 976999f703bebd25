"""Encoder runtime benchmark: autocli's models vs transformers on the same bert-base-sized checkpoint.

    python bench/bench_encoders.py [--dir CKPT] [--runs 3] [--threads 2] [--sentences 1000] [--skip-load] [--skip-forward]

1. Load to first result, whole processes (imports included), interleaved, median of --runs, peak RSS:
   autocli `load_model_from_dir(DIR, "sequence-classification")` + one forward, against
   `AutoModelForSequenceClassification.from_pretrained(DIR)` + one forward.
2. Forward throughput in one process: the same length-sorted batches of 32 through both models
   (fp32, --threads threads), real tokens/s; plus autocli in bfloat16 on a slice, to show why
   `--dtype auto` computes in float32 on CPU.
3. The fp32 matmul roofline for this model: measured GEMM GFLOP/s at the model's shapes divided by
   the FLOPs per token of its linear layers.

Without --dir, a random bert-base-sized checkpoint (hidden 768, 12 layers, vocab 30522) is built once
in $TMPDIR/autocli-bench-bert-base. Prints markdown tables for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BATCH = 32


def build_default() -> Path:
    folder = Path(tempfile.gettempdir()) / "autocli-bench-bert-base"
    if (folder / "model.safetensors").is_file():
        return folder
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    model = BertForSequenceClassification(BertConfig(num_labels=2))
    model.save_pretrained(folder, safe_serialization=True)
    return folder


# The child reports its own peak RSS: Linux carries the parent's high-water mark into a forked child's
# ru_maxrss (exec records the forked mm's), and this parent holds a whole model by the time it measures.
REPORT_PEAK = (
    "\nimport sys\nfor line in open('/proc/self/status'):\n"
    "    if line.startswith('VmHWM:'): print('PEAK_KB', line.split()[1], file=sys.stderr)\n"
)


def run_once(code: str, threads: int) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of one whole process running `code`."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), TOKENIZERS_PARALLELISM="false")
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code + REPORT_PEAK], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, _ = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"benchmark process failed:\n{err}")
    peak_kb = [int(line.split()[1]) for line in err.splitlines() if line.startswith("PEAK_KB ")]
    return wall, peak_kb[-1] / 1024


def bench_load(folder: Path, runs: int, threads: int) -> list[tuple[str, float, float]]:
    first = "import torch; ids = torch.tensor([[101, 7592, 2088, 102]]); mask = torch.ones_like(ids)"
    codes = {
        "autocli load_model + first forward": (
            f"from autocli.models import load_model_from_dir; {first}; "
            f"m = load_model_from_dir({str(folder)!r}, 'sequence-classification'); m(ids, mask)"
        ),
        "transformers from_pretrained + first forward": (
            f"from transformers import AutoModelForSequenceClassification; {first}; "
            f"m = AutoModelForSequenceClassification.from_pretrained({str(folder)!r}).eval(); "
            "torch.set_grad_enabled(False); m(input_ids=ids, attention_mask=mask)"
        ),
    }
    times = {k: [] for k in codes}
    rss = {k: [] for k in codes}
    for _ in range(runs):  # interleaved: drift hits both alike
        for name, code in codes.items():
            t, r = run_once(code, threads)
            times[name].append(t)
            rss[name].append(r)
    return [(name, statistics.median(times[name]), max(rss[name])) for name in codes]


def sentence_lengths(n: int, seed: int = 0) -> list[int]:
    """Token counts of n sentences of 5-60 words (~1.3 tokens per word, plus [CLS] and [SEP])."""
    import random

    rng = random.Random(seed)
    return [int(rng.randint(5, 60) * 1.3) + 2 for _ in range(n)]


def batches(lengths: list[int], vocab: int):
    """Length-sorted batches of BATCH rows, right-padded: (input_ids, attention_mask, real tokens)."""
    import torch

    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    gen = torch.Generator().manual_seed(0)
    out = []
    for start in range(0, len(order), BATCH):
        rows = [lengths[i] for i in order[start : start + BATCH]]
        T = max(rows)
        ids = torch.randint(1000, vocab, (len(rows), T), generator=gen)
        mask = (torch.arange(T)[None, :] < torch.tensor(rows)[:, None]).long()
        out.append((ids * mask, mask, sum(rows)))
    return out


def throughput(fn, data) -> float:
    fn(*data[0][:2])  # warm-up
    start = time.perf_counter()
    tokens = 0
    for ids, mask, n in data:
        fn(ids, mask)
        tokens += n
    return tokens / (time.perf_counter() - start)


def bench_forward(folder: Path, sentences: int, threads: int) -> list[tuple[str, float]]:
    import torch
    from transformers import AutoModelForSequenceClassification

    from autocli.models import load_model_from_dir

    torch.set_num_threads(threads)
    ours = load_model_from_dir(folder, "sequence-classification")
    theirs = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    data = batches(sentence_lengths(sentences), ours.vocab_size)

    def hf(ids, mask):
        with torch.inference_mode():
            return theirs(input_ids=ids, attention_mask=mask).logits

    rows = []
    for _ in range(2):  # interleaved
        rows.append(("autocli fp32", throughput(ours, data)))
        rows.append(("transformers fp32 (same batches)", throughput(hf, data)))
    half = load_model_from_dir(folder, "sequence-classification", dtype="bfloat16")
    rows.append(("autocli bf16 (first 4 batches)", throughput(half, data[:4])))
    best = {}
    for name, v in rows:
        best[name] = max(best.get(name, 0.0), v)
    best["fp32 matmul roofline"] = roofline(ours, data, threads)
    return list(best.items())


def roofline(model, data, threads: int) -> float:
    """Real tokens/s if every linear layer ran at the measured fp32 GEMM rate (padding counted)."""
    import torch

    a = model.config.raw
    H, inner, L = a["hidden_size"], a["intermediate_size"], a["num_hidden_layers"]
    flops_per_token = 2 * L * (4 * H * H + 2 * H * inner)
    rows = max(1, int(statistics.mean(ids.numel() for ids, _, _ in data)))
    x, w1, w2 = torch.randn(rows, H), torch.randn(inner, H), torch.randn(H, H)
    for _ in range(3):
        torch.nn.functional.linear(x, w1)
    start, reps = time.perf_counter(), 20
    for _ in range(reps):
        torch.nn.functional.linear(x, w1)
        torch.nn.functional.linear(x, w2)
    gflops = reps * 2 * rows * H * (inner + H) / (time.perf_counter() - start)
    padded = sum(ids.numel() for ids, _, _ in data)
    real = sum(n for _, _, n in data)
    return gflops / flops_per_token * real / padded


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dir", type=Path)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--sentences", type=int, default=1000)
    p.add_argument("--skip-load", action="store_true")
    p.add_argument("--skip-forward", action="store_true")
    args = p.parse_args()
    folder = args.dir or build_default()
    print(f"checkpoint: {folder}  threads: {args.threads}\n")
    if not args.skip_load:
        rows = bench_load(folder, args.runs, args.threads)
        print("| load to first result (whole process) | median s | peak RSS MiB |\n|---|---:|---:|")
        for name, t, r in rows:
            print(f"| {name} | {t:.2f} | {r:.0f} |")
        (_, t0, r0), (_, t1, r1) = rows
        print(f"\nspeed-up {t1 / t0:.2f}x, RSS ratio {r0 / r1:.2f}\n")
    if args.skip_forward:
        return
    print(f"| forward, {args.sentences} sentences, batches of {BATCH} | real tokens/s |\n|---|---:|")
    for name, v in bench_forward(folder, args.sentences, args.threads):
        print(f"| {name} | {v:.0f} |")


if __name__ == "__main__":
    main()
