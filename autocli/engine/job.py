"""One --output job, as a value a worker process can receive: the command to run, its options, the shards and
the output folder. A shard runs through the command's own code (the same task runner as without --output):
the command is called with the shard's rows as its inputs and its records are taken instead of printed.
"""

from __future__ import annotations

import dataclasses
import importlib
import time
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from autocli import __version__
from autocli.engine.shards import Columns, Feed, Shard
from autocli.engine.store import Store
from autocli.errors import UsageError

# Shared options that say how or where a job runs, not what it computes: a resumed job may change them.
RUN_OPTIONS = ("engine", "output", "resume", "overwrite", "workers", "threads_per_worker", "gpus_per_worker", "ray_address",
               "quiet", "verbose", "device", "token", "cache_dir", "offline", "fmt", "json_flag", "expect", "atol", "feed", "sink",
               "memo")


@dataclass
class Job:
    command: tuple[str, str]  # module and name of the command function (a shared_options wrapper)
    args: tuple
    kwargs: dict  # the command's own options
    shared: object  # autocli.cli.options.Shared, without feed, sink and memo
    shards: list[Shard]
    store: Store

    @property
    def columns(self) -> Columns:
        return self.columns_of(self.shared)

    @staticmethod
    def columns_of(shared) -> Columns:
        return Columns(shared.text_column, shared.pair_column, shared.id_column, shared.image_column, shared.audio_column)

    def function(self):
        module, name = self.command
        return getattr(importlib.import_module(module), name).__wrapped__


def plain(value):
    """An option's value as JSON data (a manifest records them)."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def job_key(command: str, kwargs: dict, shared, fmt: str) -> dict:
    """What every manifest of the job records and a resumed job must match."""
    options = {k: plain(v) for k, v in kwargs.items() if k not in ("model", "fmt")}
    options.update({f.name: plain(getattr(shared, f.name)) for f in dataclasses.fields(shared) if f.name not in RUN_OPTIONS})
    return {"autocli": __version__, "command": command, "model": kwargs.get("model"), "revision": shared.revision,
            "format": fmt, "options": options}


def run_shard(job: Job, shard: Shard, memo: dict) -> tuple[int, int]:
    """Run the command on one shard and write its records -> (rows, failed rows). `memo` keeps the models
    the command loaded for the next shard of this worker."""
    from autocli.render import record_data

    start = time.perf_counter()
    feed, taken = Feed(shard, job.columns), []
    shared = dataclasses.replace(job.shared, feed=feed, sink=lambda records, of: taken.append((records, of)), memo=memo)
    job.function()(*job.args, **job.kwargs, shared=shared)
    if not feed.read or len(taken) != 1:
        raise UsageError("with --output the inputs come from --input only", "drop the options that give inputs directly (--context, --question)")
    records, of = taken[0]
    rows = []
    for rec in records:
        data = record_data(rec, of)
        rows.append({"id": feed.ids.get(rec.index), **data})
    if len(rows) != shard.rows:
        raise RuntimeError(f"shard {shard.number}: {len(rows)} records for {shard.rows} rows")
    failed = job.store.write(shard, rows, time.perf_counter() - start)
    return len(rows), failed
