"""--engine ray on a local Ray runtime of 2 CPUs, one for all these tests: the same records as the local engine
(sorted by id) for classify, tag, embed and greedy generate; a killed driver (SIGINT, SIGKILL) then --resume gives
every row exactly once; a worker's error keeps its exit code."""

from __future__ import annotations

import pytest

from tests.conftest import assert_one_line_error
from tests.fx_engine import comparable, kill_then_resume, ray_address, read_output, sentences, write_jsonl  # noqa: F401
from tests.fx_models import build_checkpoint

pytest.importorskip("ray.data")


def _same_records(cli, tmp_path, command, model, source, more, shard_rows):
    base = [command, model, "--input", source, "--jsonl", "--id-column", "id", "--shard-rows", str(shard_rows), *more]
    local = cli([*base, "--output", tmp_path / "local", "--threads-per-worker", "1"])
    assert local.exit_code == 0, local.stderr
    on_ray = cli([*base, "--output", tmp_path / "ray", "--engine", "ray", "--workers", "2"])
    assert on_ray.exit_code == 0, on_ray.stderr
    assert "engine ray" in on_ray.stderr
    want, got = comparable(read_output(tmp_path / "local")), comparable(read_output(tmp_path / "ray"))
    assert len(got) == len(want) > 0
    assert got == want
    return got


@pytest.mark.parametrize("command, task, more", [
    ("classify", "sequence-classification", ["--top-k", "2"]),
    ("tag", "token-classification", ["--ignore-labels", ""]),
    ("embed", "base", []),
])
def test_ray_gives_the_records_of_the_local_engine(cli, ray_address, tiny_root, tmp_path, command, task, more):
    model = build_checkpoint(tiny_root, "bert", task)
    src = write_jsonl(tmp_path / "in.jsonl", sentences(300), bad={150: "{broken"})
    base = [command, model, "--input", src, "--jsonl", "--id-column", "id", "--shard-rows", "64", *more]
    local = cli([*base, "--output", tmp_path / "local", "--threads-per-worker", "1"])
    on_ray = cli([*base, "--output", tmp_path / "ray", "--engine", "ray", "--workers", "2"])
    assert local.exit_code == on_ray.exit_code == 7, on_ray.stderr
    assert "1 of 300 inputs failed" in on_ray.stderr
    want, got = comparable(read_output(tmp_path / "local")), comparable(read_output(tmp_path / "ray"))
    assert len(got) == 300 and got == want


def test_ray_greedy_generate_is_the_local_one(cli, ray_address, decoder_root, tmp_path):
    from tests.fx_decoders import build_decoder

    lm = build_decoder(decoder_root, "gpt2", "causal-lm", seed=3)
    src = write_jsonl(tmp_path / "p.jsonl", sentences(40), key="prompt")
    got = _same_records(cli, tmp_path, "generate", lm, src, ["--max-new-tokens", "5", "--greedy"], 10)
    assert all(r["token_ids"] for r in got)


@pytest.mark.parametrize("more, says", [
    (["--top-k", "0"], "--top-k must be at least 1"),  # raised in a worker
    (["--workers", "3"], "need 3 CPUs"),  # the runtime has 2
])
def test_errors_keep_their_exit_code(cli, ray_address, tiny_root, tmp_path, more, says):
    model = build_checkpoint(tiny_root, "bert", "sequence-classification")
    src = write_jsonl(tmp_path / "in.jsonl", sentences(4))
    res = cli(["classify", model, "--input", src, "--jsonl", "--output", tmp_path / "out", "--engine", "ray", *more])
    assert_one_line_error(res, 2)
    assert says in res.stderr
    assert not list((tmp_path / "out").glob("part-*"))


@pytest.mark.parametrize("sig", ["SIGINT", "SIGKILL"])
def test_killed_ray_driver_then_resume_gives_every_row_once(ray_address, tiny_root, tmp_path, sig):
    model = build_checkpoint(tiny_root, "bert", "sequence-classification")
    n, rows = 400, 10
    src = write_jsonl(tmp_path / "in.jsonl", sentences(n))
    out = tmp_path / "out"
    args = ["classify", model, "--input", src, "--jsonl", "--output", out, "--shard-rows", rows, "--id-column", "id",
            "--engine", "ray", "--workers", "2", "--ray-address", ray_address]
    assert kill_then_resume(args, out, n, rows, sig) != 0


@pytest.mark.slow
def test_5000_rows_through_ray_are_those_of_the_local_engine(cli, ray_address, tiny_root, tmp_path):
    model = build_checkpoint(tiny_root, "bert", "sequence-classification")
    src = write_jsonl(tmp_path / "in.jsonl", sentences(5000, seed=5))
    assert len(_same_records(cli, tmp_path, "classify", model, src, [], 500)) == 5000
