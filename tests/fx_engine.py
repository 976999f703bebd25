"""Helpers of the engine tests (--output, --resume, --engine ray): inputs written to files, outputs read back."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path
from typing import Callable

import pytest

from tests.conftest import AUTOCLI_SCRIPT, ROOT

WORDS = "the a cat dog sat ran on under big small red blue house river tree Paris London Ada Grace wrote built".split()


def sentences(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 24))) for _ in range(n)]


def write_jsonl(path: Path, texts: list[str], key: str = "text", bad: dict | None = None) -> Path:
    """One object per text with an id "r<N>"; `bad` maps row numbers to raw lines put in their place."""
    lines = [json.dumps({key: t, "id": f"r{i}"}) for i, t in enumerate(texts)]
    for i, raw in (bad or {}).items():
        lines[i] = raw
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def read_part(part: Path) -> list[dict]:
    if part.suffix == ".jsonl":
        return [json.loads(line) for line in part.read_text(encoding="utf-8").splitlines()]
    import pyarrow.parquet as pq

    return pq.read_table(part).to_pylist()


def read_output(folder: Path) -> list[dict]:
    """Every record of an --output folder (Parquet or JSONL parts), in part order."""
    return [r for part in sorted(Path(folder).glob("part-*")) for r in read_part(part)]


def manifests(folder: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in sorted((Path(folder) / "_manifests").glob("part-*.json"))}


def comparable(records: list[dict]) -> list[dict]:
    """Records sorted by id, without what differs from run to run (generate's timings)."""
    return sorted(({k: v for k, v in r.items() if k != "timings"} for r in records), key=lambda r: str(r["id"]))


def start_script(args: list, env: dict | None = None) -> subprocess.Popen:
    """The console script as a background process (the driver a kill test stops)."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.Popen([str(AUTOCLI_SCRIPT), *map(str, args)], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=full_env)


def kill_after_first_shard(proc: subprocess.Popen, committed: Callable[[], bool], sig: int, timeout: float = 240) -> int:
    """Send `sig` once the job has committed a shard (committed(): its first manifest is there) -> the process's
    exit status."""
    deadline = time.monotonic() + timeout
    while not committed():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no shard was written in time"
        time.sleep(0.05)
    proc.send_signal(sig)
    try:
        proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
    return proc.returncode


def assert_parts_whole(folder: Path, shard_rows: int, total: int) -> None:
    """No partial shard is visible: every part file reads whole, with its shard's row count, and no temporary
    file is left under a part's name."""
    for part in sorted(Path(folder).glob("part-*")):
        number = int(part.name.split("-")[1].split(".")[0])
        rows = read_part(part)
        assert len(rows) == min(shard_rows, total - number * shard_rows), part
        assert [r["index"] for r in rows] == list(range(number * shard_rows, number * shard_rows + len(rows)))


SIGNALS = {"SIGINT": signal.SIGINT, "SIGKILL": signal.SIGKILL}


def kill_then_resume(args: list, out: Path, n: int, shard_rows: int, sig: str, env: dict | None = None,
                     view: Callable[[], Path] | None = None, committed: Callable[[], bool] | None = None) -> int:
    """Run the job `args` (rows with ids r0..r<n-1>), kill its driver with `sig` once a shard is committed, check
    that no partial shard is visible, rerun it with --resume and check that every row is in the output exactly
    once, in order -> the killed driver's exit status. An output in a store is checked through view(), a local
    copy of it, and committed() says when its first manifest is there."""
    view = view or (lambda: out)
    committed = committed or (lambda: bool(list((Path(out) / "_manifests").glob("part-*.json"))))
    status = kill_after_first_shard(start_script(args, env), committed, SIGNALS[sig])
    out = view()
    assert_parts_whole(out, shard_rows, n)
    assert len(manifests(out)) < -(-n // shard_rows)
    proc = start_script([*args, "--resume"], env)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err.decode()
    out = view()
    records = read_output(out)
    assert sorted(r["id"] for r in records) == sorted(f"r{i}" for i in range(n))
    assert [r["index"] for r in records] == list(range(n))
    assert sum(m["rows"] for m in manifests(out).values()) == n
    assert not list(Path(out).rglob(".*"))
    return status


@pytest.fixture(scope="session")
def ray_address():
    """One Ray runtime for the session, whichever test module asks first; its workers import this tree's autocli.
    Drivers in other processes join it with --ray-address."""
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.data")
    if ray.is_initialized():  # another module's copy of this fixture started it
        yield ray.get_runtime_context().gcs_address
        return
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), old) if p)
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old
