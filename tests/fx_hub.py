"""The Hub stand-in: a threaded HTTP server on 127.0.0.1 that serves fixture repos the way the
Hugging Face Hub's endpoints answer huggingface_hub 2.x, used through HF_ENDPOINT.

Endpoints (what huggingface_hub's file_download.py / hf_api.py / utils/_http.py call):
  GET  /api/models/{repo}[/revision/{rev}][?blobs=true]   model_info: id, sha, siblings (sizes with blobs)
  GET  /api/models/{repo}/tree/{rev}[/{path}]             list_repo_tree / list_repo_files
  HEAD /{repo}/resolve/{rev}/{file}                       ETag, X-Repo-Commit, Content-Length
  GET  /{repo}/resolve/{rev}/{file}                       the bytes; `Range: bytes=a-b` -> 206 + Content-Range
Errors carry the Hub's X-Error-Code: 404 RepoNotFound / RevisionNotFound / EntryNotFound, and a
private repo answers 401 (RepoNotFound) without `Authorization: Bearer <its token>`.

Bytes sent are counted per (repo, file), so tests can prove that remote `inspect` reads
headers and not weights. Also here: writers for small safetensors checkpoints (numpy, no torch).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import socket
import struct
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest


@dataclass
class _Revision:
    commit: str
    files: dict[str, bytes]


@dataclass
class _Repo:
    repo_id: str
    revisions: dict[str, _Revision] = field(default_factory=dict)  # name (branch) -> content
    token: str | None = None  # set: a private repo

    def find(self, rev: str) -> _Revision | None:
        if rev in self.revisions:
            return self.revisions[rev]
        return next((r for r in self.revisions.values() if r.commit == rev), None)


def _read_folder(folder: Path) -> dict[str, bytes]:
    folder = Path(folder)
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


class HubStandIn:
    def __init__(self):
        self.repos: dict[str, _Repo] = {}
        self.cache_dir: Path | None = None  # the fixture's fresh HF cache
        self.served: dict[tuple[str, str], int] = defaultdict(int)  # (repo, file) -> body bytes sent
        self.requests: list[tuple[str, str, int]] = []  # (method, path, status)
        self.down: int | None = None  # set: every request is answered with this HTTP status (a Hub that is down)
        self._lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"hub": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False  # pooled keep-alive connections must not hold up shutdown
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def start(self) -> "HubStandIn":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def add_repo(self, repo_id: str, folder: Path, revisions: dict[str, Path] | None = None,
                 token: str | None = None) -> dict[str, str]:
        """Serve `folder` as branch main (plus other branches from `revisions`); returns branch -> commit sha."""
        repo = _Repo(repo_id, token=token)
        for name, path in {"main": folder, **(revisions or {})}.items():
            files = _read_folder(path)
            digest = hashlib.sha1(f"{repo_id}@{name}".encode())
            for fname, data in files.items():
                digest.update(fname.encode() + hashlib.sha256(data).digest())
            repo.revisions[name] = _Revision(digest.hexdigest(), files)
        self.repos[repo_id] = repo
        return {name: r.commit for name, r in repo.revisions.items()}

    def bytes_served(self, repo_id: str | None = None, filename: str | None = None) -> int:
        with self._lock:
            return sum(n for (r, f), n in self.served.items() if repo_id in (None, r) and filename in (None, f))

    def reset_counts(self) -> None:
        with self._lock:
            self.served.clear()
            self.requests.clear()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hub: HubStandIn

    def log_message(self, *args) -> None:  # quiet
        pass

    def do_HEAD(self) -> None:
        self._route(head=True)

    def do_GET(self) -> None:
        self._route(head=False)

    # ---- responses ---------------------------------------------------------------------------------

    def _send(self, status: int, body: bytes = b"", headers: dict | None = None, head: bool = False,
              count: tuple[str, str] | None = None) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        if "Content-Length" not in (headers or {}):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with self.hub._lock:  # counted before the client can see the answer
            self.hub.requests.append((self.command, self.path, status))
            if count and not head:
                self.hub.served[count] += len(body)
        if not head:
            self.wfile.write(body)

    def _error(self, status: int, code: str | None, message: str, head: bool, extra: dict | None = None) -> None:
        headers = {"Content-Type": "application/json", "X-Error-Message": message, **(extra or {})}
        if code:
            headers["X-Error-Code"] = code
        self._send(status, json.dumps({"error": message}).encode(), headers, head)

    def _json(self, data, head: bool) -> None:
        self._send(200, json.dumps(data).encode(), {"Content-Type": "application/json"}, head)

    # ---- routing -----------------------------------------------------------------------------------

    def _route(self, head: bool) -> None:
        url = urlsplit(self.path)
        parts = [unquote(p) for p in url.path.strip("/").split("/")]
        query = parse_qs(url.query)
        if self.hub.down:
            return self._error(self.hub.down, None, "Service Unavailable", head)
        if parts[:2] == ["api", "models"]:
            rest = parts[2:]
            marker = next((i for i, p in enumerate(rest) if p in ("revision", "tree") and i in (1, 2)), None)
            repo_id = "/".join(rest if marker is None else rest[:marker])
            kind = "info" if marker is None else rest[marker]
            rev = "main" if marker is None else (rest[marker + 1] if len(rest) > marker + 1 else "main")
            sub = "/".join(rest[marker + 2 :]) if marker is not None else ""
            repo, revision = self._lookup(repo_id, rev, head)
            if revision is None:
                return
            if kind == "tree":
                return self._tree(repo, revision, sub, query, head)
            return self._info(repo, revision, query, head)
        if "resolve" in parts[1:3]:
            i = parts.index("resolve")
            repo_id, rev, fname = "/".join(parts[:i]), parts[i + 1] if len(parts) > i + 1 else "", "/".join(parts[i + 2 :])
            repo, revision = self._lookup(repo_id, rev, head)
            if revision is None:
                return
            return self._resolve(repo, revision, fname, head)
        self._error(404, None, "Not Found", head)

    def _lookup(self, repo_id: str, rev: str, head: bool):
        repo = self.hub.repos.get(repo_id)
        if repo is None:
            self._error(404, "RepoNotFound", "Repository not found", head)
            return None, None
        if repo.token and self.headers.get("authorization") != f"Bearer {repo.token}":
            self._error(401, "RepoNotFound", "Invalid username or password.", head)
            return None, None
        revision = repo.find(rev)
        if revision is None:
            self._error(404, "RevisionNotFound", "Invalid rev id: " + rev, head)
            return None, None
        return repo, revision

    def _info(self, repo: _Repo, revision: _Revision, query: dict, head: bool) -> None:
        blobs = query.get("blobs", ["false"])[0].lower() == "true"
        siblings = []
        for fname, data in revision.files.items():
            entry = {"rfilename": fname}
            if blobs:
                entry.update(size=len(data), blobId=hashlib.sha1(data).hexdigest())
                if fname.endswith((".safetensors", ".bin")):
                    entry["lfs"] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "pointerSize": 134}
            siblings.append(entry)
        self._json({
            "_id": repo.repo_id, "id": repo.repo_id, "modelId": repo.repo_id, "sha": revision.commit,
            "private": bool(repo.token), "disabled": False, "gated": False, "tags": [], "downloads": 0,
            "likes": 0, "lastModified": "2024-01-01T00:00:00.000Z", "siblings": siblings,
        }, head)

    def _tree(self, repo: _Repo, revision: _Revision, sub: str, query: dict, head: bool) -> None:
        recursive = query.get("recursive", ["false"])[0].lower() == "true"
        prefix = sub.rstrip("/") + "/" if sub else ""
        entries, dirs = [], set()
        for fname, data in revision.files.items():
            if not fname.startswith(prefix):
                continue
            rest = fname[len(prefix) :]
            if "/" in rest and not recursive:
                dirs.add(prefix + rest.split("/", 1)[0])
                continue
            entries.append({"type": "file", "oid": hashlib.sha1(data).hexdigest(), "size": len(data), "path": fname})
        entries += [{"type": "directory", "oid": "0" * 40, "size": 0, "path": d} for d in sorted(dirs)]
        self._json(entries, head)

    def _resolve(self, repo: _Repo, revision: _Revision, fname: str, head: bool) -> None:
        data = revision.files.get(fname)
        base = {"X-Repo-Commit": revision.commit}
        if data is None:
            return self._error(404, "EntryNotFound", f"{fname} does not exist on {revision.commit}", head, base)
        size = len(data)
        headers = {
            **base,
            "ETag": f'"{hashlib.sha256(data).hexdigest()}"',
            "Accept-Ranges": "bytes",
            "Content-Type": "application/octet-stream",
        }
        rng = self.headers.get("Range")
        if rng and not head:
            m = re.fullmatch(r"bytes=(\d*)-(\d*)", rng.strip())
            if not m or m.group(1) == m.group(2) == "":
                return self._error(416, None, "bad range", head, {"Content-Range": f"bytes */{size}"})
            if m.group(1) == "":  # suffix range: the last n bytes
                start, end = max(size - int(m.group(2)), 0), size - 1
            else:
                start = int(m.group(1))
                end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
            if start >= size or end < start:
                return self._error(416, None, "range not satisfiable", head, {"Content-Range": f"bytes */{size}"})
            body = data[start : end + 1]
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
            return self._send(206, body, headers, head, count=(repo.repo_id, fname))
        headers["Content-Length"] = str(size)
        self._send(200, data, headers, head, count=(repo.repo_id, fname))


def closed_port_url() -> str:
    """A 127.0.0.1 URL on which nothing listens (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def silent_url():
    """A 127.0.0.1 URL whose socket takes connections and never answers (a request times out)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)  # the kernel completes the handshake; nothing ever reads or writes
        yield f"http://127.0.0.1:{s.getsockname()[1]}"


def point_hub_at(monkeypatch, url: str) -> None:
    """Send huggingface_hub to `url`: HF_ENDPOINT and the constants it read at import time."""
    from huggingface_hub import constants

    monkeypatch.setenv("HF_ENDPOINT", url)
    monkeypatch.setattr(constants, "ENDPOINT", url)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", url + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)


@pytest.fixture
def hub(monkeypatch, tmp_path):
    """A running Hub stand-in; HF_ENDPOINT points at it and the HF cache is fresh for this test."""
    server = HubStandIn().start()
    point_hub_at(monkeypatch, server.url)
    server.cache_dir = tmp_path / "hf-cache"
    monkeypatch.setenv("HF_HUB_CACHE", str(server.cache_dir))
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        yield server
    finally:
        server.stop()


# ---- small safetensors checkpoints, written without torch ----------------------------------------------


def safetensors_bytes(header: dict, data: bytes = b"", pad: bool = True) -> bytes:
    """A safetensors file from a raw header dict (anything, also hostile) and the data region."""
    text = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def write_safetensors(path: Path, tensors: dict, metadata: dict | None = None) -> Path:
    """numpy arrays -> a safetensors file (the library's own writer)."""
    from safetensors.numpy import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata=metadata or {"format": "pt"})
    return path


def tiny_bert(folder: Path, hidden: int = 32, layers: int = 2, vocab: int = 64, intermediate: int = 64,
              dtype: str = "float32", extra_config: dict | None = None, sharded: bool = False, seed: int = 0) -> Path:
    """A BERT-shaped checkpoint (config.json + safetensors, random weights), single file or sharded."""
    import numpy as np

    rng = np.random.default_rng(seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)

    def w(*shape):
        return rng.standard_normal(shape).astype(dtype)

    t = {
        "embeddings.word_embeddings.weight": w(vocab, hidden),
        "embeddings.position_embeddings.weight": w(64, hidden),
        "embeddings.token_type_embeddings.weight": w(2, hidden),
        "embeddings.LayerNorm.weight": w(hidden),
        "embeddings.LayerNorm.bias": w(hidden),
    }
    for i in range(layers):
        p = f"encoder.layer.{i}."
        for m in ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"):
            t[p + m + ".weight"], t[p + m + ".bias"] = w(hidden, hidden), w(hidden)
        t[p + "attention.output.LayerNorm.weight"], t[p + "attention.output.LayerNorm.bias"] = w(hidden), w(hidden)
        t[p + "intermediate.dense.weight"], t[p + "intermediate.dense.bias"] = w(intermediate, hidden), w(intermediate)
        t[p + "output.dense.weight"], t[p + "output.dense.bias"] = w(hidden, intermediate), w(hidden)
        t[p + "output.LayerNorm.weight"], t[p + "output.LayerNorm.bias"] = w(hidden), w(hidden)
    config = {
        "architectures": ["BertModel"], "model_type": "bert", "hidden_size": hidden, "num_hidden_layers": layers,
        "num_attention_heads": 4, "intermediate_size": intermediate, "vocab_size": vocab,
        "max_position_embeddings": 64, "type_vocab_size": 2, **(extra_config or {}),
    }
    (folder / "config.json").write_text(json.dumps(config))
    if not sharded:
        write_safetensors(folder / "model.safetensors", t)
        return folder
    names = list(t)
    half = len(names) // 2
    shards = {"model-00001-of-00002.safetensors": names[:half], "model-00002-of-00002.safetensors": names[half:]}
    weight_map = {}
    for shard, keys in shards.items():
        write_safetensors(folder / shard, {k: t[k] for k in keys})
        weight_map.update({k: shard for k in keys})
    index = {"metadata": {"total_size": sum(a.nbytes for a in t.values())}, "weight_map": weight_map}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    return folder
