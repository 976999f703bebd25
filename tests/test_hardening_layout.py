"""Hostile documents: each bad document is its own error record (one line, a hint, no traceback), the others
still run in order, and the run exits 7; OCR without Tesseract says how to install it or pass words and boxes;
OCR through the `tesseract` binary's TSV reads words and boxes as transformers' apply_tesseract does."""

from __future__ import annotations

import json
import shutil
import sys

import pytest

from autocli.checkpoint import Checkpoint
from autocli.errors import AutocliError, InvalidCheckpoint, Unsupported
from autocli.preprocess import load_processor

GOOD = {"words": ["Total", "42"], "boxes": [[10, 10, 50, 20], [60, 10, 90, 20]]}
# name -> (document JSON text, or bytes; words expected in the error message)
BAD = {
    "outside": (json.dumps({"words": ["a"], "boxes": [[0, 0, 1200, 10]]}), "outside 0-1000"),
    "negative": (json.dumps({"words": ["a"], "boxes": [[-5, 0, 10, 10]]}), "outside 0-1000"),
    "mismatch": (json.dumps({"words": ["a", "b"], "boxes": [[0, 0, 1, 1]]}), "2 words but 1 boxes"),
    "flipped": (json.dumps({"words": ["a"], "boxes": [[50, 0, 10, 10]]}), "x0 > x1"),
    "floats": (json.dumps({"words": ["a"], "boxes": [[0.5, 0, 10, 10]]}), "four integers"),
    "bools": (json.dumps({"words": ["a"], "boxes": [[True, 0, 10, 10]]}), "four integers"),
    "three": (json.dumps({"words": ["a"], "boxes": [[0, 0, 10]]}), "four integers"),
    "empty-word": (json.dumps({"words": [" "], "boxes": [[0, 0, 1, 1]]}), "non-empty strings"),
    "number-word": (json.dumps({"words": [7], "boxes": [[0, 0, 1, 1]]}), "non-empty strings"),
    "no-words": (json.dumps({"words": [], "boxes": []}), "no words"),
    "labels": (json.dumps({**GOOD, "word_labels": [1]}), "word_labels"),
    "malformed": ('{"words": ["a"], "boxes": [[0, 0, 1, 1]', "not valid JSON"),
    "array": ("[1, 2]", "not an object"),
    "latin1": (b'{"words": ["caf\xe9"], "boxes": [[0, 0, 1, 1]]}', "not UTF-8"),
    "empty": ("", "not valid JSON"),
    "nothing": ("{}", "no \"words\""),
}


def ours(folder):
    ckpt = Checkpoint.resolve(str(folder))
    return load_processor(ckpt, ckpt.config().model_type)


def write(path, content):
    (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
    return path


def test_every_bad_document_is_its_own_record(script, layout_checkpoints, tmp_path):
    paths = [write(tmp_path / "good.json", json.dumps(GOOD))]
    for name, (content, _) in BAD.items():
        paths.append(write(tmp_path / f"{name}.json", content))
    paths += [tmp_path / "missing.json", tmp_path]  # no such file; a directory
    r = script(["tag", layout_checkpoints["v1-tok"], *paths, "--ignore-labels", ""])
    assert r.exit_code == 7 and "Traceback" not in r.stderr
    recs = [json.loads(line) for line in r.stdout.splitlines()]
    assert [x["index"] for x in recs] == list(range(len(paths)))
    assert [w["word"] for w in recs[0]["words"]] == GOOD["words"]
    for rec, (name, (_, words)) in zip(recs[1:], BAD.items()):
        assert words in rec["error"]["message"], name
        assert rec["error"]["hint"], name
    assert "no such file" in recs[-2]["error"]["message"] and "directory" in recs[-1]["error"]["message"]


def test_page_image_that_is_not_one(layout_checkpoints, tmp_path):
    proc = ours(layout_checkpoints["v3-tok"])
    write(tmp_path / "page.png", "this is text, not a PNG")
    doc = write(tmp_path / "doc.json", json.dumps({"image": "page.png", **GOOD}))
    with pytest.raises(AutocliError, match="not an image"):
        proc.load(str(doc))
    missing = write(tmp_path / "gone.json", json.dumps({"image": "gone.png", **GOOD}))
    with pytest.raises(AutocliError, match="no such file"):
        proc.load(str(missing))
    noimage = write(tmp_path / "noimage.json", json.dumps(GOOD))
    with pytest.raises(AutocliError, match="page image"):
        proc.load(str(noimage))
    with pytest.raises(AutocliError, match="file path"):
        proc.load(str(write(tmp_path / "num.json", json.dumps({"image": 3, **GOOD}))))


def _ocr_checkpoint(layout_checkpoints, tmp_path, **settings):
    folder = tmp_path / "ocr-ckpt"
    shutil.copytree(layout_checkpoints["v3-tok"], folder)
    cfg = json.loads((folder / "preprocessor_config.json").read_text())
    (folder / "preprocessor_config.json").write_text(json.dumps({**cfg, "apply_ocr": True, **settings}))
    return folder


def _page_doc(layout_docs, tmp_path):
    shutil.copy(layout_docs["invoice"].parent / "page.png", tmp_path / "page.png")
    return write(tmp_path / "scan.json", json.dumps({"image": "page.png"}))


def test_ocr_without_tesseract_says_how_to_install(layout_checkpoints, layout_docs, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pytesseract", None)  # import fails
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    proc = ours(_ocr_checkpoint(layout_checkpoints, tmp_path))
    with pytest.raises(Unsupported, match="Tesseract") as e:
        proc.load(str(_page_doc(layout_docs, tmp_path)))
    assert "install" in e.value.hint and "words" in e.value.hint


def test_ocr_absent_in_a_run_is_an_error_record(script, layout_checkpoints, layout_docs, tmp_path):
    folder = _ocr_checkpoint(layout_checkpoints, tmp_path)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    r = script(["tag", folder, _page_doc(layout_docs, tmp_path), layout_docs["short"]], env={"PATH": str(bin_dir)})
    assert r.exit_code == 7 and "Traceback" not in r.stderr, r.stderr
    recs = [json.loads(line) for line in r.stdout.splitlines()]
    assert "Tesseract" in recs[0]["error"]["message"] and "words" in recs[0]["error"]["hint"]
    assert [w["word"] for w in recs[1]["words"]] == ["Hello", "world"]


TSV = ("level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext\n"
       "1\t1\t0\t0\t0\t0\t0\t0\t120\t90\t-1\t\n"
       "5\t1\t1\t1\t1\t1\t10\t5\t30\t12\t96\tInvoice\n"
       "5\t1\t1\t1\t1\t2\t45\t5\t20\t12\t91\t   \n"
       "5\t1\t1\t1\t1\t3\t70\t40\t49\t20\t88\t42.00\n")


def test_ocr_through_the_tesseract_binary(layout_checkpoints, layout_docs, tmp_path, monkeypatch):
    """The binary's TSV gives transformers' words and boxes: blank words dropped, int(1000 * x / size)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (tmp_path / "out.tsv").write_text(TSV)
    fake = bin_dir / "tesseract"
    fake.write_text(f"#!/bin/sh\necho \"$@\" > {tmp_path / 'args'}\ncat {tmp_path / 'out.tsv'}\n")
    fake.chmod(0o755)
    monkeypatch.setitem(sys.modules, "pytesseract", None)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    proc = ours(_ocr_checkpoint(layout_checkpoints, tmp_path, ocr_lang="deu", tesseract_config="--psm 6"))
    doc = proc.load(str(_page_doc(layout_docs, tmp_path)))
    assert doc.ocr and doc.words == ("Invoice", "42.00")
    assert doc.boxes == ((83, 55, 333, 188), (583, 444, 991, 666))  # a 120x90 page
    assert (tmp_path / "args").read_text().split()[-4:] == ["deu", "--psm", "6", "tsv"]
    assert transformers_boxes(doc.image, TSV) == (list(doc.words), [list(b) for b in doc.boxes])
    out = proc([doc])
    assert out["bbox"].shape[1] == out["input_ids"].shape[1]


def transformers_boxes(image, tsv):
    """transformers' apply_tesseract on the same OCR output (its pytesseract call answered from the TSV)."""
    import csv
    import io

    import numpy as np
    from transformers.models.layoutlmv2 import image_processing_pil_layoutlmv2 as m

    rows = list(csv.DictReader(io.StringIO(tsv), delimiter="\t"))
    data = {k: [r[k] if k == "text" else int(r[k]) for r in rows] for k in ("text", "left", "top", "width", "height")}

    class Fake:
        @staticmethod
        def image_to_data(*a, **k):
            return data

    saved = m.pytesseract, m.requires_backends
    m.pytesseract, m.requires_backends = Fake, lambda *a, **k: None
    try:
        words, boxes = m.apply_tesseract(np.asarray(image), None, "", input_data_format="channels_last")
    finally:
        m.pytesseract, m.requires_backends = saved
    return list(words), boxes


def test_bad_ocr_settings_are_refused(layout_checkpoints, tmp_path):
    with pytest.raises(InvalidCheckpoint, match="ocr_lang"):
        ours(_ocr_checkpoint(layout_checkpoints, tmp_path, ocr_lang=5))


@pytest.mark.parametrize("args, words", [
    (["classify", "v3-cls", "--pair", "x"], "--pair"),
    (["tag", "v1-tok", "--tokenizer", "bert-base-uncased"], "--tokenizer"),
    (["qa", "v3-qa", "--question", "Q", "--context", "text"], "--context"),
])
def test_options_that_do_not_apply_to_documents(script, layout_checkpoints, layout_docs, args, words):
    cmd, name, *rest = args
    r = script([cmd, layout_checkpoints[name], layout_docs["short"], *rest])
    assert r.exit_code == 2 and words.lstrip("-") in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_token_ids_outside_the_vocabulary(layout_checkpoints, tmp_path):
    """A config whose vocab_size is below the tokenizer's: refused as an invalid checkpoint, not an index error."""
    from autocli.inputs import Inputs, Item
    from autocli.tasks import load
    from autocli.tasks.document import tag_documents
    from autocli.tasks.tag import TagOptions

    folder = tmp_path / "small-vocab"
    shutil.copytree(layout_checkpoints["v1-tok"], folder)
    _, proc, model = load(str(folder), "token-classification", device="cpu", quiet=True)
    model.vocab_size = 5
    doc = write(tmp_path / "d.json", json.dumps(GOOD))
    (rec,) = list(tag_documents(model, proc, Inputs([Item(0, {"document": str(doc)})]), TagOptions(quiet=True)))
    assert rec.error["exit_code"] == 4 and "vocabulary" in rec.error["message"]


@pytest.mark.parametrize("cmd, name, arg", [("embed", "v1-base", "doc"), ("fill-mask", "v1-mlm", "a [MASK] b")])
def test_commands_without_documents_say_which_do(script, layout_checkpoints, layout_docs, cmd, name, arg):
    r = script([cmd, layout_checkpoints[name], str(layout_docs["short"]) if arg == "doc" else arg])
    assert r.exit_code == 5 and "classify, tag and qa" in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_a_special_token_box_off_the_page_is_refused(layout_checkpoints, tmp_path):
    folder = tmp_path / "bad-box"
    shutil.copytree(layout_checkpoints["v1-tok"], folder)
    cfg = json.loads((folder / "tokenizer_config.json").read_text())
    (folder / "tokenizer_config.json").write_text(json.dumps({**cfg, "sep_token_box": [5000, 0, 0, 0]}))
    with pytest.raises(InvalidCheckpoint, match="sep_token_box"):
        ours(folder)
