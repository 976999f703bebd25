"""Checkpoint spec -> files. A local folder, or a Hub repo id through huggingface_hub. No torch.

A spec is an existing folder (`./x`, `~/x`, `/abs/x`) or a Hub repo id (`name`, `org/name`)
with an optional `@revision`. Hub access shares the Hugging Face cache that transformers uses
(HF_HOME / HF_HUB_CACHE / --cache-dir) and fetches only what a command asks for: `path()` one
file, `headers()` the safetensors headers by HTTP range reads, `weight_paths()` the weights.

huggingface_hub is imported only for Hub ids, so a local `inspect` stays fast. What autocli
learns about a Hub commit (its file list, the headers it range-read) is kept under
`<cache>/models--org--name/autocli/<commit>/`, so an offline run finds it again.
"""

from __future__ import annotations

import json
import os
import re
import struct
from contextlib import contextmanager
from pathlib import Path

from autocli import headers as hdr
from autocli.config import Config, load_config, read_json
from autocli.errors import InvalidCheckpoint, NotReachable, UsageError

SINGLE = "model.safetensors"
INDEX = "model.safetensors.index.json"
PICKLE_SINGLE = "pytorch_model.bin"
PICKLE_INDEX = "pytorch_model.bin.index.json"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt")
# Pickles a training run leaves next to the weights; never weights themselves.
NOT_WEIGHTS = ("training_args.bin", "optimizer.pt", "scheduler.pt", "scaler.pt", "rng_state")

MAX_INDEX_BYTES = 64 * 1024 * 1024  # a weight_map of ~100k tensors is under 10 MiB
LIST_DEPTH = 3  # local folders are listed this deep (sentence-transformers keeps 1_Pooling/ etc.)
LIST_LIMIT = 10_000
HTTP_TIMEOUT = 30.0
SIDE_CACHE = "autocli"  # folder inside the repo's cache folder, next to blobs/ refs/ snapshots/

REPO_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
COMMIT = re.compile(r"^[0-9a-f]{40}$")

PICKLE_HINT = "pass --allow-pickle to load them (torch.load with weights_only=True), or convert them to safetensors"
HINT_REDOWNLOAD = "the checkpoint is incomplete or corrupt; re-download it"


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().upper() in ("1", "ON", "YES", "TRUE")


def default_cache_dir() -> Path:
    """huggingface_hub's cache folder, read from the environment now (its constants are read at import)."""
    env = os.environ
    path = env.get("HF_HUB_CACHE") or env.get("HUGGINGFACE_HUB_CACHE")
    if not path:
        home = env.get("HF_HOME") or os.path.join(env.get("XDG_CACHE_HOME") or "~/.cache", "huggingface")
        path = os.path.join(home, "hub")
    return Path(os.path.expandvars(os.path.expanduser(path)))


def hub_endpoint() -> str:
    from huggingface_hub import constants

    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def valid_repo_id(repo_id: str) -> bool:
    parts = repo_id.split("/")
    return (
        0 < len(parts) <= 2
        and all(REPO_PART.match(p) and not p.endswith((".", "-")) for p in parts)
        and "--" not in repo_id
        and ".." not in repo_id
    )


def _looks_like_path(spec: str) -> bool:
    return spec.startswith((".", "/", "~")) or "\\" in spec or spec.endswith("/") or spec.count("/") > 1


def plain_name(name: str) -> bool:
    """A repo-relative file name that stays inside the checkpoint: no '..', no absolute path."""
    if not isinstance(name, str) or not name or "\\" in name or "\x00" in name or name.startswith("/"):
        return False
    if re.match(r"^[A-Za-z]:", name):  # a Windows drive
        return False
    return all(p not in ("", ".", "..") for p in name.split("/"))


def _pickle_like(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return "/" not in name and base.endswith(PICKLE_SUFFIXES) and not base.startswith(NOT_WEIGHTS)


class Checkpoint:
    """The files of one checkpoint; never tensors."""

    def __init__(self, name: str, local_dir: Path | None, is_local: bool, repo_id: str | None = None,
                 revision: str | None = None, commit: str | None = None):
        self.name = name
        self.local_dir = local_dir  # the folder; for the Hub, the cache snapshot of `commit`
        self.is_local = is_local
        self.repo_id = repo_id
        self.revision = revision
        self.commit = commit
        self.offline = False
        self.cache_dir: Path | None = None
        self.token: str | None = None
        self.endpoint: str | None = None
        self._sizes: dict[str, int | None] | None = None
        self._config: Config | None = None
        self._index: dict | None = None
        self._headers: dict[str, hdr.SafetensorsHeader] | None = None

    def __repr__(self) -> str:
        return f"Checkpoint({self.name!r})"

    # ---- resolution -------------------------------------------------------------------------------

    @classmethod
    def resolve(cls, spec: str, revision: str | None = None, cache_dir=None, token: str | None = None,
                offline: bool = False) -> "Checkpoint":
        spec = os.fspath(spec)
        if not spec or not spec.strip():
            raise UsageError("the checkpoint is empty", "pass a folder or a Hub repo id such as org/name")
        path = Path(spec).expanduser()
        if path.is_dir():
            if revision:
                raise UsageError(f"--revision applies to Hub repos, and {spec} is a local folder", "drop --revision")
            return cls(spec, path, True)
        if path.exists():
            raise UsageError(f"{spec} is a file, not a checkpoint folder", "pass the folder that holds config.json and the weights")
        repo_id, at, rev = spec.partition("@")
        if _looks_like_path(repo_id) or not valid_repo_id(repo_id):
            raise NotReachable(f"no such folder: {spec}", "pass an existing checkpoint folder or a Hub repo id such as org/name")
        if at and not rev:
            raise UsageError(f"{spec}: nothing after '@'", "write org/name@revision, or drop the '@'")
        if rev and revision and rev != revision:
            raise UsageError(f"revision {rev!r} in {spec} differs from --revision {revision!r}", "give the revision once")
        revision = rev or revision
        ckpt = cls(repo_id + (f"@{revision}" if revision else ""), None, False, repo_id, revision)
        ckpt.offline = offline or _env_true("HF_HUB_OFFLINE") or _env_true("TRANSFORMERS_OFFLINE")
        ckpt.token = token or os.environ.get("HF_TOKEN") or None
        ckpt.cache_dir = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
        if ckpt.offline:
            ckpt._resolve_from_cache()
        else:
            ckpt._resolve_online()
        return ckpt

    @property
    def _storage(self) -> Path:
        return self.cache_dir / ("models--" + self.repo_id.replace("/", "--"))

    @property
    def _side(self) -> Path:
        return self._storage / SIDE_CACHE / self.commit

    def _resolve_online(self) -> None:
        from huggingface_hub import HfApi

        self.endpoint = hub_endpoint()
        with self._hub_errors(self.name):
            info = HfApi(endpoint=self.endpoint).model_info(
                self.repo_id, revision=self.revision, files_metadata=True, token=self.token, timeout=HTTP_TIMEOUT
            )
        if not isinstance(info.sha, str) or not COMMIT.match(info.sha):
            raise NotReachable(f"{self.endpoint} gave no commit for {self.name}", "is HF_ENDPOINT a Hugging Face Hub?")
        self.commit = info.sha
        self.local_dir = self._storage / "snapshots" / self.commit
        self._sizes = {s.rfilename: s.size for s in info.siblings or [] if plain_name(s.rfilename)}
        # Remember the listing and the branch -> commit ref, so that --offline finds this commit.
        self._side_write("files.json", json.dumps(self._sizes).encode())
        if self.revision and not COMMIT.match(self.revision) and plain_name(self.revision):
            self._write(self._storage / "refs" / self.revision, self.commit.encode())
        elif not self.revision:
            self._write(self._storage / "refs" / "main", self.commit.encode())

    def _resolve_from_cache(self) -> None:
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
            raise NotReachable(
                f"{self.name} is not in the cache ({self.cache_dir})",
                "run the command once online, or drop --offline / HF_HUB_OFFLINE",
            )
        self.commit, self.local_dir = commit, snapshot
        sizes = _list_folder(snapshot)
        try:
            listed = json.loads((self._side / "files.json").read_text())
            if isinstance(listed, dict):
                for name, size in listed.items():
                    if plain_name(name):
                        sizes.setdefault(name, size if isinstance(size, int) else None)
        except (OSError, ValueError):
            pass
        self._sizes = sizes

    @contextmanager
    def _hub_errors(self, what: str):
        """huggingface_hub's exceptions -> NotReachable (exit 3) with the next thing to try."""
        from huggingface_hub import errors as he

        try:
            yield
        except he.HFValidationError as e:
            raise UsageError(f"{self.name}: {str(e).splitlines()[0]}", "a Hub repo id looks like org/name") from None
        except (he.OfflineModeIsEnabled, he.LocalEntryNotFoundError):
            raise NotReachable(
                f"{what} is not in the cache ({self.cache_dir}) and the Hub was not asked",
                "run the command once online, or drop --offline / HF_HUB_OFFLINE",
            ) from None
        except he.GatedRepoError:
            raise NotReachable(f"{self.repo_id} is a gated repo", "accept its terms on the Hub, then pass --token or set HF_TOKEN") from None
        except he.RevisionNotFoundError:
            raise NotReachable(f"revision {self.revision!r} not found in {self.repo_id}", "check the branch, tag or commit") from None
        except he.EntryNotFoundError:
            raise NotReachable(f"{what} not found in {self.name}", "check the file name and the revision") from None
        except he.HfHubHTTPError as e:
            code = getattr(e.response, "status_code", None)
            if code == 401:
                raise NotReachable(
                    f"{self.repo_id}: the Hub asks for authentication (HTTP 401)",
                    "pass --token or set HF_TOKEN to a token that can read this repo",
                ) from None
            if code == 403:
                raise NotReachable(f"{self.repo_id}: access denied (HTTP 403)", "use a token with read access (--token / HF_TOKEN)") from None
            if isinstance(e, he.RepositoryNotFoundError) or code == 404:
                raise NotReachable(
                    f"repo {self.repo_id} not found on {self.endpoint}",
                    "check the repo id (or the folder path); private repos need --token or HF_TOKEN",
                ) from None
            raise NotReachable(f"{what}: the Hub answered HTTP {code}", "try again later, or use --offline with a cached copy") from None
        except Exception as e:
            if _is_transport_error(e):
                raise NotReachable(
                    f"cannot reach {self.endpoint}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else 'no answer'}",
                    "check the network and HF_ENDPOINT, or use --offline with a cached copy",
                ) from None
            raise

    # ---- side cache (listing and headers of Hub commits) --------------------------------------------

    def _write(self, path: Path, data: bytes) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)
        except OSError:
            pass  # a read-only cache only costs the offline convenience

    def _side_write(self, name: str, data: bytes) -> None:
        self._write(self._side / name, data)

    # ---- files ------------------------------------------------------------------------------------

    def sizes(self) -> dict[str, int | None]:
        """Repo-relative file name -> size in bytes (None where unknown)."""
        if self._sizes is None:
            self._sizes = _list_folder(self.local_dir)
        return self._sizes

    def files(self) -> list[str]:
        return sorted(self.sizes())

    def has(self, name: str) -> bool:
        if not plain_name(name):
            return False
        if self.is_local:
            return (self.local_dir / name).is_file()
        return name in self.sizes()

    def path(self, name: str) -> Path:
        """The local path of a file; a Hub file is downloaded (into the shared cache) if needed."""
        if not plain_name(name):
            raise InvalidCheckpoint(f"{name!r} is not a file name inside the checkpoint", HINT_REDOWNLOAD)
        if not self.has(name):
            raise InvalidCheckpoint(f"{name} is missing from {self.name}", HINT_REDOWNLOAD)
        if self.is_local:
            return self.local_dir / name
        cached = self.local_dir / name
        if cached.is_file():
            return cached
        if self.offline:
            raise NotReachable(f"{name} of {self.name} is not in the cache", "run the command once online, or drop --offline / HF_HUB_OFFLINE")
        from huggingface_hub import hf_hub_download

        with self._hub_errors(name):
            return Path(
                hf_hub_download(
                    self.repo_id, name, revision=self.commit, cache_dir=self.cache_dir, token=self.token, endpoint=self.endpoint
                )
            )

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

    def _check_inside(self, name: str, what: str) -> None:
        """A weight file of a local folder must not be a link that leads out of it."""
        if not plain_name(name):
            raise InvalidCheckpoint(f"{what} names {name!r}, which is not a file inside the checkpoint folder", "the index may be hostile; do not load it")
        if not self.is_local:
            return
        root = self.local_dir.resolve()
        real = (self.local_dir / name).resolve()
        inside = real.is_relative_to(root)
        # A snapshot folder of the HF cache links into ../../blobs by design.
        if not inside and root.parent.name == "snapshots":
            inside = real.is_relative_to(root.parent.parent / "blobs")
        if not inside:
            raise InvalidCheckpoint(f"{name} is a link that leads out of the checkpoint folder (to {real})", "the folder may be hostile; do not load it")

    def _read_index(self, name: str, suffix: str) -> dict | None:
        if not self.has(name):
            return None
        raw = self.json(name, MAX_INDEX_BYTES)
        wm = raw.get("weight_map") if isinstance(raw, dict) else None
        if not isinstance(wm, dict) or not wm:
            raise InvalidCheckpoint(f"{name} has no weight_map", "an index maps each tensor name to its shard file")
        for tensor, file in wm.items():
            if not isinstance(file, str):
                raise InvalidCheckpoint(f"{name}: weight_map[{tensor!r}] is {file!r}, not a file name", HINT_REDOWNLOAD)
            self._check_inside(file, name)
            if not file.endswith(suffix):
                raise InvalidCheckpoint(f"{name}: weight_map[{tensor!r}] names {file}, not a {suffix} file", HINT_REDOWNLOAD)
        return raw

    def weight_index(self) -> dict | None:
        """The parsed model.safetensors.index.json (validated), or None for a single-file checkpoint."""
        if self._index is None:
            self._index = self._read_index(INDEX, ".safetensors") or {}
        return self._index or None

    def weight_files(self) -> list[str]:
        """The safetensors files that hold the weights, shards in order."""
        index = self.weight_index()
        if index:
            names = sorted(set(index["weight_map"].values()))
            for name in names:
                if not self.has(name):
                    raise InvalidCheckpoint(f"{INDEX} names {name}, which is missing from {self.name}", HINT_REDOWNLOAD)
        elif self.has(SINGLE):
            names = [SINGLE]
        else:
            names = [n for n in self.files() if "/" not in n and n.endswith(".safetensors")]
        for name in names:
            self._check_inside(name, "the weights")
        return names

    def pickle_files(self) -> list[str]:
        """pytorch_model.bin, its shards, or other top-level pickles (*.bin, *.pt, ...)."""
        index = self._read_index(PICKLE_INDEX, ".bin")
        if index:
            return sorted(set(index["weight_map"].values()))
        if self.has(PICKLE_SINGLE):
            return [PICKLE_SINGLE]
        return [n for n in self.files() if _pickle_like(n)]

    def headers(self) -> dict[str, hdr.SafetensorsHeader]:
        """Validated safetensors headers per weight file; the Hub is range-read, never downloaded."""
        if self._headers is None:
            found = {name: self.header(name) for name in self.weight_files()}
            self._check_index(found)
            self._headers = found
        return self._headers

    def header(self, name: str) -> hdr.SafetensorsHeader:
        """One weight file's validated header, without headers()' checks across files and the index."""
        local = self.local_dir / name if self.local_dir is not None else None
        if local is not None and (self.is_local or local.is_file()):
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
            raise NotReachable(
                f"the safetensors header of {name} ({self.name}) is not in the cache",
                "run the command once online, or drop --offline / HF_HUB_OFFLINE",
            )
        header, file_size = self._remote_header(name)
        parsed = hdr.parse_header(header, file_size, name)
        self._write(saved, struct.pack("<Q", file_size) + header)
        return parsed

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
        with self._hub_errors(name):
            with get_session().stream("GET", url, headers=headers, timeout=HTTP_TIMEOUT) as r:
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

    def _check_index(self, found: dict[str, hdr.SafetensorsHeader]) -> None:
        """Each tensor in one file only, and where the index says it is."""
        where: dict[str, str] = {}
        for file, header in found.items():
            for tensor in header.tensors:
                if tensor in where:
                    raise InvalidCheckpoint(f"tensor {tensor!r} is in both {where[tensor]} and {file}", HINT_REDOWNLOAD)
                where[tensor] = file
        index = self.weight_index()
        for tensor, file in (index or {}).get("weight_map", {}).items():
            if where.get(tensor) != file:
                raise InvalidCheckpoint(f"{INDEX} puts {tensor!r} in {file}, but that file does not hold it", HINT_REDOWNLOAD)

    def weight_paths(self) -> list[Path]:
        """Local paths of the safetensors files, downloaded from the Hub if needed, headers validated first."""
        names = self.weight_files()
        if not names:
            pickles = self.pickle_files()
            if pickles:
                raise InvalidCheckpoint(f"{self.name} has only pickle weights ({', '.join(pickles)})", PICKLE_HINT)
            raise InvalidCheckpoint(f"{self.name} has no weights", "expected model.safetensors or model.safetensors.index.json")
        self.headers()
        paths = [self.path(name) for name in names]
        if not self.is_local:  # the downloaded bytes must match the header that was checked
            for name, path in zip(names, paths):
                got = hdr.read_local(path, name)
                if got.file_size != self._headers[name].file_size:
                    raise InvalidCheckpoint(f"{name}: downloaded {got.file_size:,} bytes, expected {self._headers[name].file_size:,}", HINT_REDOWNLOAD)
                self._headers[name] = got
        return paths


def _is_transport_error(e: Exception) -> bool:
    """Network failures of huggingface_hub's HTTP client (httpx2 in 2.x, httpx before), or the OS."""
    for mod in ("httpx2", "httpx"):
        try:
            lib = __import__(mod)
        except ImportError:
            continue
        if isinstance(e, (lib.TransportError, lib.TooManyRedirects)):
            return True
    return isinstance(e, (ConnectionError, TimeoutError))


def _list_folder(root: Path) -> dict[str, int | None]:
    """Files under root (a few levels deep, hidden folders skipped) -> size; links are followed."""
    out: dict[str, int | None] = {}
    root_depth = len(root.parts)
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        depth = len(Path(dirpath).parts) - root_depth
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".")) if depth < LIST_DEPTH - 1 else []
        rel = Path(dirpath).relative_to(root).as_posix()
        for f in sorted(filenames):
            name = f if rel == "." else f"{rel}/{f}"
            try:
                out[name] = os.stat(os.path.join(dirpath, f)).st_size
            except OSError:
                out[name] = None  # a broken link
            if len(out) >= LIST_LIMIT:
                return out
    return out
