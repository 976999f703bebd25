"""`autocli env`: the facts a bug report needs, gathered without loading any model.

Versions come from the installed distributions' metadata (nothing is imported for them); torch is
imported only for the torch facts (devices, threads, CPU capability), and skipped on request. Secrets
never appear: a token is reported as set or not, with where it comes from, never its value.
"""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from autocli.reports import EnvReport

PACKAGES = ("torch", "tokenizers", "huggingface_hub", "safetensors", "numpy", "jinja2", "typer", "click", "rich")
# Installed by some users for some paths (SentencePiece conversion, images, audio, the test oracle).
EXTRAS = ("sentencepiece", "protobuf", "transformers", "sentence-transformers", "accelerate", "pillow",
          "soundfile", "ray", "httpx2", "httpx")
# /proc/cpuinfo flags that decide which kernels torch can use (x86 and Arm spellings).
CPU_FEATURES = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx_vnni", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
                "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8", "asimd", "sve", "sve2", "bf16", "i8mm")
# Settings worth seeing in a report; none of them holds a secret.
ENV_VARS = ("HF_HOME", "HF_HUB_CACHE", "HF_ENDPOINT", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_ETAG_TIMEOUT",
            "HF_HUB_DISABLE_TELEMETRY", "TOKENIZERS_PARALLELISM", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
            "CUDA_VISIBLE_DEVICES", "PYTORCH_ENABLE_MPS_FALLBACK", "AUTOCLI_DEBUG")
TOKEN_VARS = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")


def version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def without_secret(url: str) -> str:
    """A URL without user:password@ (an endpoint may carry credentials)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    return urlunsplit(parts._replace(netloc=host + (f":{parts.port}" if parts.port else "")))


def cpu_info(cpuinfo: str | None = None) -> dict:
    """Model and kernel-relevant features, from /proc/cpuinfo where there is one."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace")
        except OSError:
            cpuinfo = ""
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip().lower(), value.strip())
    flags = set((fields.get("flags") or fields.get("features") or "").split())
    return {
        "model": fields.get("model name") or fields.get("hardware") or platform.processor() or None,
        "logical_cores": os.cpu_count(),
        "features": [f for f in CPU_FEATURES if f in flags],
    }


def torch_info() -> dict:
    import torch

    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None)
    return {
        "version": torch.__version__,
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "cpu_capability": getattr(torch.backends.cpu, "get_cpu_capability", lambda: None)(),
        "mkldnn": torch.backends.mkldnn.is_available(),
        "cuda": {
            "available": cuda,
            "version": torch.version.cuda,
            "devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if cuda else [],
        },
        "mps": bool(mps and mps.is_available()),
    }


def folder_bytes(root: Path) -> int:
    """Bytes of the regular files under root; links are not followed (the HF cache links snapshots to blobs)."""
    total = 0
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue
            if not os.path.islink(os.path.join(dirpath, name)):
                total += st.st_size
    return total


def token_source() -> str | None:
    """Where huggingface_hub would find a token: an environment variable or the token file."""
    for name in TOKEN_VARS:
        if os.environ.get(name, "").strip():
            return name
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME") or "~/.cache", "huggingface")
    path = Path(os.path.expanduser(os.environ.get("HF_TOKEN_PATH") or os.path.join(home, "token")))
    try:
        return "token file" if path.read_text().strip() else None
    except OSError:
        return None


def hub_info() -> dict:
    from autocli.checkpoint import default_cache_dir, hub_endpoint
    from autocli.checkpoint.names import hub_offline

    cache = default_cache_dir()
    source = token_source()
    return {
        "endpoint": without_secret(hub_endpoint()),
        "cache": str(cache),
        "cache_bytes": folder_bytes(cache) if cache.is_dir() else None,
        "offline": hub_offline(),
        "token_set": source is not None,
        "token_source": source,
    }


def gather(with_torch: bool = True) -> EnvReport:
    from autocli import __version__

    packages = {name: version(name) for name in PACKAGES}
    return EnvReport(
        autocli=__version__,
        python={"version": platform.python_version(), "implementation": platform.python_implementation(),
                "executable": sys.executable},
        platform={"system": platform.system(), "release": platform.release(), "machine": platform.machine()},
        packages=packages,
        extras={name: v for name in EXTRAS if (v := version(name)) is not None},
        cpu=cpu_info(),
        torch=torch_info() if with_torch and packages["torch"] else None,
        hub=hub_info(),
        environment={k: without_secret(os.environ[k]) for k in ENV_VARS if k in os.environ},
    )
