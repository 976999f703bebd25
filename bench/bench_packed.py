"""Packed 16-bit weights for decoding (`--kernels auto` on a CPU with bf16 units) against F.linear, on the 0.5B
LLaMA-shaped bfloat16 checkpoint of bench_generate.py (built there once).

    PYTHONPATH=. python bench/bench_packed.py [--steps 100] [--rounds 20]

Rows, each interleaved with the others and quoted as best (min) and median:
  kernels   one row through every projection weight of a decode step, as autocli lays them out: F.linear over
            the fused [out, in] weights (eager) and oneDNN over the packed ones (auto); the tied LM head alone
  steps     single decode steps of one cache each: transformers' forward with its cache (no generate overhead,
            so the ratio is conservative), autocli auto and autocli eager; whether their greedy ids agree
  memory    anonymous RSS after laying the model out for decoding, per choice (file-mapped weights excluded)
Short samples, many of them: the best ones catch the quiet moments of a shared machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

FOLDER = "bench/out/decoder-llama-0.5b"


def load(kernels: str):
    from autocli.models import load_model_from_dir

    m = load_model_from_dir(FOLDER, "causal-lm", device="cpu", dtype="bfloat16").module
    m.kernels = kernels
    m.new_cache(1, 8)  # lays the projections out
    return m


def show(name: str, v: list, base: list | None = None) -> None:
    ratio = f"; {min(base) / min(v):.2f}x / {statistics.median(base) / statistics.median(v):.2f}x the first row" if base else ""
    print(f"  {name}: best {min(v) * 1e3:.1f} ms, median {statistics.median(v) * 1e3:.1f} ms{ratio}", flush=True)


def kernels(rounds: int) -> None:
    import torch

    from autocli.models._decoder import _Layout, project

    rows = {}
    for choice in ("eager", "auto"):
        m = load(choice)
        mats = step_products(m, _Layout)
        head = m.lm_head
        rows[f"step weights with the head, {choice}"] = [(torch.randn(1, 1, _n_in(w, k), dtype=torch.bfloat16), w, b, k) for w, b, k in mats]
        rows[f"tied head, {choice}"] = [(torch.randn(1, 1, head.in_features, dtype=torch.bfloat16), head.weight, None, head.kernel)]
    times = {k: [] for k in rows}
    for _ in range(rounds):
        for k, calls in rows.items():
            t = time.perf_counter()
            for x, w, b, kern in calls:
                project(x, w, b, kern)
            times[k].append(time.perf_counter() - t)
    print(f"kernels ({rounds} rounds; load {os.getloadavg()}):")
    for k, v in times.items():
        show(k, v, times[k.replace("auto", "eager")] if "auto" in k else None)


def step_products(model, layout) -> list:
    """The (weight, bias, kernel) products a decode step runs: fused q/k/v and gate/up, then every other projection."""
    out, covered = [], set()
    for sub in model.modules():  # parents come before their parts
        for fused, parts in (("qkv", ("q_proj", "k_proj", "v_proj")), ("gate_up", ("gate_proj", "up_proj"))):
            if getattr(sub, fused, None) is not None:
                out.append(getattr(sub, fused))
                covered.update(id(getattr(sub, p)) for p in parts)
        if isinstance(sub, layout) and id(sub) not in covered:
            out.append((sub.weight, sub.bias, sub.kernel))
    return out


def _n_in(w, kernel) -> int:
    return w.shape[0] if kernel == "matmul" else w.shape[1]


def steps(n: int) -> None:
    import torch
    import transformers

    ref = transformers.AutoModelForCausalLM.from_pretrained(FOLDER, dtype=torch.bfloat16).eval()
    mods = {"autocli auto": load("auto"), "autocli eager": load("eager")}
    prompt = torch.randint(0, ref.config.vocab_size, (1, 16), generator=torch.Generator().manual_seed(0))
    times = {"transformers forward": [], **{k: [] for k in mods}}
    ids = {k: [] for k in times}
    with torch.inference_mode():
        out = ref(prompt, use_cache=True)
        cache, tok = out.past_key_values, out.logits[:, -1].argmax(-1, keepdim=True)
        caches, toks = {}, {}
        for k, m in mods.items():
            caches[k] = m.new_cache(1, 16 + n + 1)
            toks[k] = m.prefill(prompt, torch.ones_like(prompt), caches[k]).argmax(-1)
        for _ in range(n):
            t = time.perf_counter()
            out = ref(tok, past_key_values=cache, use_cache=True)
            tok = out.logits[:, -1].argmax(-1, keepdim=True)
            times["transformers forward"].append(time.perf_counter() - t)
            ids["transformers forward"].append(int(tok))
            for k, m in mods.items():
                t = time.perf_counter()
                toks[k] = m.decode(toks[k], caches[k]).argmax(-1)
                times[k].append(time.perf_counter() - t)
                ids[k].append(int(toks[k]))
    print(f"decode steps ({n} each, interleaved; load {os.getloadavg()}; greedy ids auto == eager: "
          f"{ids['autocli auto'] == ids['autocli eager']}, == transformers: {ids['autocli auto'] == ids['transformers forward']}):")
    for k, v in times.items():
        show(k, v, None if k.startswith("transformers") else times["transformers forward"])


def memory() -> None:
    code = ("import sys; sys.path.insert(0, '.'); import torch; from bench.bench_packed import load; load(sys.argv[1]); "
            "print([ln.split()[1] for ln in open('/proc/self/status') if ln.startswith('RssAnon')][0])")
    for choice in ("eager", "auto"):
        kb = subprocess.run([sys.executable, "-c", code, choice], capture_output=True, text=True, check=True).stdout.split()[-1]
        print(f"memory, {choice}: anonymous RSS after layout {int(kb) / 1024:.0f} MB")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=20)
    args = ap.parse_args()
    import torch

    from bench.bench_generate import build, cpu_flags

    torch.set_num_threads(2)
    build("llama-0.5b")
    print(f"CPU flags: {cpu_flags()}; packed bf16 in oneDNN: {torch.ops.mkldnn._is_mkldnn_bf16_supported()}, "
          f"fp16: {torch.ops.mkldnn._is_mkldnn_fp16_supported()}", flush=True)
    memory()
    kernels(args.rounds)
    steps(args.steps)


if __name__ == "__main__":
    main()
