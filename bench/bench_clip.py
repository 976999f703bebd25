"""`autocli classify --labels` (zero-shot) on image files against transformers' zero-shot-image-classification
pipeline, same checkpoint, same files, same labels.

    python bench/bench_clip.py [--images 200] [--labels 10] [--rounds 2] [--threads 2] [--pipeline-batch-sizes 1,8] [--batch-size 8]

A random CLIPModel at openai/clip-vit-base-patch32's shapes (vision: hidden 768, 12 layers, 224x224, patch 32; text:
hidden 512, 12 layers, 77 positions, vocab 49408; projection 512) with CLIPImageProcessor's defaults and the
tokenizer of tests/fx_clip.py (a real CLIP tokenizer over a small vocabulary; the text tower's embedding table is
full size) is built once with transformers into bench/out/. Images: the JPEGs of bench/bench_vision.py. Labels:
"a photo of a cat", ... (10 by default) through the default template. Rows, all from the file paths (decode and
preprocessing included, model loading excluded):

  pipeline (batch N)   transformers' pipeline on the list of paths, at each batch size tried on a quarter of the
                       images; the best one runs in the timed rounds. It embeds the label texts once per image.
  autocli zero-shot    tasks.zero_shot.zero_shot on the loaded model: the label texts once per run, images in
                       batches of --batch-size, softmax over the labels, every label's score
  image tower only     the transformers vision tower + projection on pixel values prepared beforehand, in batches
                       of --batch-size: what is left of either when text and preprocessing cost nothing

Rows are interleaved in each round (the machine drifts) and the best round is kept. Prints markdown tables.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent.parent)]
from bench_classify import timed  # noqa: E402
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
    p.add_argument("--batch-size", type=int, default=8, help="autocli's and the image-tower row's batch size")
    p.add_argument("--pipeline-batch-sizes", default="1,8")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()

    import torch
    from transformers import CLIPImageProcessorPil, CLIPModel, pipeline

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
    model = CLIPModel.from_pretrained(str(folder)).eval()
    items = [Item(i, {"image": path}) for i, path in enumerate(paths)]
    B = args.batch_size
    pixels = [torch.from_numpy(processor([processor.load(q) for q in paths[k:k + B]])["pixel_values"]) for k in range(0, len(paths), B)]

    def run_pipeline(bs: int, subset=paths):
        return lambda: pipe(subset, candidate_labels=labels, batch_size=bs)

    def run_autocli(subset=items):
        return lambda: list(zero_shot(ours, processor, subset, labels, TEMPLATE, ZeroShotOptions(batch_size=B, quiet=True)))

    def run_tower():
        with torch.inference_mode():
            for x in pixels:
                model.get_image_features(pixel_values=x)

    quarter = paths[: max(1, len(paths) // 4)]
    tried = {bs: len(quarter) / timed(run_pipeline(bs, quarter)) for bs in [int(b) for b in args.pipeline_batch_sizes.split(",")]}
    best_bs = max(tried, key=tried.get)
    run_autocli(items[:B])()  # warm-up

    rows = {f"transformers pipeline (batch {best_bs}, best)": run_pipeline(best_bs), f"autocli zero-shot (batch {B})": run_autocli(),
            f"image tower only (transformers, batch {B})": run_tower}
    best = {name: 0.0 for name in rows}
    for _ in range(args.rounds):
        for name, fn in rows.items():
            best[name] = max(best[name], len(paths) / timed(fn))

    print("| pipeline batch size (on a quarter) | images/s |\n|---|---:|")
    for bs, v in tried.items():
        print(f"| {bs} | {v:.2f} |")
    pipe_best = best[next(iter(rows))]
    print(f"\n| {len(paths)} images x {len(labels)} labels | images/s | vs pipeline |\n|---|---:|---:|")
    for name in rows:
        print(f"| {name} | {best[name]:.2f} | {best[name] / pipe_best:.2f}x |")
    ours_best = best[f"autocli zero-shot (batch {B})"]
    print(f"\nautocli zero-shot: {ours_best / pipe_best:.2f}x the pipeline's best; load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
