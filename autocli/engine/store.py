"""The output folder of an --output job: one file per shard, each with a manifest, written so that a reader (or a
resumed job) never sees half of one.

    DIR/part-00000.parquet            the shard's records (JSONL with --format jsonl), one per input row
    DIR/_manifests/part-00000.json    what wrote it: the input shard, rows, failed rows, the part's bytes, model,
                                      options, version

DIR is a local folder or a prefix in an object store (s3://bucket/prefix, autocli.engine.files). A shard's part is
written whole or not at all (locally a hidden temporary name renamed; in a store one upload), then its manifest the
same way, which marks it done. Readers of DIR as a Parquet data set skip the names starting with "_" or ".". A part
without its manifest, or of another size than its manifest says (a job killed between the two), is written again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from autocli.engine.files import Folder
from autocli.engine.shards import Shard
from autocli.errors import UsageError

MANIFESTS = "_manifests"
EXTENSIONS = {"parquet": "parquet", "jsonl": "jsonl"}
# manifest fields that describe the run rather than the job: never compared
RUN_FIELDS = ("rows", "failed", "seconds", "part_bytes")


@dataclass
class Store:
    root: Folder
    format: str  # parquet | jsonl
    job: dict  # model, revision, command, options, format, autocli version: what a resumed job must share

    def part(self, number: int) -> str:
        return f"part-{number:05d}.{EXTENSIONS[self.format]}"

    def manifest_name(self, number: int) -> str:
        return f"{MANIFESTS}/part-{number:05d}.json"

    def expected(self, shard: Shard) -> dict:
        return {**self.job, "shard": shard.describe()}

    def write(self, shard: Shard, rows: list[dict], seconds: float) -> int:
        """Write one shard's records and then its manifest, each whole or not at all -> its failed rows."""
        failed = sum(1 for r in rows if r.get("error") is not None)
        data = _parquet_bytes(rows) if self.format == "parquet" else _jsonl_bytes(rows)
        self.root.write(self.part(shard.number), data)
        manifest = {**self.expected(shard), "rows": len(rows), "failed": failed, "seconds": round(seconds, 3), "part_bytes": len(data)}
        self.root.write(self.manifest_name(shard.number), json.dumps(manifest, indent=2, ensure_ascii=False).encode("utf-8"))
        return failed

    def prepare(self, shards: list[Shard], resume: bool, overwrite: bool) -> dict[int, dict]:
        """Make DIR ready for the job -> the manifests of the shards already done (resume), by shard number.

        Refuses a DIR holding another job's output (other input, model, options or version) unless overwrite,
        and one holding this job's output unless resume or overwrite. Parts without a matching manifest and
        temporary files of a killed job are removed, so that every row is in DIR once."""
        self.root.make(MANIFESTS)
        found = {n: b for n, b in self.root.files(MANIFESTS).items() if _is_part(n, ".json")}
        parts = {n: b for n, b in self.root.files().items() if _is_part(n, "")}
        if overwrite:
            for name in [*found, *parts]:
                self.root.delete(name)
            found, parts = {}, {}
        manifests = {name: self._read(name) for name in sorted(found)}
        if (manifests or parts) and not resume and not overwrite:
            raise UsageError(f"{self.root} already holds the output of a job",
                             "--resume continues it, --overwrite replaces it; or choose another --output DIR")
        by_number = {s.number: s for s in shards}
        done = {}
        for name, manifest in manifests.items():
            number = _number(name)
            shard = by_number.get(number)
            why = "it is not a shard of this input" if shard is None else _difference(manifest, self.expected(shard))
            if why:
                raise UsageError(f"{self.root} holds part-{number:05d} of another job ({why})",
                                 "--overwrite replaces that output; or choose another --output DIR")
            written = parts.get(self.part(number))
            if written is not None and manifest.get("part_bytes", written) == written:
                done[number] = manifest
        leftovers = [n for n in [*self.root.files(), *self.root.files(MANIFESTS)] if n.rsplit("/", 1)[-1].startswith(".part-")]
        for name in [*(n for n in parts if _number(n) not in done), *leftovers]:
            self.root.delete(name)
        return done

    def _read(self, name: str) -> dict:
        where = self.root.show(name)
        try:
            data = json.loads(self.root.read(name).decode("utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise UsageError(f"cannot read the manifest {where}: {e}", "--overwrite replaces the output") from None
        if not isinstance(data, dict):
            raise UsageError(f"the manifest {where} is not a JSON object", "--overwrite replaces the output")
        return data


def _is_part(name: str, suffix: str) -> bool:
    """part-NNNNN.<ext> (the temporary names of a killed job start with '.')."""
    base = name.rsplit("/", 1)[-1]
    return base.startswith("part-") and base.endswith(suffix) and base.split("-")[1].split(".")[0].isdigit()


def _number(name: str) -> int:
    return int(name.rsplit("/", 1)[-1].split("-")[1].split(".")[0])


def _difference(manifest: dict, expected: dict) -> str:
    """'' when a manifest was written by this job for this shard; else which field differs."""
    for key, value in expected.items():
        if manifest.get(key) != value:
            if key == "options" and isinstance(manifest.get(key), dict):
                names = sorted(k for k in {*value, *manifest[key]} if value.get(k) != manifest[key].get(k))
                return f"other options: {', '.join(names)}"
            return f"other {key}: {manifest.get(key)!r}, this job: {value!r}"
    return ""


def _jsonl_bytes(rows: list[dict]) -> bytes:
    return "".join(json.dumps(row, ensure_ascii=False, allow_nan=False) + "\n" for row in rows).encode("utf-8")


def _parquet_bytes(rows: list[dict]) -> bytes:
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
    sink = pa.BufferOutputStream()
    pq.write_table(pa.table(columns), sink)
    return sink.getvalue().to_pybytes()
