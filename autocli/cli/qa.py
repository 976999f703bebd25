"""`autocli qa MODEL --question Q --context TEXT`: extractive question answering."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from autocli.cli import options as o
from autocli.tasks.qa import DOC_STRIDE, MAX_ANSWER_LENGTH, MAX_LENGTH, TOP_K
# A --context-file above this size is refused rather than read.
MAX_CONTEXT_BYTES = 64 * 1024 * 1024

EPILOG = (
    "Long contexts are split into --max-length token windows overlapping by --doc-stride tokens; answers from "
    "all windows are ranked on one score (a softmax shared by the windows; for one window it equals "
    "transformers' question-answering pipeline score). With --allow-impossible the empty answer "
    "(start = end = 0) competes, scored from the CLS token.\n\n"
    "Without --context, inputs are contexts (one per line, with --question) or JSONL objects "
    "{\"question\": ..., \"context\": ...}.\n\n"
    "Examples:\n\n"
    "  autocli qa deepset/roberta-base-squad2 --question \"Who wrote it?\" --context \"It was written by Ada.\"\n\n"
    "  autocli qa ./squad-model --question \"When?\" --context-file report.txt --top-k 3 --allow-impossible\n\n"
    "  autocli qa ./squad-model --jsonl --input questions.jsonl > answers.jsonl\n\n"
    "  autocli qa ./layoutlm-docvqa --question \"What is the total?\" invoice.json   # answer words and their boxes"
)


def _read_context(path: Path) -> str:
    import sys

    from autocli.errors import UsageError

    try:
        data = sys.stdin.buffer.read() if str(path) == "-" else path.read_bytes()
    except OSError as e:
        raise UsageError(f"cannot read --context-file {path}: {e.strerror}", "check the path") from None
    if len(data) > MAX_CONTEXT_BYTES:
        raise UsageError(f"--context-file is {len(data):,} bytes, over the {MAX_CONTEXT_BYTES:,}-byte limit")
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as e:
        raise UsageError(f"--context-file is not valid UTF-8 (byte {e.start})", "convert the file to UTF-8") from None


@o.shared_options(tuple(n for n in o.RECORD_OPTIONS if n != "max_length"))
def qa_cmd(
    model: o.Checkpoint,
    documents: Annotated[Optional[list[str]], typer.Argument(help="Document JSON files, for a document checkpoint (LayoutLM): the answer is a span of their words.", show_default=False)] = None,
    question: Annotated[Optional[str], typer.Option("--question", "-Q", help="The question (also the default for every input).")] = None,
    context: Annotated[Optional[str], typer.Option("--context", "-c", help="The text to find the answer in.")] = None,
    context_file: Annotated[Optional[Path], typer.Option("--context-file", help="Read the context from FILE ('-' = stdin).")] = None,
    top_k: Annotated[int, typer.Option("--top-k", min=1, help="Answers per question.")] = TOP_K,
    max_answer_length: Annotated[int, typer.Option("--max-answer-length", min=1, help="Longest answer, in tokens.")] = MAX_ANSWER_LENGTH,
    max_length: Annotated[int, typer.Option("--max-length", min=1, help="Tokens per window (question + context).", rich_help_panel=o.RUN)] = MAX_LENGTH,
    doc_stride: Annotated[int, typer.Option("--doc-stride", min=0, help="Context tokens shared by consecutive windows.")] = DOC_STRIDE,
    allow_impossible: Annotated[bool, typer.Option("--allow-impossible", help="Let the empty answer (no answer in the context) compete.")] = False,
    logits: o.Logits = False,
    *,
    shared: o.Shared,
) -> None:
    """Find the answer to a question as a span of a context."""
    from autocli.errors import UsageError
    from autocli.inputs import Inputs, Item, require
    from autocli.results import Answered
    from autocli.tasks.qa import QAOptions, qa

    def options_of() -> QAOptions:
        return QAOptions(shared.batch_size, max_length, shared.quiet, logits, top_k=top_k, max_answer_length=max_answer_length,
                         doc_stride=doc_stride, allow_impossible=allow_impossible)

    if documents:
        _qa_documents(model, documents, question, context is not None or context_file is not None, options_of, shared)
        return
    if context is not None and context_file is not None:
        raise UsageError("give --context or --context-file, not both")
    if context is not None or context_file is not None:
        if question is None:
            raise UsageError("--question is required with --context", 'e.g. --question "Who?" --context "..."')
        if shared.input_file is not None or shared.jsonl:
            raise UsageError("give one --context, or inputs with --input/--jsonl, not both")
        items = Inputs([Item(0, {"question": question, "context": context if context is not None else _read_context(context_file)})])
    else:
        def with_question(item) -> None:
            if question is not None and item.error is None:
                item.fields.setdefault("question", question)

        items = shared.read(None, primary="context").each(with_question)
    items.each(lambda item: require(item, "question", "context"))
    _, tokenizer, loaded = shared.load(model, "question-answering", max_length=max_length, pair=True)
    if getattr(tokenizer, "input", None) == "document":
        raise UsageError("this checkpoint answers questions about documents", "pass document JSON files: autocli qa MODEL --question Q doc.json")
    shared.emit(qa(loaded, tokenizer, items, options_of()), Answered)


def _qa_documents(model: str, documents: list[str], question: str | None, has_context: bool, options_of, shared) -> None:
    """Questions about document JSON files (LayoutLM checkpoints): one --question for every document."""
    from autocli.errors import UsageError
    from autocli.inputs import naming_files
    from autocli.results import DocumentAnswered
    from autocli.tasks.document import qa_documents

    if question is None or has_context:
        raise UsageError("documents take one --question and no --context", 'e.g. autocli qa MODEL --question "Total?" invoice.json')
    items = shared.read(documents).each(naming_files("document"))
    options = options_of()
    _, processor, loaded = shared.load(model, "question-answering", max_length=options.max_length, pair=True)
    if getattr(processor, "input", None) != "document":
        raise UsageError("this checkpoint answers questions about text, not document files", "pass --context TEXT instead")
    shared.emit(qa_documents(loaded, processor, items.each(lambda item: item.fields.setdefault("question", question)), options),
                DocumentAnswered)
