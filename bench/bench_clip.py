"""`autocli classify --labels` (zero-shot) on image files against transformers' zero-shot-image-classification
pipeline, same checkpoint, same files, same labels.

    python bench/bench_clip.py [--images 200] [--labels 10] [--chunk 8] [--threads 2] [--pipeline-batch-size 1] [--batch-size 8]

A random CLIPModel at openai/clip-vit-base-patch32's shapes (vision: hidden 768, 12 layers, 224x224, patch 32; text:
hidden 512, 12 layers, 77 positions, vocab 49408; projection 512) with CLIPImageProcessor's defaults and the
tokenizer of tests/fx_clip.py (a real CLIP tokenizer over a small vocabulary; the text tower's embedding table is
full size) is built once with transformers into bench/out/. Images: the JPEGs of bench/bench_vision.py. Labels:
"a photo of a cat", ... (10 by default) through the default template. Rows, from the file paths (decode and
preprocessing included, model loading excluded):

  pipeline             transformers' pipeline on the paths (it embeds the label texts again for every image)
  autocli zero-shot    tasks.zero_shot.zero_shot, one run over all the images: the label texts once, images in
                       batches of --batch-size, every label's score

On a shared machine the load drifts within minutes, so the rows are interleaved finely: the pipeline takes
--chunk images, then autocli's run is advanced by as many records (it computes a window of inputs at a time), and
so on; each row's time is the sum of its turns. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent.parent)]
from bench_vision import OUT as IMAGES_OUT, SIZES, images  # noqa: E402

OUT = Path(__file__).resolve().parent / "out" / "clip-base-zero-shot"
LABELS = ("cat", "dog", "car", "bird", "house", "tree", "boat", "person", "flower", "mountain")


def build() -> Path:
    if (OUT / "model.safetensors").is_file():
        return OUT
    import torch
    from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel

    from tests.fx_clip import write_clip_tokenizer

    OUT.mkdir(parents=True, exist_ok=True)
    write_clip_tokenizer(OUT)
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(OUT))
    tok.model_max_length = 77
    tok.save_pretrained(OUT)
    torch.manual_seed(0)
    text = {"bos_token_id": tok.bos_token_id, "eos_token_id": tok.eos_token_id}  # the rest: clip-vit-base-patch32's
    CLIPModel(CLIPConfig(text_config=text, vision_config={})).save_pretrained(OUT, safe_serialization=True)
    CLIPImageProcessorPil().save_pretrained(OUT)
    return OUT


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=200)
    p.add_argument("--labels", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=8, help="autocli's batch size")
    p.add_argument("--pipeline-batch-size", type=int, default=1)
    p.add_argument("--chunk", type=int, default=8, help="images per turn of each row")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()

    import time

    import torch
    from transformers import CLIPImageProcessorPil, pipeline

    from autocli.inputs import Item
    from autocli.tasks import load
    from autocli.tasks.zero_shot import TEMPLATE, ZeroShotOptions, zero_shot

    torch.set_num_threads(args.threads)
    folder = build()
    IMAGES_OUT.mkdir(parents=True, exist_ok=True)  # the JPEGs live beside bench_vision's checkpoint
    paths = images(args.images)
    labels = [f"a photo of a {name}" for name in (LABELS * (args.labels // len(LABELS) + 1))[: args.labels]]
    print(f"checkpoint: {folder}\nimages: {len(paths)} JPEGs of {', '.join(f'{w}x{h}' for w, h in SIZES)}, labels: {len(labels)}, "
          f"threads: {args.threads}, load average {os.getloadavg()[0]:.2f}\n")

    _, processor, ours = load(str(folder), "zero-shot-image-classification", device="cpu")
    pipe = pipeline("zero-shot-image-classification", model=str(folder), device="cpu",
                    image_processor=CLIPImageProcessorPil.from_pretrained(str(folder)))
    items = [Item(i, {"image": path}) for i, path in enumerate(paths)]
    options = ZeroShotOptions(batch_size=args.batch_size, quiet=True)
    pipe(paths[:1], candidate_labels=labels)  # warm-up, both
    list(zero_shot(ours, processor, items[:1], labels, TEMPLATE, options))

    spent = {"pipeline": 0.0, "autocli": 0.0}
    ours_run = zero_shot(ours, processor, iter(items), labels, TEMPLATE, options)
    for k in range(0, len(paths), args.chunk):
        chunk = paths[k:k + args.chunk]
        start = time.perf_counter()
        pipe(chunk, candidate_labels=labels, batch_size=args.pipeline_batch_size)
        mid = time.perf_counter()
        for _ in chunk:
            next(ours_run)
        spent["pipeline"] += mid - start
        spent["autocli"] += time.perf_counter() - mid
    assert next(ours_run, None) is None

    rate = {name: len(paths) / t for name, t in spent.items()}
    print(f"| {len(paths)} images x {len(labels)} labels | seconds | images/s | vs pipeline |\n|---|---:|---:|---:|")
    print(f"| transformers pipeline (batch {args.pipeline_batch_size}) | {spent['pipeline']:.1f} | {rate['pipeline']:.3f} | 1.00x |")
    print(f"| autocli zero-shot (batch {args.batch_size}) | {spent['autocli']:.1f} | {rate['autocli']:.3f} | "
          f"{rate['autocli'] / rate['pipeline']:.2f}x |")
    print(f"\nautocli zero-shot: {rate['autocli'] / rate['pipeline']:.2f}x the pipeline; load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
