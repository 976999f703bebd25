"""`autocli generate` on an encoder-decoder against transformers' generate: same checkpoint, same process, same
thread count, interleaved rounds (the machine drifts), best round kept.

    python bench/bench_seq2seq.py [--rounds 3] [--threads 2] [--input 200] [--new 64] [--beams 4]

Checkpoint: a random T5 of t5-small's sizes (d_model 512, d_kv 64, d_ff 2048, 6 + 6 layers, 8 heads, vocab 32128,
ReLU, tied head), built once with transformers into bench/out/. Batch 1, a 200-token input, exactly 64 new tokens
(autocli: --ignore-eos; transformers: min_new_tokens = max_new_tokens), greedy and 4-beam search.
Rows:
  total ms           the whole generate call (encoder + decoder steps + search bookkeeping)
  encoder tok/s      input tokens / encoder time (transformers: its encoder alone, timed apart)
  decoder tok/s      new tokens / (total - encoder time); with beams each token is one step of 4 rows
Prints a markdown table (paste into bench/RESULTS.md).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
SIZE = dict(d_model=512, d_kv=64, d_ff=2048, num_layers=6, num_heads=8, vocab_size=32128, feed_forward_proj="relu",
            decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)


def build() -> Path:
    folder = OUT / "t5-small-random"
    if (folder / "model.safetensors").is_file():
        return folder
    import torch
    import transformers

    sys.path.insert(0, str(ROOT))
    from tests.fx_tokenizers import write_unigram_tokenizer

    torch.manual_seed(0)
    model = transformers.T5ForConditionalGeneration(transformers.T5Config(**SIZE))
    model.save_pretrained(folder, safe_serialization=True)
    (folder / "generation_config.json").unlink(missing_ok=True)
    write_unigram_tokenizer(folder, style="t5")  # any real tokenizer: text decoding is part of the loop
    return folder


def best(fn, rounds: int = 1) -> float:
    out = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        out = min(out, time.perf_counter() - t)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--input", type=int, default=200)
    ap.add_argument("--new", type=int, default=64)
    ap.add_argument("--beams", type=int, default=4)
    args = ap.parse_args()
    import torch
    import transformers

    sys.path.insert(0, str(ROOT))
    from autocli.models import load_model_from_dir
    from autocli.tasks.gen_loop import run_batch
    from autocli.tasks.gen_settings import resolve_settings
    from autocli.tokenizer import load_tokenizer_from_dir

    torch.set_num_threads(args.threads)
    folder = build()
    ref = transformers.T5ForConditionalGeneration.from_pretrained(folder).eval()
    ours = load_model_from_dir(folder, "seq2seq-lm", device="cpu", dtype="float32")
    tok = load_tokenizer_from_dir(folder)
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(3, 32000, (1, args.input), generator=g)
    mask = torch.ones_like(ids)
    rows = [ids[0].tolist()]

    def hf(beams: int):
        with torch.inference_mode():
            return ref.generate(ids, attention_mask=mask, max_new_tokens=args.new, min_new_tokens=args.new, do_sample=False,
                                num_beams=beams)

    def hf_encoder():
        with torch.inference_mode():
            ref.get_encoder()(input_ids=ids, attention_mask=mask)

    stats = {}

    def mine(beams: int):
        s = resolve_settings(ours.config, None, tok, {"max_new_tokens": args.new, "ignore_eos": True, "num_beams": beams},
                             seq2seq=True)
        st = run_batch(ours, tok, rows, s).stats
        stats[beams] = st

    cases = [("greedy", 1), (f"{args.beams} beams", args.beams)]
    for _, k in cases:  # warm-up
        hf(k), mine(k)
    assert hf(1)[0, 1:].tolist() == run_batch(ours, tok, rows, resolve_settings(
        ours.config, None, tok, {"max_new_tokens": args.new, "ignore_eos": True}, seq2seq=True)).rows[0][0].token_ids, "greedy ids differ"
    res = {name: {"hf": [], "hf_enc": [], "ac": [], "ac_enc": []} for name, _ in cases}
    for _ in range(args.rounds):
        for name, k in cases:
            r = res[name]
            r["hf_enc"].append(best(hf_encoder))
            r["hf"].append(best(lambda: hf(k)))
            r["ac"].append(best(lambda: mine(k)))
            r["ac_enc"].append(stats[k].prefill_s)
    print(f"\n{args.threads} threads, batch 1, {args.input}-token input, {args.new} new tokens; best of {args.rounds} interleaved rounds.\n")
    print("| decoding | transformers total ms | autocli total ms | speed-up | encoder tok/s transformers / autocli "
          "| decoder tok/s transformers / autocli |")
    print("|---|---|---|---|---|---|")
    for name, _ in cases:
        r = {k: min(v) for k, v in res[name].items()}
        print(f"| {name} | {r['hf'] * 1e3:.0f} | {r['ac'] * 1e3:.0f} | {r['hf'] / r['ac']:.2f}x | "
              f"{args.input / r['hf_enc']:.0f} / {args.input / r['ac_enc']:.0f} | "
              f"{args.new / (r['hf'] - r['hf_enc']):.0f} / {args.new / (r['ac'] - r['ac_enc']):.0f} |")


if __name__ == "__main__":
    main()
