"""What the report commands produce (inspect, compat, download, env, preprocess, diff, eval): one dataclass per
result type, with the conventions of autocli.results (fields starting with "_" are for the table only; an
`optional` field is left out of JSON while it is None). render_reports, render_diff and render_eval draw them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from autocli.results import ErrorRecord, optional


# ---- inspect: one dataclass per part of the picture (the JSON has the same shape) ---------------


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


# ---- compat --------------------------------------------------------------------------------------


@dataclass
class CompatReport:
    schema: str
    tasks: list
    required: list
    strict: bool
    ok: bool
    checkpoints: list  # compat.verdicts.CheckpointReport, one per checkpoint


# ---- download ------------------------------------------------------------------------------------

DOWNLOAD_SCHEMA = "autocli.download/1"


@dataclass
class FetchedFile:
    name: str
    kind: str  # config | tokenizer | preprocessing | sentence-transformers | weights
    size: int | None


@dataclass
class DownloadResult:
    checkpoint: str
    repo_id: str | None
    revision: str | None
    commit: str | None
    path: str | None  # the folder that holds the files (for the Hub, the cache snapshot)
    weights: bool
    files: list[FetchedFile] = field(default_factory=list)
    total_bytes: int = 0
    schema: str = DOWNLOAD_SCHEMA


# ---- env -----------------------------------------------------------------------------------------

ENV_SCHEMA = "autocli.env/1"


@dataclass
class EnvReport:
    autocli: str
    python: dict
    platform: dict
    packages: dict  # name -> version, None when missing
    extras: dict  # name -> version, installed ones only
    cpu: dict
    torch: dict | None  # None: not installed, or not asked (--no-torch)
    hub: dict
    environment: dict = field(default_factory=dict)
    schema: str = ENV_SCHEMA


# ---- preprocess --------------------------------------------------------------------------------


@dataclass
class TensorStats:
    name: str  # pixel_values, input_values, attention_mask
    shape: list[int]
    dtype: str
    min: float | None
    max: float | None
    mean: float | None
    std: float | None
    channels: list[dict] | None = optional()  # per channel {mean, std, min, max} of an image tensor
    values: list | None = optional()  # the tensor itself, in JSON unless --no-values


@dataclass
class Preprocessed:
    index: int
    file: str
    processor: str  # the class transformers would build
    steps: list[str]  # the processor's steps, in order, with their settings
    input: dict  # what was decoded: an image's width, height and mode; a clip's samples and rate
    outputs: list[TensorStats]


# ---- diff ----------------------------------------------------------------------------------------

DIFF_SCHEMA = "autocli.diff/1"


@dataclass
class DiffSide:
    checkpoint: str
    source: str  # local | hub
    commit: str | None


@dataclass
class Change:
    """One value that differs: a config key, a tokenizer field, a generation or preprocessor setting."""

    key: str
    a: object  # None on the side that lacks the key
    b: object


@dataclass
class TensorChange:
    """Tensors that changed the same way, repeated layers collapsed as `inspect --tensors` shows them."""

    change: str  # added | removed | reshaped | retyped | content
    name: str
    count: int
    a: dict | None  # {"shape", "dtype"}; None when added
    b: dict | None  # None when removed


@dataclass
class OutputsDiff:
    task: str
    inputs: int
    max_abs_diff: float | None  # max |a - b| over the head's outputs (hidden states for base)
    top1_agreement: float | None  # share of positions where the argmax agrees; None for base
    mean_kl: float | None  # mean KL(a || b) of the softmaxed outputs; None for base
    greedy_agreement: float | None = optional()  # LMs: share of greedy continuations that match token for token


@dataclass
class DiffResult:
    a: DiffSide
    b: DiffSide
    identical: bool  # nothing below differs
    hashed: bool  # tensor contents were compared (both local)
    config: list[Change]
    dtype: Change | None  # the config's (torch_)dtype, a note: it does not change the stored weights
    architectures: Change | None
    heads: Change | None  # the heads whose weights are present
    tasks: list[Change]  # key: task, a/b: compat verdicts that differ
    tensors: list[TensorChange]
    ties: Change | None  # [tied name, the name it shares] pairs of each side
    tokenizer: list[Change]
    generation: list[Change]
    preprocessor: list[Change]
    outputs: OutputsDiff | None = optional()
    failed: list[str] = field(default_factory=list)  # the gates that failed
    schema: str = DIFF_SCHEMA


# ---- eval ----------------------------------------------------------------------------------------

EVAL_SCHEMA = "autocli.eval/1"


@dataclass
class LabelMetrics:
    label: str  # a class label, or an entity type
    precision: float
    recall: float
    f1: float
    support: int  # gold examples (entities) of this label


@dataclass
class BoundCheck:
    metric: str
    bound: str  # "min" (the value must be at least limit) or "max" (at most)
    limit: float
    value: float | None
    passed: bool


@dataclass
class EvalReport:
    task: str
    model: str
    data: str
    metrics: dict  # name -> value: what --min and --max compare
    examples: int  # rows read: scored ones and failed ones
    failed: int  # rows that could not be scored, each in `errors`
    errors: list[ErrorRecord]
    bounds: list[BoundCheck]
    passed: bool  # every bound holds
    details: dict = field(default_factory=dict)  # how it was measured: tokens, windows, settings
    per_label: list[LabelMetrics] | None = optional()
    confusion: dict | None = optional()  # {"labels": [...], "matrix": [[count of gold row, predicted column]]}
    schema: str = EVAL_SCHEMA
