"""inspect's result: dataclasses, one per part of the picture (the JSON has the same shape)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class FileEntry:
    name: str
    size: int | None


@dataclass
class Dimensions:
    hidden_size: int | None = None
    num_layers: int | None = None
    num_heads: int | None = None
    num_kv_heads: int | None = None
    head_dim: int | None = None
    intermediate_size: int | None = None
    vocab_size: int | None = None
    context_length: int | None = None
    dtype: str | None = None
    is_encoder_decoder: bool = False
    tie_word_embeddings: bool | None = None


@dataclass
class Weights:
    format: str | None
    sharded: bool
    files: list[FileEntry]
    total_size: int
    tensor_count: int
    pickle_files: list[str]


@dataclass
class Parameters:
    total: int
    embedding: int
    non_embedding: int
    by_dtype: dict[str, int]
    buffers: int
    tied: list[list[str]]


@dataclass
class TokenizerSummary:
    kind: str | None = None
    files: list[str] = field(default_factory=list)
    tokenizer_class: str | None = None
    vocab_size: int | None = None
    special_tokens: dict[str, dict] = field(default_factory=dict)
    model_max_length: int | None = None
    do_lower_case: bool | None = None
    chat_template: bool = False
    error: str | None = None


@dataclass
class TensorGroup:
    name: str
    shape: list[int]
    dtype: str
    count: int
    parameters: int
    files: list[str]


@dataclass
class InspectResult:
    schema: str
    checkpoint: str
    source: str
    path: str | None
    repo_id: str | None
    revision: str | None
    commit: str | None
    model_type: str
    architectures: list[str]
    runnable: bool
    runnable_tasks: list[str]
    declared_tasks: list[str]
    heads_in_weights: list[str] | None
    dimensions: Dimensions
    weights: Weights
    parameters: Parameters | None
    memory_bytes: dict[str, int] | None
    kv_cache_bytes_per_1k_tokens: dict[str, int] | None
    files: list[FileEntry]
    files_total_size: int
    tokenizer: TokenizerSummary | None
    preprocessor: dict | None
    generation: dict | None
    task_specific_params: list[str]
    notes: list[str]
    tensors: list[TensorGroup] | None
    blocked: str | None = None  # why autocli refuses to run it (remote code); then runnable is false


def _int(v) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None
