"""`autocli classify --output` with `--engine local` against `--engine ray --workers 2`, whole processes.

    python bench/bench_ray.py [--rows 20000] [--rounds 1] [--shard-rows 1000]

The bert-base-sized classifier of bench_classify.py (random weights, MiniLM's tokenizer) and its sentences of
5-60 words, written as JSONL. Each round runs the console script once per setup (interleaved, the machine drifts)
into a fresh output folder; the time is the whole process: start, Ray's runtime (started by the job), model
loads, every shard written. Setups: local with torch's default threads (2 here) against Ray with 2 actors of
1 CPU / 1 thread (the issue's comparison), and local with 1 thread against Ray with 1 actor of 1 thread (the
same compute, so the difference is Ray's own cost). "worker rows/s" is rows over the summed seconds the
manifests record per shard: one worker's steady rate, start-up and model load left out.
Prints a markdown table with the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_classify  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT = Path(__file__).resolve().parent / "out" / "ray"


def cpu() -> str:
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "?")
    flags = next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), [])
    shown = [f for f in flags if f.startswith(("avx512", "amx")) or f in ("avx2", "fma")]
    return f"{model}, {os.cpu_count()} CPUs, flags: {' '.join(shown)}"


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# --only picks setups by these short names
SHORT = {"local": "--engine local", "ray2": "--engine ray --workers 2", "local1": "--engine local --threads-per-worker 1",
         "ray1": "--engine ray --workers 1"}
SETUPS = {
    "--engine local": [],
    "--engine ray --workers 2": ["--engine", "ray", "--workers", "2"],
    "--engine local --threads-per-worker 1": ["--threads-per-worker", "1"],
    "--engine ray --workers 1": ["--engine", "ray", "--workers", "1"],
}


def run(setup: str, model: Path, src: Path, shard_rows: int) -> tuple[float, float]:
    """-> (whole-process seconds, summed shard seconds from the manifests)"""
    out = OUT / "output"
    shutil.rmtree(out, ignore_errors=True)
    args = [str(Path(sys.executable).with_name("autocli")), "classify", str(model), "--input", str(src), "--jsonl",
            "--output", str(out), "--shard-rows", str(shard_rows), "--format", "jsonl", *SETUPS[setup]]
    start = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{setup} failed ({proc.returncode}): {proc.stderr.decode()[-2000:]}")
    shards = sum(json.loads(m.read_text())["seconds"] for m in (out / "_manifests").glob("part-*.json"))
    return seconds, shards


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=20000)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--shard-rows", type=int, default=1000)
    p.add_argument("--only", default=",".join(SHORT), help=f"setups to run, by short name ({', '.join(SHORT)})")
    args = p.parse_args()
    setups = [SHORT[name] for name in args.only.split(",")]

    folder = bench_classify.build()
    OUT.mkdir(parents=True, exist_ok=True)
    src = OUT / f"sentences-{args.rows}.jsonl"
    if not src.is_file():
        src.write_text("".join(json.dumps({"text": t}) + "\n" for t in bench_classify.sentences(folder, args.rows)), encoding="utf-8")
    print(f"checkpoint: {folder}\nrows: {args.rows}, shards of {args.shard_rows}\nCPU: {cpu()}\nload average at start: {load()}\n")
    best = {setup: (float("inf"), 0.0) for setup in setups}
    for r in range(args.rounds):
        for setup in setups:
            seconds, shards = run(setup, folder, src, args.shard_rows)
            best[setup] = min(best[setup], (seconds, shards))
            print(f"round {r + 1}: {setup}: {seconds:.1f} s ({args.rows / seconds:.1f} rows/s), load average {load()}", flush=True)
    rates = {setup: args.rows / seconds for setup, (seconds, _) in best.items()}
    table = ["", f"| {args.rows} rows | whole process s | rows/s | worker rows/s |", "|---|---:|---:|---:|"]
    table += [f"| {s} | {best[s][0]:.1f} | {rates[s]:.1f} | {args.rows / best[s][1]:.1f} |" for s in setups]
    print("\n".join(table) + "\n")
    for ray, local in (("--engine ray --workers 2", "--engine local"), ("--engine ray --workers 1", "--engine local --threads-per-worker 1")):
        if ray in rates and local in rates:
            print(f"{ray} vs {local}: {100 * (1 - rates[ray] / rates[local]):+.1f}% fewer rows/s (overhead target < 15%)")
    print(f"load average at end: {load()}")

if __name__ == "__main__":
    main()
