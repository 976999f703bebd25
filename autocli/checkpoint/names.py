"""What a checkpoint spec and the file names inside a checkpoint may look like. No I/O."""

from __future__ import annotations

import os
import re
from pathlib import Path

SINGLE = "model.safetensors"
INDEX = "model.safetensors.index.json"
PICKLE_SINGLE = "pytorch_model.bin"
PICKLE_INDEX = "pytorch_model.bin.index.json"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt")
# Pickles a training run leaves next to the weights; never weights themselves.
NOT_WEIGHTS = ("training_args.bin", "optimizer.pt", "scheduler.pt", "scaler.pt", "rng_state")

REPO_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
COMMIT = re.compile(r"^[0-9a-f]{40}$")

HINT_REDOWNLOAD = "the checkpoint is incomplete or corrupt; re-download it"
CACHE_HINT = "run the command once online, or drop --offline / HF_HUB_OFFLINE"


def env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().upper() in ("1", "ON", "YES", "TRUE")


def default_cache_dir() -> Path:
    """huggingface_hub's cache folder, read from the environment now (its constants are read at import)."""
    env = os.environ
    path = env.get("HF_HUB_CACHE") or env.get("HUGGINGFACE_HUB_CACHE")
    if not path:
        home = env.get("HF_HOME") or os.path.join(env.get("XDG_CACHE_HOME") or "~/.cache", "huggingface")
        path = os.path.join(home, "hub")
    return Path(os.path.expandvars(os.path.expanduser(path)))


def hub_offline() -> bool:
    """The offline switches huggingface_hub and transformers read."""
    return env_true("HF_HUB_OFFLINE") or env_true("TRANSFORMERS_OFFLINE")


def valid_repo_id(repo_id: str) -> bool:
    parts = repo_id.split("/")
    return (
        0 < len(parts) <= 2
        and all(REPO_PART.match(p) and not p.endswith((".", "-")) for p in parts)
        and "--" not in repo_id
        and ".." not in repo_id
    )


def looks_like_path(spec: str) -> bool:
    return spec.startswith((".", "/", "~")) or "\\" in spec or spec.endswith("/") or spec.count("/") > 1


def plain_name(name: str) -> bool:
    """A repo-relative file name that stays inside the checkpoint: no '..', no absolute path."""
    if not isinstance(name, str) or not name or "\\" in name or "\x00" in name or name.startswith("/"):
        return False
    if re.match(r"^[A-Za-z]:", name):  # a Windows drive
        return False
    return all(p not in ("", ".", "..") for p in name.split("/"))


def pickle_like(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return "/" not in name and base.endswith(PICKLE_SUFFIXES) and not base.startswith(NOT_WEIGHTS)
