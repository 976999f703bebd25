"""Header-only weight files for the Hub stand-in: 7B-sized sharded checkpoints without 13 GB of bytes.

A HeaderOnly file holds a real safetensors prefix and header (the data offsets of every tensor, exactly as a
real file's) and reports the whole file's size everywhere the stand-in asks (`len()`: listings, Content-Length,
Content-Range). The data region reads as zeros and is never stored; a request that reaches further than
MAX_ZEROS into it fails on the server, so a client that downloads weights makes the test fail loudly.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.fx_hub import safetensors_bytes

MAX_ZEROS = 64 << 20
DTYPE_BYTES = {"BF16": 2, "F16": 2, "F32": 4}


class HeaderOnly(bytes):
    """The prefix and header of a safetensors file of `size` bytes; len() is that size."""

    def __new__(cls, head: bytes, size: int):
        obj = super().__new__(cls, head)
        obj.size = size
        return obj

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, key):
        if not isinstance(key, slice):
            return bytes.__getitem__(self, key) if key < bytes.__len__(self) else 0
        start, stop, _ = key.indices(self.size)
        stored = bytes.__len__(self)
        zeros = max(0, stop - max(start, stored))
        if zeros > MAX_ZEROS:
            raise RuntimeError(f"the stand-in holds no weight bytes: {zeros:,} bytes of the data region were asked for")
        return bytes.__getitem__(self, slice(start, min(stop, stored))) + bytes(zeros)


def llama_7b_tensors(dtype: str = "BF16", retyped: dict | None = None) -> dict[str, tuple[str, list[int]]]:
    """Llama-2-7B's tensor names and shapes (32 layers, hidden 4096, MLP 11008, vocab 32000)."""
    h, m, v = 4096, 11008, 32000
    t = {"model.embed_tokens.weight": [v, h]}
    for i in range(32):
        p = f"model.layers.{i}."
        t |= {p + f"self_attn.{n}_proj.weight": [h, h] for n in "qkvo"}
        t |= {p + "mlp.gate_proj.weight": [m, h], p + "mlp.up_proj.weight": [m, h], p + "mlp.down_proj.weight": [h, m]}
        t |= {p + "input_layernorm.weight": [h], p + "post_attention_layernorm.weight": [h]}
    t |= {"model.norm.weight": [h], "lm_head.weight": [v, h]}
    return {name: ((retyped or {}).get(name, dtype), shape) for name, shape in t.items()}


def write_header_only(folder: Path, tensors: dict, shards: int, config: dict) -> dict[str, int]:
    """config.json, an index and `shards` header-only safetensors files in folder -> file name -> full size."""
    folder.mkdir(parents=True, exist_ok=True)
    names = list(tensors)
    per = -(-len(names) // shards)
    sizes, weight_map, total = {}, {}, 0
    for s in range(shards):
        shard = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        header, offset = {}, 0
        for name in names[s * per:(s + 1) * per]:
            dtype, shape = tensors[name]
            n = DTYPE_BYTES[dtype]
            for d in shape:
                n *= d
            header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + n]}
            weight_map[name] = shard
            offset += n
        head = safetensors_bytes({"__metadata__": {"format": "pt"}, **header})
        (folder / shard).write_bytes(head)
        sizes[shard] = len(head) + offset
        total += offset
    (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}))
    (folder / "config.json").write_text(json.dumps(config))
    return sizes


LLAMA_7B_CONFIG = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096, "intermediate_size": 11008,
    "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 32, "vocab_size": 32000,
    "max_position_embeddings": 4096, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "hidden_act": "silu",
    "tie_word_embeddings": False, "torch_dtype": "bfloat16", "bos_token_id": 1, "eos_token_id": 2,
}


def serve_llama_7b_revisions(hub, root: Path, repo_id: str = "org/llama-7b") -> dict[str, str]:
    """Two revisions of a 7B-sized sharded Llama on the stand-in, header-only: v1, and v2 with rope_theta changed
    and the final norm stored in F32. Returns branch -> commit."""
    folders, sizes = {}, {}
    for rev, config, retyped in (("v1", LLAMA_7B_CONFIG, None),
                                 ("v2", {**LLAMA_7B_CONFIG, "rope_theta": 500000.0}, {"model.norm.weight": "F32"})):
        folders[rev] = root / rev
        sizes[rev] = write_header_only(folders[rev], llama_7b_tensors(retyped=retyped), 2, config)
    commits = hub.add_repo(repo_id, folders["v1"], revisions=folders)
    # Answer without Nagle's delay: http.server sends headers and body as two writes, and a keep-alive client's
    # delayed ACK would otherwise add ~40 ms to each request, a cost of this stand-in that no real Hub has.
    hub.server.RequestHandlerClass.disable_nagle_algorithm = True
    for rev in ("main", "v1", "v2"):
        files = hub.repos[repo_id].revisions[rev].files
        for name, size in sizes["v1" if rev == "main" else rev].items():
            files[name] = HeaderOnly(files[name], size)
    return commits
