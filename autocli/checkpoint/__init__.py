"""Checkpoint spec -> files. A local folder, or a Hub repo id through huggingface_hub. No torch.

A spec is an existing folder (`./x`, `~/x`, `/abs/x`) or a Hub repo id (`name`, `org/name`) with an
optional `@revision`. Both kinds of files sit behind one small interface (local.LocalFiles,
hub.HubFiles): `sizes()`, `has(name)`, `path(name)` (a Hub file is downloaded into the shared cache),
`header(name)` (a Hub file's safetensors header is range-read) and `check_inside(name)`.
Checkpoint adds what every command needs on top: config.json, the weight files and their headers,
validated once. huggingface_hub is imported only for Hub ids, so a local `inspect` stays fast.
"""

from __future__ import annotations

import os
from pathlib import Path

from autocli import headers as hdr
from autocli.checkpoint import weights
from autocli.checkpoint.hub import HubFiles, hub_endpoint
from autocli.checkpoint.local import LocalFiles
from autocli.checkpoint.names import (
    HINT_REDOWNLOAD, INDEX, default_cache_dir, hub_offline, looks_like_path, plain_name, valid_repo_id,
)
from autocli.config import Config, load_config, read_json
from autocli.errors import InvalidCheckpoint, NotReachable, UsageError

__all__ = ["Checkpoint", "default_cache_dir", "hub_endpoint", "open_files", "plain_name", "valid_repo_id"]


def open_files(spec: str, revision: str | None = None, cache_dir=None, token: str | None = None,
               offline: bool = False, quiet: bool = False) -> LocalFiles | HubFiles:
    """The files a spec names: a local folder, else a Hub repo (online, or from the cache; quiet: without
    the warning that says the cache stands in for a Hub that does not answer)."""
    spec = os.fspath(spec)
    if not spec or not spec.strip():
        raise UsageError("the checkpoint is empty", "pass a folder or a Hub repo id such as org/name")
    path = Path(spec).expanduser()
    if path.is_dir():
        if revision:
            raise UsageError(f"--revision applies to Hub repos, and {spec} is a local folder", "drop --revision")
        return LocalFiles(spec, path)
    if path.exists():
        raise UsageError(f"{spec} is a file, not a checkpoint folder", "pass the folder that holds config.json and the weights")
    repo_id, at, rev = spec.partition("@")
    if looks_like_path(repo_id) or not valid_repo_id(repo_id):
        raise NotReachable(f"no such folder: {spec}", "pass an existing checkpoint folder or a Hub repo id such as org/name")
    if at and not rev:
        raise UsageError(f"{spec}: nothing after '@'", "write org/name@revision, or drop the '@'")
    if rev and revision and rev != revision:
        raise UsageError(f"revision {rev!r} in {spec} differs from --revision {revision!r}", "give the revision once")
    return HubFiles.open(
        repo_id, rev or revision,
        cache_dir=Path(cache_dir).expanduser() if cache_dir else default_cache_dir(),
        token=token or os.environ.get("HF_TOKEN") or None,
        offline=offline or hub_offline(),
        quiet=quiet,
    )


class Checkpoint:
    """The files of one checkpoint; never tensors."""

    def __init__(self, source: LocalFiles | HubFiles):
        self.source = source
        self._config: Config | None = None
        self._index: dict | None = None
        self._headers: dict[str, hdr.SafetensorsHeader] | None = None

    @classmethod
    def resolve(cls, spec: str, revision: str | None = None, cache_dir=None, token: str | None = None,
                offline: bool = False, quiet: bool = False) -> "Checkpoint":
        return cls(open_files(spec, revision, cache_dir, token, offline, quiet))

    def __repr__(self) -> str:
        return f"Checkpoint({self.name!r})"

    # Where the files come from (inspect reports these).
    name = property(lambda self: self.source.name)
    is_local = property(lambda self: self.source.is_local)
    local_dir = property(lambda self: self.source.local_dir)  # for the Hub, the cache snapshot of `commit`
    repo_id = property(lambda self: self.source.repo_id)
    revision = property(lambda self: self.source.revision)
    commit = property(lambda self: self.source.commit)
    where = property(lambda self: self.source.where)  # a phrase for -v: the folder, or the Hub and commit

    # ---- files ------------------------------------------------------------------------------------

    def sizes(self) -> dict[str, int | None]:
        """Repo-relative file name -> size in bytes (None where unknown)."""
        return self.source.sizes()

    def files(self) -> list[str]:
        return sorted(self.sizes())

    def has(self, name: str) -> bool:
        return self.source.has(name)

    def path(self, name: str) -> Path:
        """The local path of a file; a Hub file is downloaded (into the shared cache) if needed."""
        if not plain_name(name):
            raise InvalidCheckpoint(f"{name!r} is not a file name inside the checkpoint", HINT_REDOWNLOAD)
        if not self.has(name):
            raise InvalidCheckpoint(f"{name} is missing from {self.name}", HINT_REDOWNLOAD)
        return self.source.path(name)

    def optional_path(self, name: str) -> Path | None:
        return self.path(name) if self.has(name) else None

    def json(self, name: str, max_bytes: int | None = None):
        """A JSON file of the checkpoint as plain data, or None when the checkpoint has no such file."""
        path = self.optional_path(name)
        if path is None:
            return None
        return read_json(path, name) if max_bytes is None else read_json(path, name, max_bytes)

    def config(self) -> Config:
        if self._config is None:
            if not self.has("config.json"):
                raise InvalidCheckpoint(
                    f"{self.name} has no config.json",
                    "a Hugging Face checkpoint holds config.json next to its weights; is this the right folder?",
                )
            self._config = load_config(self.path("config.json"))
        return self._config

    # ---- weights ----------------------------------------------------------------------------------

    def weight_index(self) -> dict | None:
        """The parsed model.safetensors.index.json (validated), or None for a single-file checkpoint."""
        if self._index is None:
            self._index = weights.read_index(self.source, INDEX, ".safetensors") or {}
        return self._index or None

    def weight_files(self) -> list[str]:
        """The safetensors files that hold the weights, shards in order."""
        return weights.safetensors_files(self.source, self.weight_index(), self.name)

    def pickle_files(self) -> list[str]:
        """pytorch_model.bin, its shards, or other top-level pickles (*.bin, *.pt, ...)."""
        return weights.pickle_files(self.source)

    def headers(self) -> dict[str, hdr.SafetensorsHeader]:
        """Validated safetensors headers per weight file; the Hub is range-read, never downloaded."""
        if self._headers is None:
            found = {name: self.header(name) for name in self.weight_files()}
            weights.check_index(found, self.weight_index())
            self._headers = found
        return self._headers

    def header(self, name: str) -> hdr.SafetensorsHeader:
        """One weight file's validated header, without headers()' checks across files and the index."""
        return self.source.header(name)

    def weight_paths(self) -> list[Path]:
        """Local paths of the safetensors files, downloaded from the Hub if needed, headers validated first."""
        names = self.weight_files()
        if not names:
            raise weights.no_weights_error(self.name, self.pickle_files())
        checked = self.headers()
        paths = [self.path(name) for name in names]
        for name, path in zip(names, paths):  # the bytes on disk must match the header that was checked
            got = hdr.read_local(path, name)
            if got.file_size != checked[name].file_size:
                raise InvalidCheckpoint(f"{name}: downloaded {got.file_size:,} bytes, expected {checked[name].file_size:,}", HINT_REDOWNLOAD)
            checked[name] = got
        return paths
