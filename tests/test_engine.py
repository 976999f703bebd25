"""--output DIR with the local engine: shards and manifests, --resume, --overwrite, refusals, bad rows, CSV and
Parquet columns, and a driver killed mid-job (SIGINT, SIGKILL) then resumed: every row exactly once."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT, assert_one_line_error
from tests.fx_engine import comparable, kill_then_resume, manifests, read_output, sentences, write_jsonl
from tests.fx_models import build_checkpoint


@pytest.fixture(scope="module")
def classifier(tiny_root):
    return build_checkpoint(tiny_root, "bert", "sequence-classification")


def _classify(cli, model, src, out, *more):
    return cli(["classify", model, "--input", src, "--jsonl", "--output", out, *more])


def test_records_are_those_of_stdout_with_their_ids(cli, classifier, tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", sentences(40))
    plain = cli(["classify", classifier, "--input", src, "--jsonl", "--format", "jsonl", "--top-k", "2"])
    res = _classify(cli, classifier, src, tmp_path / "out", "--format", "jsonl", "--top-k", "2", "--id-column", "id")
    assert res.exit_code == 0, res.stderr
    got = read_output(tmp_path / "out")
    assert [{k: v for k, v in r.items() if k != "id"} for r in got] == plain.jsonl()
    assert [r["id"] for r in got] == [f"r{i}" for i in range(40)]
    assert "40/40 rows" in res.stderr and "rows/s" in res.stderr and "0 failed" in res.stderr


def test_parquet_shards_and_their_manifests(cli, classifier, tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", sentences(25))
    res = _classify(cli, classifier, src, tmp_path / "out", "--shard-rows", "10")
    assert res.exit_code == 0, res.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["_manifests", "part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    found = manifests(tmp_path / "out")
    assert [m["rows"] for m in found.values()] == [10, 10, 5]
    first = found["part-00001"]
    assert first["shard"] == {"file": str(src), "bytes": src.stat().st_size, "start": 10, "stop": 20, "first": 10}
    assert first["model"] == str(classifier) and first["command"] == "classify" and first["format"] == "parquet"
    assert first["options"]["top_k"] is None and "autocli" in first and first["failed"] == 0
    assert [r["id"] for r in read_output(tmp_path / "out")] == list(range(25))  # no --id-column: the row number
    import pyarrow.dataset as ds

    table = ds.dataset(tmp_path / "out", format="parquet").to_table()  # the parts read as one data set
    assert table.num_rows == 25 and "error" in table.column_names and table.column("error").null_count == 25


def test_resume_writes_only_the_missing_shards(cli, classifier, tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", sentences(30))
    out = tmp_path / "out"
    assert _classify(cli, classifier, src, out, "--shard-rows", "10").exit_code == 0
    before = read_output(out)
    kept = out / "part-00000.parquet"
    stamp = kept.stat().st_mtime_ns
    (out / "_manifests" / "part-00001.json").unlink()  # as if killed between the part and its manifest
    (out / "part-00002.parquet").unlink()
    res = _classify(cli, classifier, src, out, "--shard-rows", "10", "--resume")
    assert res.exit_code == 0, res.stderr
    assert "2 written, 1 already done" in res.stderr
    assert kept.stat().st_mtime_ns == stamp
    assert read_output(out) == before
    again = _classify(cli, classifier, src, out, "--shard-rows", "10", "--resume")
    assert "0 written, 3 already done" in again.stderr and again.exit_code == 0


def test_an_output_folder_is_not_mixed(cli, classifier, tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", sentences(12))
    out = tmp_path / "out"
    assert _classify(cli, classifier, src, out, "--shard-rows", "5").exit_code == 0
    assert_one_line_error(_classify(cli, classifier, src, out, "--shard-rows", "5"), 2)  # neither --resume nor --overwrite
    other = _classify(cli, classifier, src, out, "--shard-rows", "5", "--resume", "--top-k", "2")
    assert_one_line_error(other, 2)
    assert "other options: top_k" in other.stderr
    resharded = _classify(cli, classifier, src, out, "--shard-rows", "4", "--resume")
    assert_one_line_error(resharded, 2)
    src.write_text(src.read_text().replace("r0", "r00"))  # the same rows, edited in place
    assert "other shard" in _classify(cli, classifier, src, out, "--shard-rows", "5", "--resume").stderr
    replaced = _classify(cli, classifier, src, out, "--shard-rows", "4", "--resume", "--top-k", "2", "--overwrite")
    assert replaced.exit_code == 0, replaced.stderr
    assert [m["options"]["top_k"] for m in manifests(out).values()] == ["2"] * 3
    assert all(len(r["scores"]) == 2 for r in read_output(out))


def test_a_bad_row_in_the_middle_of_a_shard(cli, classifier, tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", sentences(20), bad={7: "{not json", 13: '{"text": "", "id": "r13"}'})
    res = _classify(cli, classifier, src, tmp_path / "out", "--shard-rows", "10", "--id-column", "id")
    assert res.exit_code == 7, res.stderr
    assert "2 of 20 inputs failed" in res.stderr and "2 failed" in res.stderr
    records = read_output(tmp_path / "out")
    assert len(records) == 20
    assert [r["index"] for r in records if r["error"]] == [7, 13]
    assert records[7]["id"] is None and "not valid JSON" in records[7]["error"]["message"]
    assert records[13]["id"] == "r13" and "empty" in records[13]["error"]["message"]
    assert all(r["label"] for r in records if not r["error"])
    assert [m["failed"] for m in manifests(tmp_path / "out").values()] == [1, 1]


def test_csv_columns_and_ids(cli, classifier, tmp_path):
    src = tmp_path / "tickets.csv"
    src.write_text("ticket,body,other\n" + "".join(f'T{i},"{t}, said ""x""",{i}\n' for i, t in enumerate(sentences(9))), encoding="utf-8")
    res = cli(["classify", classifier, "--input", src, "--output", tmp_path / "out", "--text-column", "body", "--id-column", "ticket", "--format", "jsonl"])
    assert res.exit_code == 0, res.stderr
    assert [r["id"] for r in read_output(tmp_path / "out")] == [f"T{i}" for i in range(9)]


def test_parquet_columns_pairs_and_a_null_text(cli, classifier, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    texts = sentences(12)
    texts[5] = None
    table = pa.table({"key": list(range(100, 112)), "a": texts, "b": sentences(12, seed=1)})
    pq.write_table(table, tmp_path / "x.parquet", row_group_size=5)
    res = cli(["classify", classifier, "--input", tmp_path / "x.parquet", "--output", tmp_path / "out", "--text-column", "a",
               "--pair-column", "b", "--id-column", "key", "--shard-rows", "4"])
    assert res.exit_code == 7, res.stderr
    records = read_output(tmp_path / "out")
    assert [r["id"] for r in records] == list(range(100, 112))
    assert records[5]["error"]["message"] == "column 'a' is missing"
    pairs = cli(["classify", classifier, texts[6], "--pair", sentences(12, seed=1)[6], "--format", "jsonl"]).jsonl()[0]
    assert [s["label"] for s in records[6]["scores"]] == [s["label"] for s in pairs["scores"]]  # the pair column reaches the task
    assert records[6]["score"] == pytest.approx(pairs["score"], abs=1e-5)  # alone vs in a batch: float rounding only
    alone = cli(["classify", classifier, texts[6], "--format", "jsonl"]).jsonl()[0]
    assert alone["score"] != pytest.approx(records[6]["score"], abs=1e-5)


def test_a_missing_column_and_an_unreadable_parquet_file(cli, classifier, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "data").mkdir()
    pq.write_table(pa.table({"text": sentences(6)}), tmp_path / "data" / "a.parquet")
    (tmp_path / "data" / "b.parquet").write_bytes(b"PAR1 this is not parquet")
    pq.write_table(pa.table({"text": sentences(3)}), tmp_path / "data" / "c.parquet")
    missing = cli(["classify", classifier, "--input", tmp_path / "data" / "a.parquet", "--output", tmp_path / "o1", "--text-column", "body"])
    assert_one_line_error(missing, 2)
    assert "no column 'body'" in missing.stderr and "text" in missing.stderr
    res = cli(["classify", classifier, "--input", tmp_path / "data", "--output", tmp_path / "o2"])
    assert res.exit_code == 7, res.stderr
    records = read_output(tmp_path / "o2")
    assert len(records) == 6 + 1 + 3
    assert records[6]["error"]["message"].startswith(f"cannot read {tmp_path / 'data' / 'b.parquet'}")
    assert [r["index"] for r in records] == list(range(10))


@pytest.mark.parametrize("args, says", [
    (["--engine", "ray"], "need --output"),
    (["--text-column", "body"], "need --output"),
    (["--output", "OUT", "--format", "table"], "not table"),
    (["--output", "OUT", "--json"], "not json"),
])
def test_engine_options_refused_without_their_pieces(cli, classifier, tmp_path, args, says):
    src = write_jsonl(tmp_path / "in.jsonl", sentences(3))
    res = cli(["classify", classifier, "--input", src, *[str(tmp_path / a) if a == "OUT" else a for a in args]])
    assert_one_line_error(res, 2)
    assert says in res.stderr


def test_expect_is_refused_with_output(cli, classifier, tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", sentences(3))
    golden = tmp_path / "golden.jsonl"
    golden.write_text(cli(["classify", classifier, "--input", src, "--jsonl", "--format", "jsonl"]).stdout)
    res = cli(["classify", classifier, "--input", src, "--jsonl", "--output", tmp_path / "out", "--expect", golden])
    assert_one_line_error(res, 2)
    assert "drop --expect or --output" in res.stderr


def test_stdin_is_refused_with_output(cli, classifier, tmp_path):
    res = cli(["classify", classifier, "--output", tmp_path / "out"], input="a text\n")
    assert_one_line_error(res, 2)
    assert "--input" in res.stderr


def test_missing_extras_name_them(cli, classifier, tmp_path, monkeypatch):
    src = write_jsonl(tmp_path / "in.jsonl", sentences(3))
    monkeypatch.setitem(sys.modules, "ray", None)
    monkeypatch.setitem(sys.modules, "ray.data", None)
    ray = cli(["classify", classifier, "--input", src, "--jsonl", "--output", tmp_path / "o", "--engine", "ray", "--format", "jsonl"])
    assert_one_line_error(ray, 5)
    assert "pip install 'autocli[ray]'" in ray.stderr
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    parquet = cli(["classify", classifier, "--input", src, "--jsonl", "--output", tmp_path / "o"])
    assert_one_line_error(parquet, 5)
    assert "pip install 'autocli[parquet]'" in parquet.stderr
    assert not (tmp_path / "o").exists()


def test_other_commands_write_the_records_they_print(cli, tiny_root, decoder_root, tmp_path):
    from tests.fx_decoders import build_decoder

    tagger = build_checkpoint(tiny_root, "bert", "token-classification")
    encoder = build_checkpoint(tiny_root, "bert", "base")
    lm = build_decoder(decoder_root, "gpt2", "causal-lm", seed=3)
    src = write_jsonl(tmp_path / "in.jsonl", sentences(8))
    prompts = write_jsonl(tmp_path / "p.jsonl", sentences(5), key="prompt")
    for name, model, source, more in (("tag", tagger, src, ["--ignore-labels", ""]), ("embed", encoder, src, []),
                                      ("generate", lm, prompts, ["--max-new-tokens", "4", "--greedy"])):
        plain = cli([name, model, "--input", source, "--jsonl", "--format", "jsonl", *more])
        res = cli([name, model, "--input", source, "--jsonl", "--format", "jsonl", "--output", tmp_path / name, "--id-column", "id", *more])
        assert res.exit_code == 0, (name, res.stderr)
        got = comparable(read_output(tmp_path / name))
        assert len(got) == len(plain.jsonl()) > 0
        assert comparable([{**r, "id": f"r{r['index']}"} for r in plain.jsonl()]) == got, name


def test_local_runs_never_import_ray_or_pyarrow(classifier, tmp_path):
    code = ("import sys; from autocli.cli import run; code = run(['classify', sys.argv[1], 'a text', '--format', 'jsonl']); "
            "assert code == 0; bad = [m for m in ('ray', 'pyarrow') if m in sys.modules]; assert not bad, bad")
    proc = subprocess.run([sys.executable, "-c", code, str(classifier)], cwd=ROOT, capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()


@pytest.mark.parametrize("sig", ["SIGINT", "SIGKILL"])
def test_killed_driver_then_resume_gives_every_row_once(classifier, tmp_path, sig):
    n, rows = 600, 20
    src = write_jsonl(tmp_path / "in.jsonl", sentences(n))
    out = tmp_path / "out"
    args = ["classify", classifier, "--input", src, "--jsonl", "--output", out, "--shard-rows", rows, "--id-column", "id", "--format", "jsonl"]
    assert kill_then_resume(args, out, n, rows, sig) == (130 if sig == "SIGINT" else -9)


def test_audio_commands_write_the_records_they_print(cli, audio_root, tmp_path):
    from tests.fx_audio import build_audio_checkpoint, write_audio

    clips = [write_audio(tmp_path / f"{i}.wav", 0.4 + 0.3 * i, 16000, 1, "PCM_16", seed=i) for i in range(3)]
    (tmp_path / "missing.wav").write_bytes(b"RIFF not audio")
    listing = tmp_path / "clips.txt"
    listing.write_text("".join(f"{p}\n" for p in [*clips, tmp_path / "missing.wav"]))
    for name, task in (("classify", "audio-classification"), ("transcribe", "ctc")):
        model = build_audio_checkpoint(audio_root, "wav2vec2", task)
        plain = cli([name, model, "--input", listing, "--format", "jsonl"])
        res = cli([name, model, "--input", listing, "--format", "jsonl", "--output", tmp_path / name, "--shard-rows", "2"])
        assert res.exit_code == plain.exit_code == 7, res.stderr
        assert [{k: v for k, v in r.items() if k != "id"} for r in read_output(tmp_path / name)] == plain.jsonl()
