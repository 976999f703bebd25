"""The output folder of an --output job: one file per shard, each with a manifest, written so that a reader (or a
resumed job) never sees half of one.

    DIR/part-00000.parquet            the shard's records (JSONL with --format jsonl), one per input row
    DIR/_manifests/part-00000.json    what wrote it: the input shard, rows, failed rows, model, options, version

A shard is written to a hidden temporary name and renamed; its manifest follows the same way, and marks it done.
Readers of DIR as a Parquet data set skip the names starting with "_" or ".". A part without its manifest (a job
killed between the two renames) is written again.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from autocli.engine.shards import Shard
from autocli.errors import UsageError

MANIFESTS = "_manifests"
EXTENSIONS = {"parquet": "parquet", "jsonl": "jsonl"}
# manifest fields that describe the run rather than the job: never compared
RUN_FIELDS = ("rows", "failed", "seconds")


@dataclass
class Store:
    root: Path
    format: str  # parquet | jsonl
    job: dict  # model, revision, command, options, format, autocli version: what a resumed job must share

    def part(self, shard: Shard) -> Path:
        return self.root / f"part-{shard.number:05d}.{EXTENSIONS[self.format]}"

    def manifest_path(self, number: int) -> Path:
        return self.root / MANIFESTS / f"part-{number:05d}.json"

    def expected(self, shard: Shard) -> dict:
        return {**self.job, "shard": shard.describe()}

    def write(self, shard: Shard, rows: list[dict], seconds: float) -> int:
        """Write one shard's records and then its manifest, each atomically -> its failed rows."""
        failed = sum(1 for r in rows if r.get("error") is not None)
        part = self.part(shard)
        _atomic(part, lambda tmp: (_write_parquet if self.format == "parquet" else _write_jsonl)(tmp, rows))
        manifest = {**self.expected(shard), "rows": len(rows), "failed": failed, "seconds": round(seconds, 3)}
        data = json.dumps(manifest, indent=2, ensure_ascii=False).encode("utf-8")
        _atomic(self.manifest_path(shard.number), lambda tmp: tmp.write_bytes(data))
        return failed

    def prepare(self, shards: list[Shard], resume: bool, overwrite: bool) -> dict[int, dict]:
        """Make DIR ready for the job -> the manifests of the shards already done (resume), by shard number.

        Refuses a DIR holding another job's output (other input, model, options or version) unless overwrite,
        and one holding this job's output unless resume or overwrite. Parts without a matching manifest and
        temporary files of a killed job are removed, so that every row is in DIR once."""
        try:
            (self.root / MANIFESTS).mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UsageError(f"cannot make the --output folder {self.root}: {e.strerror}", "give a folder path") from None
        found = sorted((self.root / MANIFESTS).glob("part-*.json"))
        parts = [p for p in self.root.glob("part-*") if p.is_file()]
        if overwrite:
            for path in [*found, *parts]:
                path.unlink()
            found, parts = [], []
        manifests = {m: self._read(m) for m in found}
        if (manifests or parts) and not resume and not overwrite:
            raise UsageError(f"{self.root} already holds the output of a job",
                             "--resume continues it, --overwrite replaces it; or choose another --output DIR")
        by_number = {s.number: s for s in shards}
        done = {}
        for path, manifest in manifests.items():
            number = int(path.stem.split("-")[1])
            shard = by_number.get(number)
            why = "it is not a shard of this input" if shard is None else _difference(manifest, self.expected(shard))
            if why:
                raise UsageError(f"{self.root} holds {path.stem} of another job ({why})",
                                 "--overwrite replaces that output; or choose another --output DIR")
            if self.part(shard).is_file():
                done[number] = manifest
        for path in [*parts, *self.root.glob(".part-*"), *(self.root / MANIFESTS).glob(".part-*")]:
            if path.name.startswith(".") or int(path.name.split("-")[1].split(".")[0]) not in done:
                path.unlink(missing_ok=True)
        return done

    def _read(self, path: Path) -> dict:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise UsageError(f"cannot read the manifest {path}: {e}", "--overwrite replaces the output") from None
        if not isinstance(data, dict):
            raise UsageError(f"the manifest {path} is not a JSON object", "--overwrite replaces the output")
        return data


def _difference(manifest: dict, expected: dict) -> str:
    """'' when a manifest was written by this job for this shard; else which field differs."""
    for key, value in expected.items():
        if manifest.get(key) != value:
            if key == "options" and isinstance(manifest.get(key), dict):
                names = sorted(k for k in {*value, *manifest[key]} if value.get(k) != manifest[key].get(k))
                return f"other options: {', '.join(names)}"
            return f"other {key}: {manifest.get(key)!r}, this job: {value!r}"
    return ""


def _atomic(path: Path, write) -> None:
    """write(tmp) to a hidden name beside `path`, flush it to disk, then rename it into place."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False, allow_nan=False) + "\n")


def _write_parquet(path: Path, rows: list[dict]) -> None:
    """Column by column, so that a column's type comes from all its values (error records leave the task's
    columns empty); a column whose values no one type holds is stored as JSON text. Vectors (embeddings, logits)
    are stored as float32, which holds their values exactly: they come from float32 (or narrower) tensors."""
    from autocli.extras import need

    pa = need("pyarrow", "parquet")
    pq = need("pyarrow.parquet", "parquet")
    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row))
    names.pop("error", None)
    columns = {}
    for name in names:
        values = [row.get(name) for row in rows]
        try:
            column = pa.array(values)
            if pa.types.is_list(column.type) and pa.types.is_float64(column.type.value_type):
                column = column.cast(pa.list_(pa.float32()))
            columns[name] = column
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            columns[name] = pa.array([None if v is None else json.dumps(v, ensure_ascii=False) for v in values], pa.string())
    # every shard has the error column, of one type, so that the parts read as one data set
    error = pa.struct([("message", pa.string()), ("hint", pa.string()), ("exit_code", pa.int64())])
    columns["error"] = pa.array([row.get("error") for row in rows], error)
    pq.write_table(pa.table(columns), path)
