"""--engine ray: the job's shards as a Ray Data set, run by `map_batches` on a pool of actors that each load the
model once (`--workers` actors of `--threads-per-worker` CPUs and `--gpus-per-worker` GPUs). A shard is one batch:
its actor reads the shard's rows, runs the command on them and writes the shard and its manifest itself, so only
shard numbers and counts travel through Ray, and the output stays exactly once however a worker or the driver dies.
Workers read and write s3:// and gs:// objects with the driver's store settings (its AWS_* variables).

The only module that imports ray (autocli[ray]).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from autocli.engine.files import is_remote, store_env
from autocli.engine.job import Job, run_shard
from autocli.errors import AutocliError, NotReachable, UsageError


class ShardWorker:
    """One actor of the pool: the job, and the models it loaded, kept from one shard to the next."""

    def __init__(self, job: Job):
        import torch

        torch.set_num_threads(job.shared.threads_per_worker or 1)
        self.job = job
        self.shards = {s.number: s for s in job.shards}
        self.memo: dict = {}

    def __call__(self, batch: dict) -> dict:
        """Run the batch's shards -> their counts; an autocli error (a bad option, an unloadable checkpoint) comes
        back as data, so that the driver stops with its message and exit code rather than Ray's wrapping."""
        import numpy as np

        counts, error = [], ""
        try:
            counts = [run_shard(self.job, self.shards[int(n)], self.memo) for n in batch["shard"]]
        except AutocliError as e:
            error = json.dumps(e.as_record())
        return {"rows": np.array([c[0] for c in counts] or [0]), "failed": np.array([c[1] for c in counts] or [0]),
                "error": np.array([error] * max(len(counts), 1))}


def run_ray(job: Job, todo: list, progress) -> None:
    """Run the shards `todo` on the Ray cluster at --ray-address (default: one started here for the job)."""
    import ray
    import ray.data

    shared = job.shared
    started = _connect(ray, shared.ray_address, shared.quiet)
    try:
        _check_room(ray, shared)
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # the job's own progress line says it
        context.print_on_execution_start = False
        logging.getLogger("ray.data").setLevel(logging.CRITICAL)  # a worker's error is the job's to say
        shards = ray.data.from_items([{"shard": s.number} for s in todo], override_num_blocks=len(todo))
        done = shards.map_batches(
            ShardWorker, fn_constructor_args=(job,), batch_size=1, batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=shared.workers),
            num_cpus=shared.threads_per_worker or 1, num_gpus=shared.gpus_per_worker or None,
            runtime_env={"env_vars": store_env()} if _remote(job) else None,
        )
        for row in done.iter_rows():
            if row["error"]:
                raise AutocliError(**json.loads(row["error"]))
            progress.advance(int(row["rows"]), int(row["failed"]))
    finally:
        if started:
            ray.shutdown()


def _remote(job: Job) -> bool:
    return job.store.root.remote or any(is_remote(s.file) for s in job.shards)


def _connect(ray, address: str | None, quiet: bool) -> bool:
    """Join the cluster at `address`, or start a local one -> whether this job started it (and so stops it)."""
    if ray.is_initialized():
        return False
    env = {}
    if address is None:  # workers of a runtime started here import autocli from where this process does
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH")) if p)
    try:
        ray.init(address=address, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=not quiet,
                 runtime_env={"env_vars": env} if env else None)
    except ConnectionError as e:
        raise NotReachable(f"cannot join the Ray cluster at {address}: {e}", "check --ray-address (auto: the cluster started on this machine)") from None
    return True


def _check_room(ray, shared) -> None:
    """A runtime started here cannot grow: --workers that do not fit its CPUs would wait for ever."""
    cpus = ray.cluster_resources().get("CPU", 0)
    need = shared.workers * (shared.threads_per_worker or 1)
    if shared.ray_address is None and need > cpus:
        raise UsageError(f"--workers {shared.workers} of {shared.threads_per_worker or 1} CPU each need {need} CPUs; this machine's Ray runtime has {cpus:g}",
                         "lower --workers or --threads-per-worker, or join a cluster with --ray-address")

