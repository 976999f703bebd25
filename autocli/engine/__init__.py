"""The engine of the batch commands' --output jobs: the input split into shards, each shard run through the
command's own task code and written with a manifest, locally (--engine local) or on a pool of Ray workers
(--engine ray). The engine only schedules: the records are those the command prints without --output.

Every shard is written once, atomically; --resume skips the shards whose manifest says they are done, so a
killed job restarts where it stopped and the output holds every input row exactly once.
"""

from __future__ import annotations

from autocli.engine.files import Folder
from autocli.engine.job import Job, job_key, plain, run_shard
from autocli.engine.progress import Progress
from autocli.engine.shards import input_files, plan
from autocli.engine.store import Store
from autocli.errors import BatchIncomplete, UsageError

FORMATS = {"auto": "parquet", "jsonl": "jsonl"}


def output_format(kwargs: dict, shared) -> str:
    """Parquet, or JSONL with --format jsonl (generate's --format is its own option)."""
    given = plain(kwargs.get("fmt") or shared.fmt)
    if shared.json_flag or given not in FORMATS:
        raise UsageError(f"--output writes Parquet or JSONL shards, not {'json' if shared.json_flag else given}",
                         "drop --format for Parquet, or use --format jsonl")
    return FORMATS[given]


def run_job(fn, args: tuple, kwargs: dict, shared) -> None:
    """Run a batch command (fn, a shared_options command) as an --output job; exit 7 when some rows failed."""
    from autocli.extras import need

    if shared.output is None:
        raise UsageError("--engine ray and the column options (--text-column, --image-column, --id-column...) need --output DIR",
                         "add --output DIR: the records go there in shards")
    if getattr(shared, "expect", None) is not None:
        raise UsageError("--expect checks the records a command prints, not an --output job", "drop --expect or --output")
    fmt = output_format(kwargs, shared)
    if fmt == "parquet":
        need("pyarrow.parquet", "parquet")
    if shared.engine.value == "ray":
        need("ray.data", "ray")
    shards = plan(input_files(shared.input_file), shared.shard_rows, Job.columns_of(shared), shared.jsonl)
    if not shards:
        raise UsageError("no input: the --input files are empty", "give --input a file with rows")
    what = fn.__name__.removesuffix("_cmd").replace("_", "-")
    if kwargs.get("model") is not None:
        from autocli.engine.fields import check_fields

        check_fields(kwargs["model"], what, shared, shards)
    store = Store(Folder(shared.output), fmt, job_key(what, kwargs, shared, fmt))
    done = store.prepare(shards, shared.resume, shared.overwrite)
    job = Job((fn.__module__, fn.__name__), args, kwargs, shared, shards, store)
    progress = Progress(what, sum(s.rows for s in shards), len(shards), quiet=shared.quiet)
    for manifest in done.values():
        progress.resume(manifest.get("rows", 0), manifest.get("failed", 0))
    todo = [s for s in shards if s.number not in done]
    if todo and shared.engine.value == "ray":
        from autocli.engine.ray_engine import run_ray

        run_ray(job, todo, progress)
    elif todo:
        run_local(job, todo, progress)
    progress.summary(str(shared.output), fmt, shared.engine.value)
    if progress.failed:
        raise BatchIncomplete(f"{progress.failed:,} of {progress.total:,} inputs failed",
                              f"each failure is an error record (its \"error\" column) in {shared.output}")


def run_local(job: Job, todo: list, progress: Progress) -> None:
    """The shards one after another in this process, the model loaded once."""
    if job.shared.threads_per_worker is not None:
        import torch

        torch.set_num_threads(job.shared.threads_per_worker)
    memo: dict = {}
    for shard in todo:
        progress.advance(*run_shard(job, shard, memo))

