"""`autocli diff MODEL@v1 MODEL@v2` of two 7B-sized sharded checkpoints on the Hub stand-in, header-only.

The stand-in (tests/fx_hub.py) runs in this process on 127.0.0.1 and serves two revisions of a Llama-2-7B-shaped
repo (2 shards, 13.5 GB per revision as listed and as Content-Length/Content-Range say) whose weight files hold
only their real safetensors headers (tests/fx_sparse.py); a read into the data region past 64 MiB fails on the
server. Each run is a fresh `autocli` process (imports included). "cold": a fresh HF cache per run (file listing,
config.json, the index and two range reads per shard over HTTP); "warm": the cache of the previous run.
After each run: the exit code is 0, the two differences are found, and no weight file is in the cache.

    python bench/bench_diff.py [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fx_hub import HubStandIn  # noqa: E402
from tests.fx_sparse import serve_llama_7b_revisions  # noqa: E402

ARGS = ["diff", "org/llama-7b@v1", "org/llama-7b@v2", "--json"]


def autocli() -> list[str]:
    exe = Path(sys.executable).with_name("autocli")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "autocli"]


def run_once(env: dict, cache: Path) -> float:
    start = time.perf_counter()
    out = subprocess.run([*autocli(), *ARGS], capture_output=True, text=True, env=env, cwd=ROOT)
    wall = time.perf_counter() - start
    if out.returncode != 0:
        sys.exit(f"autocli diff failed ({out.returncode}): {out.stderr}")
    d = json.loads(out.stdout)
    found = [c["key"] for c in d["config"]] + [c["name"] for c in d["tensors"]]
    assert found == ["rope_theta", "model.norm.weight"], found
    big = [p for p in cache.rglob("*") if p.is_file() and p.stat().st_size > 1 << 20]
    assert not big and not list(cache.rglob("snapshots/*/*.safetensors")), big
    return wall


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_diff_"))
    hub = HubStandIn().start()
    try:
        serve_llama_7b_revisions(hub, tmp / "repo")
        listed = sum(len(d) for rev in ("v1", "v2") for d in hub.repos["org/llama-7b"].revisions[rev].files.values())
        base = {**os.environ, "HF_ENDPOINT": hub.url, "HF_HUB_DISABLE_TELEMETRY": "1", "PYTHONPATH": str(ROOT)}
        base.pop("HF_HUB_OFFLINE", None)
        load = os.getloadavg()[0]
        cold, warm = [], []
        for i in range(args.runs):
            cache = tmp / f"cache{i}"
            env = {**base, "HF_HUB_CACHE": str(cache), "HF_HOME": str(tmp / f"home{i}")}
            hub.reset_counts()
            cold.append(run_once(env, cache))
            served = hub.bytes_served()
            warm.append(run_once(env, cache))
            shutil.rmtree(cache)
        print(f"two revisions of {listed / 2**30:.1f} GiB listed in all; bytes served per cold run: {served:,}")
        print(f"load average: {load:.2f} at start, {os.getloadavg()[0]:.2f} at end; {args.runs} runs each\n")
        print("| run | median s | min s | max s |\n|---|---|---|---|")
        for name, times in (("cold cache", cold), ("warm cache", warm)):
            print(f"| {name} | {statistics.median(times):.3f} | {min(times):.3f} | {max(times):.3f} |")
    finally:
        hub.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
