"""`autocli download`: fetch ahead, into the shared cache, exactly the files the other commands read.

That is config.json, generation_config.json, the tokenizer files (chat templates included), the
preprocessing configs, the sentence-transformers files (modules.json, sentence_bert_config.json, the
Pooling module's config.json), the safetensors headers (validated before any weight byte moves) and,
unless left out, the safetensors weights with their index. Pickle weights only when allowed and there
are no safetensors; never remote code (*.py) nor anything else the commands do not open.
"""

from __future__ import annotations

import os
import sys

from autocli.checkpoint import weights
from autocli.checkpoint.names import INDEX, PICKLE_INDEX
from autocli.errors import AutocliError
from autocli.reports import DownloadResult, FetchedFile

ST_FILES = ("modules.json", "sentence_bert_config.json")
ST_POOLING = "1_Pooling"  # the Pooling module's folder when modules.json names none


def _tokenizer_files(listed: list[str]) -> list[str]:
    from autocli import tokenizer as tk

    names = [tk.TOKENIZER_JSON, tk.TOKENIZER_CONFIG, tk.SPECIAL_TOKENS_MAP, tk.ADDED_TOKENS, tk.VOCAB_TXT, tk.VOCAB_JSON,
             tk.MERGES_TXT, *tk.SENTENCEPIECE_FILES, tk.CHAT_TEMPLATE_JINJA, tk.CHAT_TEMPLATE_JSON]
    return names + [n for n in listed if n.startswith(tk.CHAT_TEMPLATE_DIR + "/") and n.endswith(".jinja")]


def _pooling_config(ckpt) -> list[str]:
    """The Pooling module's config.json, where modules.json puts it (embed reads it from there)."""
    folders = {ST_POOLING}
    try:
        modules = ckpt.json("modules.json")
    except AutocliError:
        modules = None  # embed will say what is wrong with it; the download still fetches the rest
    for mod in modules if isinstance(modules, list) else []:
        if isinstance(mod, dict) and str(mod.get("type", "")).endswith("Pooling") and isinstance(mod.get("path"), str):
            folders.add(mod["path"].strip("/"))
    return [f"{folder}/config.json" for folder in sorted(folders) if folder]


def plan(ckpt) -> list[tuple[str, str]]:
    """(file, kind) for every small file the commands read that this checkpoint has, in reading order."""
    from autocli.inspect import PREPROCESSOR_FILES
    from autocli.tasks.gen_settings import GENERATION_CONFIG

    listed = ckpt.files()
    groups = (
        ("config", ["config.json", GENERATION_CONFIG]),
        ("tokenizer", _tokenizer_files(listed)),
        ("preprocessing", list(PREPROCESSOR_FILES)),
        ("sentence-transformers", list(ST_FILES)),
    )
    out = [(name, kind) for kind, names in groups for name in names if ckpt.has(name)]
    out += [(name, "sentence-transformers") for name in _pooling_config(ckpt) if ckpt.has(name)]
    return out


def weight_plan(ckpt, allow_pickle: bool) -> list[str]:
    """The weight files to fetch; refuses pickle-only checkpoints unless allowed (before any download)."""
    names = ckpt.weight_files()
    if names:
        ckpt.headers()  # every header validated (range reads on the Hub) before a weight byte moves
        return ([INDEX] if ckpt.has(INDEX) else []) + names
    pickles = ckpt.pickle_files()
    if pickles and allow_pickle:
        return ([PICKLE_INDEX] if ckpt.has(PICKLE_INDEX) else []) + pickles
    if pickles:
        raise weights.no_weights_error(ckpt.name, pickles)
    return []


def _progress(i: int, n: int, name: str, cached: bool, size: int | None) -> None:
    what = "cached" if cached else "fetching"
    size_text = f" ({size:,} bytes)" if size is not None else ""
    print(f"[{i}/{n}] {what} {name}{size_text}", file=sys.stderr, flush=True)


def download(ckpt, include_weights: bool = True, allow_pickle: bool = False, quiet: bool = False) -> DownloadResult:
    """Fetch what the commands read into the cache; a local folder is only listed."""
    todo = plan(ckpt)
    if include_weights:
        todo += [(name, "weights") for name in weight_plan(ckpt, allow_pickle)]
        if not any(kind == "weights" for _, kind in todo) and not quiet:
            print(f"warning: {ckpt.name} has no weights; fetched the other files", file=sys.stderr)
    else:
        try:
            ckpt.headers()  # kept in the cache, so that an offline inspect or compat sees the tensors
        except AutocliError as e:
            if not quiet:
                print(f"warning: the weight headers were not kept: {e.message}", file=sys.stderr)
    result = DownloadResult(ckpt.name, ckpt.repo_id, ckpt.revision, ckpt.commit,
                            str(ckpt.local_dir) if ckpt.local_dir is not None else None, include_weights)
    sizes = ckpt.sizes()
    for i, (name, kind) in enumerate(todo, 1):
        if not quiet:
            _progress(i, len(todo), name, (ckpt.local_dir / name).is_file(), sizes.get(name))
        size = os.path.getsize(ckpt.path(name))
        result.files.append(FetchedFile(name, kind, size))
        result.total_bytes += size
    if include_weights and ckpt.weight_files():
        ckpt.weight_paths()  # the fetched bytes match the headers that were checked
    return result
