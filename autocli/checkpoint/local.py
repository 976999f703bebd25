"""The files of a local checkpoint folder (also a snapshot folder of the HF cache, passed by path)."""

from __future__ import annotations

import os
from pathlib import Path

from autocli import headers as hdr
from autocli.checkpoint.names import plain_name
from autocli.errors import InvalidCheckpoint

LIST_DEPTH = 3  # folders are listed this deep (sentence-transformers keeps 1_Pooling/ etc.)
LIST_LIMIT = 10_000


class LocalFiles:
    is_local = True
    repo_id = revision = commit = None

    def __init__(self, name: str, folder: Path):
        self.name = name
        self.local_dir = folder
        self._sizes: dict[str, int | None] | None = None

    @property
    def where(self) -> str:
        """Where the files come from, for -v."""
        return f"the folder {self.local_dir.resolve()}"

    def sizes(self) -> dict[str, int | None]:
        if self._sizes is None:
            self._sizes = list_folder(self.local_dir)
        return self._sizes

    def has(self, name: str) -> bool:
        return plain_name(name) and (self.local_dir / name).is_file()

    def path(self, name: str) -> Path:
        return self.local_dir / name

    def header(self, name: str) -> hdr.SafetensorsHeader:
        return hdr.read_local(self.local_dir / name, name)

    def check_inside(self, name: str) -> None:
        """A weight file must not be a link that leads out of the folder."""
        root = self.local_dir.resolve()
        real = (self.local_dir / name).resolve()
        inside = real.is_relative_to(root)
        # A snapshot folder of the HF cache links into ../../blobs by design.
        if not inside and root.parent.name == "snapshots":
            inside = real.is_relative_to(root.parent.parent / "blobs")
        if not inside:
            raise InvalidCheckpoint(f"{name} is a link that leads out of the checkpoint folder (to {real})", "the folder may be hostile; do not load it")


def list_folder(root: Path) -> dict[str, int | None]:
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
