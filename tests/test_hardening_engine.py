"""Hostile inputs and output folders for --output jobs: broken manifests, leftovers of a killed job, empty or
undecodable files, patterns that match nothing. Each is a one-line error with its exit code, or an error record."""

from __future__ import annotations

import json

import pytest

from tests.conftest import assert_one_line_error
from tests.fx_engine import manifests, read_output, sentences, write_jsonl
from tests.fx_models import build_checkpoint
from tests.fx_vision import vision_checkpoints  # noqa: F401


@pytest.fixture(scope="module")
def classifier(tiny_root):
    return build_checkpoint(tiny_root, "bert", "sequence-classification")


def _run(cli, model, src, out, *more):
    return cli(["classify", model, "--input", src, "--output", out, "--format", "jsonl", *more])


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", "\xff"])
def test_a_broken_manifest_is_refused_not_trusted(cli, classifier, tmp_path, content):
    src = write_jsonl(tmp_path / "in.jsonl", sentences(6))
    out = tmp_path / "out"
    assert _run(cli, classifier, src, out, "--jsonl").exit_code == 0
    (out / "_manifests" / "part-00000.json").write_text(content, encoding="latin-1")
    res = _run(cli, classifier, src, out, "--jsonl", "--resume")
    assert_one_line_error(res, 2)
    assert "manifest" in res.stderr
    assert _run(cli, classifier, src, out, "--jsonl", "--overwrite").exit_code == 0
    assert len(read_output(out)) == 6


def test_leftovers_of_a_killed_job_are_cleared_on_resume(cli, classifier, tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", sentences(9))
    out = tmp_path / "out"
    assert _run(cli, classifier, src, out, "--jsonl", "--shard-rows", "3").exit_code == 0
    (out / ".part-00001.jsonl.tmp-999").write_text('{"half": ')
    (out / "_manifests" / ".part-00001.json.tmp-999").write_text("{")
    (out / "part-00002.jsonl").write_text('{"index": 6}\n')  # a part whose manifest never came
    (out / "_manifests" / "part-00002.json").unlink()
    (out / "part-00007.jsonl").write_text('{"index": 99}\n')  # not a shard of this input, no manifest
    res = _run(cli, classifier, src, out, "--jsonl", "--shard-rows", "3", "--resume")
    assert res.exit_code == 0, res.stderr
    assert sorted(p.name for p in out.iterdir()) == ["_manifests", "part-00000.jsonl", "part-00001.jsonl", "part-00002.jsonl"]
    assert [r["index"] for r in read_output(out)] == list(range(9))
    assert sorted(manifests(out)) == ["part-00000", "part-00001", "part-00002"]


def test_a_manifest_of_a_shard_this_input_does_not_have(cli, classifier, tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", sentences(4))
    out = tmp_path / "out"
    assert _run(cli, classifier, src, out, "--jsonl").exit_code == 0
    (out / "_manifests" / "part-00005.json").write_text(json.dumps(manifests(out)["part-00000"]))
    res = _run(cli, classifier, src, out, "--jsonl", "--resume")
    assert_one_line_error(res, 2)
    assert "part-00005" in res.stderr and "not a shard of this input" in res.stderr


@pytest.mark.parametrize("name, given, says", [
    ("empty.jsonl", "", "empty"),
    ("none", None, "matches no file"),
    ("missing.jsonl", "MISSING", "cannot read"),
])
def test_inputs_that_give_no_rows(cli, classifier, tmp_path, name, given, says):
    if given == "":
        (tmp_path / name).write_text("")
    src = tmp_path / ("*.nothing" if given is None else name)
    res = _run(cli, classifier, src, tmp_path / "out")
    assert_one_line_error(res, 2)
    assert says in res.stderr


def test_an_undecodable_csv_is_one_error_record(cli, classifier, tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.csv").write_bytes(b"text\nfine words\n")
    (tmp_path / "in" / "b.csv").write_bytes(b"text\n\xff\xfe broken\n")
    res = _run(cli, classifier, tmp_path / "in", tmp_path / "out", "--text-column", "text")
    assert res.exit_code == 7, res.stderr
    records = read_output(tmp_path / "out")
    assert len(records) == 2 and records[0]["label"] and "not a readable UTF-8 CSV" in records[1]["error"]["message"]


def test_columns_on_plain_lines_are_refused(cli, classifier, tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("one\ntwo\n")
    res = _run(cli, classifier, src, tmp_path / "out", "--text-column", "body")
    assert_one_line_error(res, 2)
    assert "--jsonl" in res.stderr


def test_an_output_path_that_is_a_file(cli, classifier, tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", sentences(2))
    (tmp_path / "out").write_text("x")
    res = _run(cli, classifier, src, tmp_path / "out", "--jsonl")
    assert_one_line_error(res, 2)


@pytest.mark.parametrize("where, uri, code, says", [
    ("input", "s3:///data.jsonl", 2, "names no bucket"),
    ("output", "gs://", 2, "names no bucket"),
    ("output", "ftp://host/out/", 5, "the ftp:// store is not supported"),
    ("input", "s3://no-pyarrow-bkt/in.jsonl", 5, "pip install 'autocli[remote]'"),
])
def test_store_uris_that_cannot_be_used(cli, classifier, tmp_path, monkeypatch, where, uri, code, says):
    import sys

    if "no-pyarrow" in uri:
        monkeypatch.setitem(sys.modules, "pyarrow.fs", None)  # as if autocli[remote] were not installed
    src = write_jsonl(tmp_path / "in.jsonl", sentences(2))
    res = _run(cli, classifier, uri if where == "input" else src, uri if where == "output" else tmp_path / "out", "--jsonl")
    assert_one_line_error(res, code)
    assert says in res.stderr


def test_hostile_paths_in_an_image_column_are_error_records(cli, vision_checkpoints, tmp_path):
    (tmp_path / "listing" / "sub").mkdir(parents=True)
    listing = tmp_path / "listing" / "rows.csv"
    listing.write_text("path\n../../../../../../etc/passwd\nsub\n\n" + "x" * 5000 + "\n", encoding="utf-8")
    res = cli(["classify", vision_checkpoints["vit-cls"], "--input", listing, "--image-column", "path", "--output", tmp_path / "out",
               "--format", "jsonl"])
    assert res.exit_code == 7, res.stderr
    errors = [r["error"]["message"] for r in read_output(tmp_path / "out")]
    assert len(errors) == 3  # a blank line of a CSV is no row
    assert "not an image" in errors[0] and "is a directory" in errors[1] and "File name too long" in errors[2]
