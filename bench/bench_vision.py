"""`autocli classify` on image files against transformers' image-classification pipeline, same checkpoint, same files.

    python bench/bench_vision.py [--images 200] [--rounds 2] [--threads 2] [--pipeline-batch-sizes 1,8,32] [--batch-size 8]
                                 [--onnxruntime] [--quick]

A random ViT-base classifier (google/vit-base-patch16-224's config: hidden 768, 12 layers, 224x224, patch 16,
1000 labels) and its ViTImageProcessor config are built once with transformers into bench/out/. The images are
JPEGs of photo sizes (640x480, 500x375, 480x640, 800x600) with smooth gradients and noise, from a fixed seed.
Rows, all from the file paths (decoding and preprocessing included, model loading excluded):

  pipeline (batch N)   transformers' pipeline("image-classification") on the list of paths, at each batch size
                       tried on a quarter of the images; the best one runs in the timed rounds
  autocli classify     the classify task on the loaded model (tasks.media.classify_media): decode, preprocess,
                       batches of --batch-size, softmax and top-5 labels
  ... (onnxruntime)    with --onnxruntime: autocli classify again on --backend onnxruntime (graph cached first)
  forward only         the transformers model on pixel_values prepared beforehand, in batches of --batch-size:
                       what is left when preprocessing costs nothing

A second table times preprocessing alone (decode + processor) for both. Rows are interleaved in each round (the
machine drifts) and the best round is kept. Prints markdown tables.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent.parent)]
from bench_classify import timed  # noqa: E402

OUT = Path(__file__).resolve().parent / "out" / "vit-base-classify"
SIZES = ((640, 480), (500, 375), (480, 640), (800, 600))


def build() -> Path:
    if (OUT / "model.safetensors").is_file():
        return OUT
    import torch
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessorPil

    torch.manual_seed(0)
    config = ViTConfig(num_labels=1000, id2label={i: f"class_{i}" for i in range(1000)})
    ViTForImageClassification(config).save_pretrained(OUT, safe_serialization=True)
    ViTImageProcessorPil().save_pretrained(OUT)
    return OUT


def images(n: int, seed: int = 0) -> list[str]:
    import numpy as np
    from PIL import Image

    folder = OUT / "images"
    folder.mkdir(exist_ok=True)
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        path = folder / f"{i:04d}.jpg"
        out.append(str(path))
        if path.is_file():
            continue
        w, h = SIZES[i % len(SIZES)]
        yy, xx = np.mgrid[0:h, 0:w]
        base = np.stack([xx * 255 / w, yy * 255 / h, (xx + yy) * 127 / (w + h)], -1) + rng.normal(0, 25, (h, w, 3))
        Image.fromarray(np.clip(base, 0, 255).astype(np.uint8)).save(path, quality=90)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=200)
    p.add_argument("--batch-size", type=int, default=8, help="autocli's and the forward-only row's batch size")
    p.add_argument("--pipeline-batch-sizes", default="1,8,32")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--onnxruntime", action="store_true", help="add an autocli row on --backend onnxruntime")
    p.add_argument("--quick", action="store_true", help="48 images, pipeline batch sizes 8,32")
    args = p.parse_args()
    if args.quick:
        args.images, args.pipeline_batch_sizes = 48, "8,32"

    import torch
    from transformers import AutoImageProcessor, AutoModelForImageClassification, pipeline
    from transformers.image_utils import load_image

    from autocli.inputs import Item
    from autocli.tasks import load
    from autocli.tasks.classify import ClassifyOptions
    from autocli.tasks.media import classify_media

    torch.set_num_threads(args.threads)
    folder = build()
    paths = images(args.images)
    print(f"checkpoint: {folder}\nimages: {len(paths)} JPEGs of {', '.join(f'{w}x{h}' for w, h in SIZES)}, threads: {args.threads}, "
          f"load average {os.getloadavg()[0]:.2f}\n")

    _, processor, ours = load(str(folder), "sequence-classification", device="cpu", backend="torch")
    ort = load(str(folder), "sequence-classification", device="cpu", backend="onnxruntime")[2] if args.onnxruntime else None
    pipe = pipeline("image-classification", model=str(folder), device="cpu")
    hf_proc = AutoImageProcessor.from_pretrained(str(folder))
    model = AutoModelForImageClassification.from_pretrained(str(folder)).eval()
    items = [Item(i, {"image": path}) for i, path in enumerate(paths)]
    B = args.batch_size
    pixels = [torch.from_numpy(processor([processor.load(q) for q in paths[k:k + B]])["pixel_values"]) for k in range(0, len(paths), B)]

    def run_pipeline(bs: int, subset=paths):
        return lambda: pipe(subset, batch_size=bs, top_k=5)

    def run_autocli(model=ours):
        return lambda: list(classify_media(model, processor, items, ClassifyOptions(batch_size=B, quiet=True, top_k=5)))

    def run_forward():
        with torch.inference_mode():
            for x in pixels:
                model(pixel_values=x)

    def pre_autocli():
        for k in range(0, len(paths), B):
            processor([processor.load(q) for q in paths[k:k + B]])

    def pre_transformers():
        for k in range(0, len(paths), B):
            hf_proc([load_image(q) for q in paths[k:k + B]], return_tensors="pt")

    quarter = paths[: max(1, len(paths) // 4)]
    tried = {bs: len(quarter) / timed(run_pipeline(bs, quarter)) for bs in [int(b) for b in args.pipeline_batch_sizes.split(",")]}
    best_bs = max(tried, key=tried.get)
    list(classify_media(ours, processor, items[:B], ClassifyOptions(batch_size=B, quiet=True, top_k=5)))  # warm-up

    rows = {f"transformers pipeline (batch {best_bs}, best)": run_pipeline(best_bs), f"autocli classify (batch {B})": run_autocli(),
            **({f"autocli classify (batch {B}, onnxruntime)": run_autocli(ort)} if ort is not None else {}),
            f"forward only (transformers model, batch {B})": run_forward}
    pre_rows = {"transformers: load_image + AutoImageProcessor": pre_transformers, "autocli: processor.load + processor": pre_autocli}
    best = {name: 0.0 for name in [*rows, *pre_rows]}
    for _ in range(args.rounds):
        for name, fn in {**rows, **pre_rows}.items():
            best[name] = max(best[name], len(paths) / timed(fn))

    print("| pipeline batch size (on a quarter) | images/s |\n|---|---:|")
    for bs, v in tried.items():
        print(f"| {bs} | {v:.2f} |")
    pipe_best = best[next(iter(rows))]
    print(f"\n| {len(paths)} images | images/s | vs pipeline |\n|---|---:|---:|")
    for name in rows:
        print(f"| {name} | {best[name]:.2f} | {best[name] / pipe_best:.2f}x |")
    print(f"\n| preprocessing alone, {len(paths)} images | images/s | ms/image |\n|---|---:|---:|")
    for name in pre_rows:
        print(f"| {name} | {best[name]:.1f} | {1000 / best[name]:.2f} |")
    for name in [n for n in rows if n.startswith("autocli")]:
        print(f"\n{name}: {best[name] / pipe_best:.2f}x the pipeline's best")
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
