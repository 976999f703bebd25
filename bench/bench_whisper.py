"""`autocli transcribe` with Whisper against transformers' automatic-speech-recognition pipeline, greedy, same
checkpoint, same audio, each side in its own process (peak RSS is per process).

    python bench/bench_whisper.py [--seconds 60] [--rounds 2] [--threads 1]

A random model at openai/whisper-tiny's shapes (d_model 384, 4 + 4 layers, 6 heads, 80 mel bins, 51,865 tokens,
448 decoder positions) is built once with transformers into bench/out/, with a Whisper-layout tokenizer (a small
byte-level BPE padded to Whisper's 50,257 text ids, then <|endoftext|>, <|startoftranscript|>, 99 language tokens,
the task tokens, <|notimestamps|> and 1,501 timestamp tokens at Whisper's ids) and a generation_config.json as
openai's (language detection, suppress_tokens, begin_suppress_tokens). The audio: --seconds of a noisy tone at
44.1 kHz stereo, so a long-form (sequential 30 s windows) transcription.

Rounds alternate the two sides (the machine drifts); each child loads its model (not timed), transcribes once
(timed: autocli from the file, decode and resample included; the pipeline from the array autocli decodes, its
decoding not timed) and reports its time, its peak RSS and its text. The texts are checked equal.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this tree's autocli (and tests/, for the tokenizer builder)

OUT = Path(__file__).resolve().parent / "out" / "whisper-tiny-random"
LANGS = ["en", *(f"x{i:02d}" for i in range(98))]  # Whisper's 99 language slots; only "en" is a real code
TINY = dict(d_model=384, encoder_layers=4, decoder_layers=4, encoder_attention_heads=6, decoder_attention_heads=6,
            encoder_ffn_dim=1536, decoder_ffn_dim=1536, num_mel_bins=80, max_source_positions=1500, max_target_positions=448)


def build() -> Path:
    if (OUT / "model.safetensors").is_file():
        return OUT
    import torch
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration

    from tests.fx_whisper import generation_config, write_whisper_tokenizer

    ids = write_whisper_tokenizer(OUT, LANGS, text_tokens=50257)
    eos = ids["<|endoftext|>"]
    assert (eos, ids["vocab"]) == (50257, 51865), ids["vocab"]
    cfg = WhisperConfig(**TINY, vocab_size=ids["vocab"], decoder_start_token_id=ids["<|startoftranscript|>"],
                        pad_token_id=eos, bos_token_id=eos, eos_token_id=eos)
    torch.manual_seed(0)
    model = WhisperForConditionalGeneration(cfg).eval()
    with torch.no_grad():
        model.model.decoder.embed_tokens.weight.normal_(0, 0.3)  # token logits as sharp as a trained model's
    model.save_pretrained(OUT, safe_serialization=True)
    (OUT / "generation_config.json").write_text(json.dumps(generation_config(ids, True, 448, LANGS), indent=2))
    WhisperFeatureExtractor().save_pretrained(OUT)
    return OUT


def child(side: str, wav: Path, threads: int) -> dict:
    """One side, in this process: load (untimed), transcribe once (timed) -> its numbers."""
    import torch

    torch.set_num_threads(threads)
    if side == "autocli":
        from autocli.inputs import Item
        from autocli.tasks import load
        from autocli.tasks.gen_settings import GENERATION_CONFIG, resolve_settings
        from autocli.tasks.whisper import WhisperOptions, transcribe_whisper
        from autocli.tasks.whisper_rules import WhisperGeneration

        ckpt, pre, model = load(str(OUT), "speech-seq2seq", device="cpu")
        gen = ckpt.json(GENERATION_CONFIG)
        g = WhisperGeneration.read(gen, model.config.raw)
        s = resolve_settings(model.config, gen, pre.tokenizer, {}, seq2seq=True)
        start = time.perf_counter()
        rec = next(iter(transcribe_whisper(model, pre, [Item(0, {"audio": str(wav)})], WhisperOptions(quiet=True), g, s)))
        text = rec.text
    else:
        from transformers import pipeline

        from autocli.preprocess.audio import decode

        samples = decode(str(wav), 16000)
        pipe = pipeline("automatic-speech-recognition", model=str(OUT), device="cpu")
        start = time.perf_counter()
        text = pipe({"raw": samples, "sampling_rate": 16000})["text"]
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "text": text}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)  # loaded 2-vCPU machines: idle pool threads cost 20 ms per op
    p.add_argument("--side", choices=("autocli", "pipeline"), help=argparse.SUPPRESS)
    args = p.parse_args()
    from bench import bench_audio  # the CTC bench's recording: a noisy tone, 44.1 kHz stereo

    bench_audio.OUT.mkdir(parents=True, exist_ok=True)
    build()
    wav = bench_audio.recording(args.seconds)
    if args.side:
        print(json.dumps(child(args.side, wav, args.threads)))
        return
    import torch

    from bench.bench_audio import cpu_name

    print(f"checkpoint: {OUT} (random, whisper-tiny shapes)\naudio: {args.seconds:g} s, 44.1 kHz stereo WAV; threads: "
          f"{args.threads}; CPU: {cpu_name()}; torch {torch.__version__} ({torch.backends.cpu.get_cpu_capability()}); "
          f"load average {os.getloadavg()[0]:.2f}\n")
    best = {"pipeline": (float("inf"), 0.0), "autocli": (float("inf"), 0.0)}
    texts = {}
    for _ in range(args.rounds):
        for side in ("pipeline", "autocli"):
            out = subprocess.run([sys.executable, __file__, "--side", side, "--seconds", str(args.seconds),
                                  "--threads", str(args.threads)], capture_output=True, text=True, check=True)
            res = json.loads(out.stdout.strip().splitlines()[-1])
            texts[side] = res["text"]
            best[side] = (min(best[side][0], res["seconds"]), max(best[side][1], res["rss_mb"]))
            print(f"  {side}: {res['seconds']:.2f} s, peak RSS {res['rss_mb']:.0f} MB (load {os.getloadavg()[0]:.2f})", flush=True)
    (pt, pm), (at, am) = best["pipeline"], best["autocli"]
    print(f"\n| {args.seconds:g} s of audio, greedy | seconds (best of {args.rounds}) | peak RSS MB |\n|---|---:|---:|")
    print(f"| transformers pipeline | {pt:.2f} | {pm:.0f} |\n| autocli transcribe | {at:.2f} | {am:.0f} |")
    print(f"\nspeed: {pt / at:.2f}x the pipeline; peak RSS: {am / pm:.2f}x; transcripts equal: {texts['pipeline'] == texts['autocli']}; "
          f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
