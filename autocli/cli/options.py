"""Shared option aliases: every command spells the common options the same way."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Annotated, Callable, Optional

import typer

from autocli.golden import ATOL as GOLDEN_ATOL
from autocli.tasks import BATCH_SIZE  # noqa: F401  (the commands' default, defined once)


class Format(str, Enum):
    auto = "auto"
    table = "table"
    json = "json"
    jsonl = "jsonl"


class Backend(str, Enum):
    auto = "auto"
    torch = "torch"
    onnxruntime = "onnxruntime"


class Engine(str, Enum):
    local = "local"
    ray = "ray"


class Kernels(str, Enum):  # autocli.kernels.CHOICES
    auto = "auto"
    eager = "eager"
    onednn = "onednn"


# --device: auto, cpu, mps, cuda or cuda:N.
DEVICES = ("auto", "cpu", "cuda", "mps")
DEVICE = "auto"
# --dtype: the names torch uses, and the short ones people type.
DTYPES = {"auto": "auto", "float32": "float32", "bfloat16": "bfloat16", "float16": "float16",
          "fp32": "float32", "bf16": "bfloat16", "fp16": "float16", "half": "float16", "float": "float32"}
DTYPE = "auto"


def parse_device(value: str) -> str:
    name = value.strip().lower()
    base, _, index = name.partition(":")
    if base in DEVICES and (not index or (base == "cuda" and index.isdigit())):
        return name
    raise typer.BadParameter(f"{value!r} is not a device: use auto, cpu, cuda, cuda:N or mps")


def parse_dtype(value: str) -> str:
    name = value.strip().lower()
    if name in DTYPES:
        return DTYPES[name]
    raise typer.BadParameter(f"{value!r} is not a dtype: use auto, float32 (fp32), bfloat16 (bf16) or float16 (fp16)")


HUB = "Checkpoint location"
OUT = "Output"
RUN = "Running"
ENGINE = "Engine (sharded --output)"

Checkpoint = Annotated[
    str,
    typer.Argument(
        help="A local folder, or a Hub repo id with an optional revision: org/name or org/name@rev.",
        show_default=False,
        metavar="MODEL",
    ),
]
Revision = Annotated[
    Optional[str], typer.Option("--revision", help="Branch, tag or commit on the Hub.", rich_help_panel=HUB)
]
Offline = Annotated[
    bool,
    typer.Option("--offline", help="Use only the local cache (also HF_HUB_OFFLINE=1).", rich_help_panel=HUB),
]
CacheDir = Annotated[
    Optional[Path],
    typer.Option("--cache-dir", help="Hugging Face cache folder (default: HF_HUB_CACHE / HF_HOME).", rich_help_panel=HUB),
]
Token = Annotated[
    Optional[str],
    typer.Option("--token", help="Hub access token (also HF_TOKEN).", rich_help_panel=HUB, show_default=False),
]
FormatOpt = Annotated[
    Format,
    typer.Option(
        "--format", "-f",
        help="auto: a table on a terminal, the command's machine form in a pipe (JSONL, one object per input; "
        "inspect, compat, download and env: one JSON document). table | json | jsonl force one.",
        rich_help_panel=OUT,
    ),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Short for --format json.", rich_help_panel=OUT)]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress or warnings on stderr.", rich_help_panel=OUT)]
Verbose = Annotated[
    bool, typer.Option("--verbose", "-v", help="Also say on stderr what was loaded from where, and how long it took.", rich_help_panel=OUT)
]
Logits = Annotated[
    bool, typer.Option("--logits", help="Add the head's raw outputs to each record (their shape to the table).", rich_help_panel=OUT)
]
InputFile = Annotated[
    Optional[str],  # not a Path: s3://bucket/key would lose a slash
    typer.Option("--input", "-i", metavar="PATH", help="Read inputs from FILE, one per line ('-' = stdin); with --output also "
                 "a folder, a glob, or s3:// / gs:// objects.", rich_help_panel="Input"),
]
JsonlInput = Annotated[
    bool,
    typer.Option("--jsonl", help="Inputs are JSON objects, one per line, with named fields.", rich_help_panel="Input"),
]
DeviceOpt = Annotated[
    str,
    typer.Option("--device", parser=parse_device, metavar="auto|cpu|cuda[:N]|mps", help="Where to run the model.", rich_help_panel=RUN),
]
DTypeOpt = Annotated[
    str,
    typer.Option(
        "--dtype", parser=parse_dtype, metavar="auto|float32|bfloat16|float16",
        help="Compute dtype (also fp32, bf16, fp16); auto = float32 on CPU, the checkpoint's dtype on GPU.", rich_help_panel=RUN,
    ),
]
BackendOpt = Annotated[
    Backend,
    typer.Option("--backend", help="What runs the forward of encoder, image and audio models: torch; onnxruntime (the model "
                 "exported to ONNX once, cached beside the checkpoint; CPU, float32; pip install 'autocli[onnx]'); auto: "
                 "onnxruntime where it measured faster and its graph is cached, else torch.", rich_help_panel=RUN),
]
KernelsOpt = Annotated[Kernels, typer.Option(
    "--kernels", help="Matrix-vector kernels for decoding on CPU: auto (oneDNN for float32 where torch has it, and for "
    "bfloat16/float16 weights packed once where the CPU runs them natively), eager (torch's own), onednn (exit 5 where "
    "this CPU cannot run the dtype). float32 logits move by ~1e-6; 16-bit ones are the eager kernels' bit for bit.",
    rich_help_panel=RUN)]
TokenizerSource = Annotated[
    Optional[str],
    typer.Option("--tokenizer", metavar="SRC", help="Use the tokenizer of another folder or Hub id (for checkpoints that ship weights only).", rich_help_panel=HUB),
]
BatchSize = Annotated[int, typer.Option("--batch-size", min=1, help="Inputs per forward pass.", rich_help_panel=RUN)]
MaxLength = Annotated[
    Optional[int], typer.Option("--max-length", min=1, help="Truncate inputs to N tokens.", rich_help_panel=RUN)
]
AllowPickle = Annotated[
    bool,
    typer.Option(
        "--allow-pickle",
        help="Allow pytorch_model.bin weights (loaded with weights_only=True).",
        rich_help_panel=RUN,
    ),
]


def stdout_is_terminal() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):  # replaced or closed stdout
        return False


def output_format(fmt, json_flag: bool = False, natural=Format.jsonl):
    """The one output rule: --json, else an explicit --format, else (auto) a table for a person at a terminal
    and the command's natural machine form (`natural`) for a pipe or file."""
    if json_flag:
        return Format.json
    if getattr(fmt, "value", fmt) != Format.auto.value:
        return fmt
    return Format.table if stdout_is_terminal() else natural


def note_time(verbose: bool, start: float, what: str) -> None:
    """-v: say on stderr what was done, and how long it took since `start` (time.perf_counter())."""
    if verbose:
        import time

        from autocli.render import note

        note(f"{what} in {time.perf_counter() - start:.2f} s")


def emit_records(records, fmt, json_flag: bool, of: type) -> None:
    """Stream a batch command's records in the chosen format; exit 7 at the end if any input failed."""
    from autocli import render

    render.finish(render.emit_records(records, output_format(fmt, json_flag), of))


def schema_option(schema):
    """A `--schema` flag that prints the JSON Schema `schema()` returns (imported only when asked) and exits."""

    def show(value: bool) -> None:
        if value:
            import json

            typer.echo(json.dumps(schema(), indent=2))
            raise typer.Exit()

    return Annotated[bool, typer.Option("--schema", is_eager=True, callback=show, rich_help_panel=OUT,
                                        help="Print the JSON Schema of --format json and exit.")]


GOLDEN = "Golden outputs (exit 6 on drift)"
Expect = Annotated[
    Optional[Path],
    typer.Option("--expect", metavar="GOLDEN.jsonl", rich_help_panel=GOLDEN,
                 help="Compare the records with an earlier --format jsonl run of the same command: labels, spans, ids "
                      "and texts exactly, scores within --atol, embeddings by cosine >= 1 - atol."),
]
Atol = Annotated[float, typer.Option("--atol", min=0.0, rich_help_panel=GOLDEN, help="Tolerance of --expect.")]

AllowRandomHead = Annotated[
    bool,
    typer.Option(
        "--allow-random-head",
        help="Run even when the task's head weights are missing (its outputs are then random).",
        rich_help_panel=RUN,
    ),
]


EngineOpt = Annotated[
    Engine,
    typer.Option("--engine", help="local: this process; ray: a Ray Data pool of model-holding workers (needs --output "
                 "and pip install 'autocli[ray]').", rich_help_panel=ENGINE),
]
OutputDir = Annotated[
    Optional[str],
    typer.Option("--output", metavar="DIR", help="Write the records to DIR (a folder, or s3://bucket/prefix, gs://...) in "
                 "shards (Parquet; --format jsonl: JSONL), each with a manifest, instead of stdout.", rich_help_panel=ENGINE, show_default=False),
]
Resume = Annotated[bool, typer.Option("--resume", help="Skip the shards of --output DIR already written by the same job.", rich_help_panel=ENGINE)]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace what --output DIR holds, even from another job.", rich_help_panel=ENGINE)]
ShardRows = Annotated[int, typer.Option("--shard-rows", min=1, help="Input rows per output shard.", rich_help_panel=ENGINE)]
Workers = Annotated[int, typer.Option("--workers", min=1, help="Ray: model-holding workers (actors).", rich_help_panel=ENGINE)]
ThreadsPerWorker = Annotated[
    Optional[int], typer.Option("--threads-per-worker", min=1, help="CPU threads of each worker (Ray: its num_cpus; default 1; local: torch's default).", rich_help_panel=ENGINE)
]
GpusPerWorker = Annotated[float, typer.Option("--gpus-per-worker", min=0.0, help="Ray: GPUs each worker reserves (fractions share one).", rich_help_panel=ENGINE)]
RayAddress = Annotated[
    Optional[str], typer.Option("--ray-address", metavar="ADDR", help="Ray cluster to join (auto: the running one; default: start one here).", rich_help_panel=ENGINE)
]
TextColumn = Annotated[Optional[str], typer.Option("--text-column", metavar="NAME", help="Column (JSONL field) holding the text.", rich_help_panel="Input")]
PairColumn = Annotated[Optional[str], typer.Option("--pair-column", metavar="NAME", help="Column holding the second text of a pair.", rich_help_panel="Input")]
IdColumn = Annotated[Optional[str], typer.Option("--id-column", metavar="NAME", help="Column holding each row's id (default: the row number).", rich_help_panel="Input")]
ImageColumn = Annotated[Optional[str], typer.Option("--image-column", metavar="NAME", rich_help_panel="Input",
                        help="Column holding the path of each row's image (relative: to the input file's folder).")]
AudioColumn = Annotated[Optional[str], typer.Option("--audio-column", metavar="NAME", rich_help_panel="Input",
                        help="Column holding the path of each row's audio file (relative: to the input file's folder).")]
# rows per output shard unless --shard-rows: small enough to lose little on a kill, big enough to batch well
SHARD_ROWS = 4096


# ---- the options many commands share, declared once ----------------------------------------------

# name -> (annotation, default), in the order `--help` lists them after a command's own options.
SHARED = {
    "input_file": (InputFile, None),
    "jsonl": (JsonlInput, False),
    "batch_size": (BatchSize, BATCH_SIZE),
    "max_length": (MaxLength, None),
    "device": (DeviceOpt, DEVICE),
    "dtype": (DTypeOpt, DTYPE),
    "backend": (BackendOpt, Backend.auto),
    "allow_random_head": (AllowRandomHead, False),
    "allow_pickle": (AllowPickle, False),
    "tokenizer_source": (TokenizerSource, None),
    "revision": (Revision, None),
    "offline": (Offline, False),
    "cache_dir": (CacheDir, None),
    "token": (Token, None),
    "fmt": (FormatOpt, Format.auto),
    "json_flag": (JsonFlag, False),
    "quiet": (Quiet, False),
    "verbose": (Verbose, False),
    "expect": (Expect, None),
    "atol": (Atol, GOLDEN_ATOL),
    "text_column": (TextColumn, None),
    "pair_column": (PairColumn, None),
    "id_column": (IdColumn, None),
    "image_column": (ImageColumn, None),
    "audio_column": (AudioColumn, None),
    "engine": (EngineOpt, Engine.local),
    "output": (OutputDir, None),
    "resume": (Resume, False),
    "overwrite": (Overwrite, False),
    "shard_rows": (ShardRows, SHARD_ROWS),
    "workers": (Workers, 1),
    "threads_per_worker": (ThreadsPerWorker, None),
    "gpus_per_worker": (GpusPerWorker, 0.0),
    "ray_address": (RayAddress, None),
}
HUB_OPTIONS = ("revision", "offline", "cache_dir", "token")
OUTPUT_OPTIONS = ("fmt", "json_flag", "quiet", "verbose")
TEXT_OPTIONS = ("input_file", "jsonl", "max_length", "tokenizer_source", *HUB_OPTIONS, *OUTPUT_OPTIONS)
GOLDEN_OPTIONS = ("expect", "atol")
ENGINE_OPTIONS = ("text_column", "pair_column", "id_column", "image_column", "audio_column", "engine", "output", "resume", "overwrite", "shard_rows", "workers",
                  "threads_per_worker", "gpus_per_worker", "ray_address")
MODEL_OPTIONS = tuple(n for n in SHARED if n not in GOLDEN_OPTIONS)
RECORD_OPTIONS = MODEL_OPTIONS + GOLDEN_OPTIONS  # the commands whose records --expect can check


@dataclass
class Shared:
    """The shared options of one invocation (those a command does not take keep their defaults)."""

    input_file: Optional[str] = None
    jsonl: bool = False
    batch_size: int = BATCH_SIZE
    max_length: Optional[int] = None
    device: str = DEVICE
    dtype: str = DTYPE
    backend: Backend = Backend.auto
    allow_random_head: bool = False
    allow_pickle: bool = False
    tokenizer_source: Optional[str] = None
    revision: Optional[str] = None
    offline: bool = False
    cache_dir: Optional[Path] = None
    token: Optional[str] = None
    fmt: Format = Format.auto
    json_flag: bool = False
    quiet: bool = False
    verbose: bool = False
    expect: Optional[Path] = None
    atol: float = GOLDEN_ATOL
    text_column: Optional[str] = None
    pair_column: Optional[str] = None
    id_column: Optional[str] = None
    image_column: Optional[str] = None
    audio_column: Optional[str] = None
    engine: Engine = Engine.local
    output: Optional[str] = None
    resume: bool = False
    overwrite: bool = False
    shard_rows: int = SHARD_ROWS
    workers: int = 1
    threads_per_worker: Optional[int] = None
    gpus_per_worker: float = 0.0
    ray_address: Optional[str] = None
    # Set by the engine when it runs the command on one shard: the shard's rows are the inputs, the records go
    # to `sink` instead of stdout, and loaded models are kept in `memo` from one shard to the next.
    feed: object = field(default=None, repr=False)
    sink: Optional[Callable] = field(default=None, repr=False)
    memo: Optional[dict] = field(default=None, repr=False)

    def __post_init__(self):
        # read before anything loads: a bad golden file is a usage error, not a wasted model load
        self.golden = None
        if self.expect is not None:
            from autocli import golden

            self.golden = golden.Check(self.expect, golden.load(self.expect), self.atol)

    @property
    def engine_options(self) -> bool:
        """Whether the invocation asks for the sharded engine (--output, --engine ray or a column option)."""
        return (self.output is not None or self.engine != Engine.local
                or any(v is not None for v in (self.text_column, self.pair_column, self.id_column, self.image_column, self.audio_column)))

    @property
    def routed(self) -> bool:
        """Whether the records go to the engine (--output) rather than stdout."""
        return self.sink is not None

    def keep(self, key, make: Callable):
        """make(), once per engine worker for the same key (each worker loads its model once)."""
        if self.memo is None:
            return make()
        if key not in self.memo:
            self.memo[key] = make()
        return self.memo[key]

    @property
    def hub(self) -> dict:
        """Where checkpoints come from: the keywords of Checkpoint.resolve."""
        return dict(revision=self.revision, cache_dir=self.cache_dir, token=self.token, offline=self.offline, quiet=self.quiet)

    def read(self, texts, **kw):
        """The inputs: arguments, --input FILE or stdin, as plain lines or (--jsonl) objects."""
        if self.feed is not None:
            return self.feed.inputs(self.jsonl, **kw)
        from autocli.inputs import read_inputs

        return read_inputs(texts, self.input_file, self.jsonl, **kw)

    def load(self, model: str, task: str, **kw):
        """tasks.load with these options -> (ckpt, tokenizer, model); kw overrides (qa's own max_length)."""
        from autocli.tasks import load

        args = dict(device=self.device, dtype=self.dtype, backend=self.backend.value, allow_random_head=self.allow_random_head, allow_pickle=self.allow_pickle,
                    tokenizer_source=self.tokenizer_source, max_length=self.max_length, verbose=self.verbose, **self.hub)
        return self.keep(("load", model, task, repr(sorted(kw.items()))), lambda: load(model, task, **{**args, **kw}))

    def format(self, natural=Format.jsonl):
        return output_format(self.fmt, self.json_flag, natural)

    def watch(self, records, as_data=None):
        """The records, checked against --expect's golden run as they stream past (unchanged without it)."""
        return records if self.golden is None else self.golden.watch(records, as_data)

    def check_golden(self) -> None:
        """After the output: exit 6 when a record drifted from --expect's golden run."""
        if self.golden is not None:
            self.golden.finish()

    def emit(self, records, of: type) -> None:
        if self.sink is not None:
            self.sink(records, of)
            return
        from autocli import render

        tally = render.emit_records(self.watch(records), output_format(self.fmt, self.json_flag), of)
        self.check_golden()
        render.finish(tally)


def shared_options(names=RECORD_OPTIONS, **replace):
    """Command decorator: after the command's own parameters come the shared options `names` (an entry of
    `replace` gives one another (annotation, default)); the function receives them as one `shared: Shared`.
    Only the signature typer reads changes: the options stay plain typer options."""
    import functools
    import inspect

    def wrap(fn):
        sig = inspect.signature(fn, eval_str=True)  # typer reads objects, not the strings of `annotations`
        own = [p for p in sig.parameters.values() if p.name != "shared"]
        added = []
        for name in names:
            annotation, default = replace.get(name, SHARED[name])
            added.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation))

        @functools.wraps(fn)
        def command(*args, **kwargs):
            shared = Shared(**{name: kwargs.pop(name) for name in names})
            if shared.engine_options:
                from autocli.engine import run_job

                return run_job(fn, args, kwargs, shared)
            return fn(*args, **kwargs, shared=shared)

        params = own + added
        command.__signature__ = sig.replace(parameters=params)
        command.__annotations__ = {p.name: p.annotation for p in params}
        return command

    return wrap
