"""The files of a Hub repo at one commit, through huggingface_hub and the shared Hugging Face cache.

Online, the repo's file list and commit come from one model_info call; a file is downloaded into the
cache when asked for, and a safetensors header is read by two HTTP range reads, never the weights.
What autocli learns about a commit (its file list, the headers it range-read) is kept under
`<cache>/models--org--name/autocli/<commit>/`, next to blobs/ refs/ snapshots/, so that an offline
run finds it again. When the Hub does not answer, a cached copy stands in, with a warning.
"""

from __future__ import annotations

import json
import os
import struct
import sys
from pathlib import Path

from autocli import headers as hdr
from autocli.checkpoint.hub_errors import HubUnreachable, hub_errors
from autocli.checkpoint.local import list_folder
from autocli.checkpoint.names import CACHE_HINT, COMMIT, HINT_REDOWNLOAD, plain_name
from autocli.errors import InvalidCheckpoint, NotReachable

HTTP_TIMEOUT = 30.0
SIDE_CACHE = "autocli"  # folder inside the repo's cache folder


def hub_endpoint() -> str:
    from huggingface_hub import constants

    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def http_timeout() -> float:
    """huggingface_hub's metadata timeout setting where the user gave one, else autocli's."""
    try:
        return float(os.environ["HF_HUB_ETAG_TIMEOUT"])
    except (KeyError, ValueError):
        return HTTP_TIMEOUT


def _write(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only cache only costs the offline convenience


class HubFiles:
    is_local = False

    def __init__(self, repo_id: str, revision: str | None, cache_dir: Path, token: str | None, offline: bool):
        self.repo_id = repo_id
        self.revision = revision
        self.name = repo_id + (f"@{revision}" if revision else "")
        self.cache_dir = cache_dir
        self.token = token
        self.offline = offline
        self.endpoint: str | None = None
        self.commit: str | None = None
        self.local_dir: Path | None = None  # the cache snapshot of `commit`
        self.unreachable: NotReachable | None = None  # why the cache stands in for the Hub
        self._sizes: dict[str, int | None] = {}

    @classmethod
    def open(cls, repo_id: str, revision: str | None, cache_dir: Path, token: str | None, offline: bool,
             quiet: bool = False) -> "HubFiles":
        """quiet: no warning on stderr when the cache stands in for a Hub that does not answer."""
        hub = cls(repo_id, revision, cache_dir, token, offline)
        if offline:
            hub._from_cache()
            return hub
        try:
            hub._online()
        except HubUnreachable as e:
            try:
                hub._from_cache()
            except NotReachable:
                raise e from None
            hub.offline, hub.unreachable = True, e
            if not quiet:
                print(f"warning: {e.message}; using the cached copy of {hub.name} (commit {hub.commit[:12]})", file=sys.stderr)
        return hub

    @property
    def where(self) -> str:
        """Where the files come from, for -v."""
        at = f"commit {self.commit[:12]}" if self.commit else "no commit"
        if self.offline:
            return f"the Hugging Face cache ({at}, offline): {self.local_dir}"
        return f"{self.endpoint}/{self.repo_id} ({at}), cached in {self.local_dir}"

    @property
    def _storage(self) -> Path:
        return self.cache_dir / ("models--" + self.repo_id.replace("/", "--"))

    @property
    def _side(self) -> Path:
        return self._storage / SIDE_CACHE / self.commit

    def _online(self) -> None:
        from huggingface_hub import HfApi

        self.endpoint = hub_endpoint()
        with hub_errors(self, self.name):
            info = HfApi(endpoint=self.endpoint).model_info(
                self.repo_id, revision=self.revision, files_metadata=True, token=self.token, timeout=http_timeout()
            )
        if not isinstance(info.sha, str) or not COMMIT.match(info.sha):
            raise NotReachable(f"{self.endpoint} gave no commit for {self.name}", "is HF_ENDPOINT a Hugging Face Hub?")
        self.commit = info.sha
        self.local_dir = self._storage / "snapshots" / self.commit
        self._sizes = {s.rfilename: s.size for s in info.siblings or [] if plain_name(s.rfilename)}
        # Remember the listing and the branch -> commit ref, so that --offline finds this commit.
        _write(self._side / "files.json", json.dumps(self._sizes).encode())
        if self.revision and not COMMIT.match(self.revision) and plain_name(self.revision):
            _write(self._storage / "refs" / self.revision, self.commit.encode())
        elif not self.revision:
            _write(self._storage / "refs" / "main", self.commit.encode())

    def _from_cache(self) -> None:
        rev = self.revision or "main"
        commit = rev if COMMIT.match(rev) else None
        if commit is None and plain_name(rev):
            try:
                commit = (self._storage / "refs" / rev).read_text().strip()
            except OSError:
                commit = None
        known = bool(commit and COMMIT.match(commit))
        snapshot = self._storage / "snapshots" / commit if known else None
        # A commit is known offline by its snapshot, or by the listing an online run kept.
        if not known or not (snapshot.is_dir() or (self._storage / SIDE_CACHE / commit / "files.json").is_file()):
            raise NotReachable(f"{self.name} is not in the cache ({self.cache_dir})", CACHE_HINT)
        self.commit, self.local_dir = commit, snapshot
        sizes = list_folder(snapshot)
        try:
            listed = json.loads((self._side / "files.json").read_text())
            if isinstance(listed, dict):
                for name, size in listed.items():
                    if plain_name(name):
                        sizes.setdefault(name, size if isinstance(size, int) else None)
        except (OSError, ValueError):
            pass
        self._sizes = sizes

    def _cache_miss(self, message: str) -> NotReachable:
        """Offline and not cached: why the Hub was not asked (it did not answer, or --offline)."""
        return self.unreachable or NotReachable(message, CACHE_HINT)

    # ---- the Files interface --------------------------------------------------------------------------

    def sizes(self) -> dict[str, int | None]:
        return self._sizes

    def has(self, name: str) -> bool:
        return plain_name(name) and name in self._sizes

    def path(self, name: str) -> Path:
        cached = self.local_dir / name
        if cached.is_file():
            return cached
        if self.offline:
            raise self._cache_miss(f"{name} of {self.name} is not in the cache")
        from huggingface_hub import hf_hub_download

        with hub_errors(self, name):
            return Path(hf_hub_download(self.repo_id, name, revision=self.commit, cache_dir=self.cache_dir,
                                        token=self.token, endpoint=self.endpoint))

    def check_inside(self, name: str) -> None:
        """huggingface_hub writes every file under the repo's own cache folder."""

    def header(self, name: str) -> hdr.SafetensorsHeader:
        local = self.local_dir / name
        if local.is_file():
            return hdr.read_local(local, name)
        saved = self._side / "headers" / name
        try:
            blob = saved.read_bytes()
        except OSError:
            blob = None
        if blob is not None and len(blob) >= 8:
            (file_size,) = struct.unpack("<Q", blob[:8])
            return hdr.parse_header(blob[8:], file_size, name)  # re-validated: the cache is not trusted
        if self.offline:
            raise self._cache_miss(f"the safetensors header of {name} ({self.name}) is not in the cache")
        header, file_size = self._remote_header(name)
        parsed = hdr.parse_header(header, file_size, name)
        _write(saved, struct.pack("<Q", file_size) + header)
        return parsed

    # ---- range reads ----------------------------------------------------------------------------------

    def _remote_header(self, name: str) -> tuple[bytes, int]:
        """Two HTTP range reads: the 8-byte length, then the JSON header; never the tensor bytes."""
        from huggingface_hub import hf_hub_url

        url = hf_hub_url(self.repo_id, name, revision=self.commit, endpoint=self.endpoint)
        prefix, file_size = self._range(url, name, 0, hdr.PREFIX_BYTES)
        n = hdr.check_prefix(prefix, file_size, name)
        header, _ = self._range(url, name, hdr.PREFIX_BYTES, n)
        if len(header) != n:
            raise InvalidCheckpoint(f"{name}: header is {n:,} bytes but the Hub sent {len(header):,}", HINT_REDOWNLOAD)
        return header, file_size

    def _range(self, url: str, name: str, start: int, length: int) -> tuple[bytes, int]:
        from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

        headers = build_hf_headers(token=self.token)
        headers["Range"] = f"bytes={start}-{start + length - 1}"
        headers["Accept-Encoding"] = "identity"
        with hub_errors(self, name):
            with get_session().stream("GET", url, headers=headers, timeout=http_timeout()) as r:
                if r.status_code == 416:
                    raise InvalidCheckpoint(f"{name}: the file is too short for a safetensors header", HINT_REDOWNLOAD)
                hf_raise_for_status(r)
                if r.status_code == 206:
                    total = r.headers.get("Content-Range", "").rpartition("/")[2]
                    skip = 0
                else:  # a server that ignores Range sends the whole file: read only what is needed
                    total = r.headers.get("Content-Length", "")
                    skip = start
                if not total.isdigit():
                    raise NotReachable(f"{name}: the Hub did not say how large the file is", "is HF_ENDPOINT a Hugging Face Hub?")
                buf = bytearray()
                for chunk in r.iter_bytes():
                    buf += chunk
                    if len(buf) >= skip + length:
                        break
        return bytes(buf[skip : skip + length]), int(total)
