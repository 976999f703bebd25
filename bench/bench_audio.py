"""`autocli transcribe` against transformers' automatic-speech-recognition pipeline, same checkpoint, same audio.

    python bench/bench_audio.py [--seconds 60] [--rounds 2] [--threads 2] [--onnxruntime] [--quick]

A random wav2vec2-base-sized CTC model (config as facebook/wav2vec2-base-960h: hidden 768, 12 layers, group-norm
feature encoder, 32 letters) is built once with transformers into bench/out/, with a noisy tone of --seconds at
44.1 kHz stereo as a WAV file. Rows, interleaved in each round (the machine drifts), best round kept:

  pipeline, whole          pipeline("automatic-speech-recognition") on the decoded 16 kHz array, unchunked
  autocli, whole           the transcribe task on the file (decode, downmix, resample included), --chunk-length 0
  pipeline, chunks 30 s    the same with chunk_length_s=30 (stride 5 s each side)
  autocli, chunks 30 s     the transcribe task with its defaults (--chunk-length 30, stride 5 s)
  ... (onnxruntime)        with --onnxruntime: both autocli rows again on --backend onnxruntime (graph cached first)

The pipeline gets the array autocli decodes (it would need ffmpeg for the file and torchaudio to resample);
its decoding is not timed, autocli's is. Transcripts are checked equal. Model loading is excluded.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this tree's autocli

OUT = Path(__file__).resolve().parent / "out" / "wav2vec2-base-ctc"
VOCAB = ["<pad>", "<s>", "</s>", "<unk>", "|", *"ETAONIHSRDLUMWCFGYPBVK'XJQZ"]


def build() -> Path:
    if (OUT / "model.safetensors").is_file():
        return OUT
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2CTCTokenizer, Wav2Vec2FeatureExtractor, Wav2Vec2ForCTC

    OUT.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    config = Wav2Vec2Config(vocab_size=len(VOCAB), pad_token_id=0)  # the base defaults: group norm, post-norm, 768 x 12
    Wav2Vec2ForCTC(config).save_pretrained(OUT, safe_serialization=True)
    Wav2Vec2FeatureExtractor(return_attention_mask=False, do_normalize=True).save_pretrained(OUT)
    (OUT / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(VOCAB)}))
    Wav2Vec2CTCTokenizer(str(OUT / "vocab.json")).save_pretrained(OUT)
    return OUT


def recording(seconds: float) -> Path:
    import numpy as np
    import soundfile as sf

    path = OUT / f"speech-{seconds:g}s.wav"
    if not path.is_file():
        rng, rate = np.random.default_rng(0), 44100
        t = np.arange(int(seconds * rate)) / rate
        tone = 0.3 * np.sin(2 * np.pi * 180 * t) * (1 + np.sin(2 * np.pi * 0.7 * t))
        sf.write(str(path), np.stack([tone + 0.05 * rng.standard_normal(t.size) for _ in range(2)], 1), rate, subtype="PCM_16")
    return path


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--onnxruntime", action="store_true", help="add the autocli rows on --backend onnxruntime")
    p.add_argument("--quick", action="store_true", help="20 s of audio")
    args = p.parse_args()
    if args.quick:
        args.seconds = 20.0

    import torch
    from transformers import pipeline

    from autocli.inputs import Item
    from autocli.preprocess.ctc import load_ctc_decoder
    from autocli.tasks import load
    from autocli.tasks.transcribe import TranscribeOptions, transcribe

    torch.set_num_threads(args.threads)
    folder, wav = build(), recording(args.seconds)
    ckpt, proc, ours = load(str(folder), "ctc", device="cpu", backend="torch")
    ort = load(str(folder), "ctc", device="cpu", backend="onnxruntime")[2] if args.onnxruntime else None
    decoder = load_ctc_decoder(ckpt)
    samples = proc.load(str(wav))
    pipe = pipeline("automatic-speech-recognition", model=str(folder), device="cpu")
    print(f"checkpoint: {folder}\naudio: {args.seconds:g} s, 44.1 kHz stereo WAV; threads: {args.threads}; "
          f"CPU: {cpu_name()}; torch {torch.__version__} ({torch.backends.cpu.get_cpu_capability()}); "
          f"load average {os.getloadavg()[0]:.2f}\n")

    def ours_run(chunk: float, model=ours):
        items = [Item(0, {"audio": str(wav)})]
        return lambda: next(iter(transcribe(model, proc, decoder, items, TranscribeOptions(batch_size=1, quiet=True, chunk_length=chunk)))).text

    def pipe_run(chunk: float):
        kw = {"chunk_length_s": chunk} if chunk else {}
        return lambda: pipe({"raw": samples.copy(), "sampling_rate": proc.sampling_rate}, **kw)["text"]

    rows = {"pipeline, whole": pipe_run(0), "autocli, whole": ours_run(0),
            "pipeline, chunks 30 s": pipe_run(30), "autocli, chunks 30 s": ours_run(30)}
    if ort is not None:
        rows.update({"autocli, whole (onnxruntime)": ours_run(0, ort), "autocli, chunks 30 s (onnxruntime)": ours_run(30, ort)})
        ours_run(0, ort)()  # warm-up
    best, texts = {name: float("inf") for name in rows}, {}
    ours_run(0)()  # warm-up (first-call allocations)
    for _ in range(args.rounds):
        for name, fn in rows.items():
            seconds, texts[name] = timed(fn)
            best[name] = min(best[name], seconds)
    same = all(texts[name] == texts["pipeline, whole" if "whole" in name else "pipeline, chunks 30 s"] for name in rows)
    print(f"| {args.seconds:g} s of audio | seconds (best of {args.rounds}) | x real time | vs pipeline |\n|---|---:|---:|---:|")
    for name, s in best.items():
        base = best["pipeline, whole" if "whole" in name else "pipeline, chunks 30 s"]
        print(f"| {name} | {s:.2f} | {args.seconds / s:.1f} | {base / s:.2f}x |")
    print(f"\ntranscripts equal: {same}; load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
