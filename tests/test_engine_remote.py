"""--input and --output on S3, against an S3 stand-in on 127.0.0.1 (moto's server, one per session): JSONL, CSV and
Parquet objects under a prefix or a glob give the records of the same files read locally; a killed job (local
engine and Ray) then --resume gives every row once; parts without a matching manifest are written again; an
unreachable endpoint, a missing bucket or object and missing credentials are one-line errors."""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import assert_one_line_error
from tests.fx_engine import comparable, kill_then_resume, manifests, ray_address, read_output, sentences, write_jsonl  # noqa: F401
from tests.fx_models import build_checkpoint
from tests.fx_vision import vision_checkpoints, vision_images  # noqa: F401

moto_server = pytest.importorskip("moto.server")
boto3 = pytest.importorskip("boto3")
pq = pytest.importorskip("pyarrow.parquet")

# the stand-in takes any key; the files and instance metadata of this machine's AWS setup are kept out
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
               "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"}


@pytest.fixture(scope="session")
def s3_endpoint():
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@dataclass
class Bucket:
    client: object
    name: str

    def uri(self, key: str = "") -> str:
        return f"s3://{self.name}/{key}"

    def put(self, key: str, source: Path) -> None:
        self.client.put_object(Bucket=self.name, Key=key, Body=Path(source).read_bytes())

    def keys(self, prefix: str) -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.name, Prefix=prefix)
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))

    def mirror(self, prefix: str, dest: Path) -> Path:
        """A local copy of every object under `prefix` (what the folder checks of tests/fx_engine.py read)."""
        import shutil

        shutil.rmtree(dest, ignore_errors=True)
        for key in self.keys(prefix):
            if key.endswith("/"):  # a folder marker pyarrow leaves when it deletes a folder's last object
                continue
            path = dest / key[len(prefix):]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(self.client.get_object(Bucket=self.name, Key=key)["Body"].read())
        return dest


@pytest.fixture
def bucket(s3_endpoint, monkeypatch, request) -> Bucket:
    """A fresh bucket of the stand-in, and its endpoint and credentials in the environment (AWS_ENDPOINT_URL)."""
    for key, value in {**CREDENTIALS, "AWS_ENDPOINT_URL": s3_endpoint}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", aws_access_key_id="testing",
                          aws_secret_access_key="testing")
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:50] + "-bkt"
    client.create_bucket(Bucket=name)
    return Bucket(client, name)


@pytest.fixture(scope="module")
def classifier(tiny_root):
    return build_checkpoint(tiny_root, "bert", "sequence-classification")


def _three_files(folder: Path, texts: list[str]) -> Path:
    """The texts in a JSONL, a CSV and a Parquet file (a third each, in that order), with ids r<N>."""
    import csv

    import pyarrow as pa

    folder.mkdir(parents=True, exist_ok=True)
    third = len(texts) // 3
    write_jsonl(folder / "a.jsonl", texts[:third])
    with open(folder / "b.csv", "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text"])
        writer.writerows([f"r{third + i}", t] for i, t in enumerate(texts[third:2 * third]))
    rest = texts[2 * third:]
    pq.write_table(pa.table({"text": rest, "id": [f"r{2 * third + i}" for i in range(len(rest))]}), folder / "c.parquet", row_group_size=4)
    return folder


def _upload(bucket: Bucket, folder: Path, prefix: str) -> None:
    for path in sorted(folder.iterdir()):
        bucket.put(prefix + path.name, path)


JOB = ["--jsonl", "--text-column", "text", "--id-column", "id", "--shard-rows", "4"]


def test_objects_under_a_prefix_give_the_records_of_the_local_files(script, classifier, bucket, tmp_path):
    data = _three_files(tmp_path / "data", sentences(30))
    _upload(bucket, data, "data/")
    bucket.put("data/_SUCCESS", data / "a.jsonl")  # a marker file, as Spark writes: left out like locally
    local = script(["classify", classifier, "--input", data, *JOB, "--output", tmp_path / "local", "--top-k", "2"])
    assert local.exit_code == 0, local.stderr
    remote = script(["classify", classifier, "--input", bucket.uri("data/"), *JOB, "--output", bucket.uri("out/"), "--top-k", "2"])
    assert remote.exit_code == 0, remote.stderr
    assert f"→ {bucket.uri('out/')}" in remote.stderr.replace("\n", "")
    out = bucket.mirror("out/", tmp_path / "mirror")
    want, got = read_output(tmp_path / "local"), read_output(out)
    assert len(got) == 30 and comparable(got) == comparable(want)
    assert [r["index"] for r in got] == list(range(30))
    files = [m["shard"]["file"] for m in manifests(out).values()]
    assert files[0] == bucket.uri("data/a.jsonl") and files[-1] == bucket.uri("data/c.parquet")
    assert all(m["part_bytes"] == (out / f"{name}.parquet").stat().st_size for name, m in manifests(out).items())


def test_a_glob_picks_the_objects_it_matches(cli, classifier, bucket, tmp_path):
    data = _three_files(tmp_path / "data", sentences(30, seed=1))
    _upload(bucket, data, "data/")
    bucket.put("data/deeper/c.parquet", data / "c.parquet")  # '*' stays within one level
    res = cli(["classify", classifier, "--input", bucket.uri("data/*.parquet"), *JOB, "--output", bucket.uri("out"), "--format", "jsonl"])
    assert res.exit_code == 0, res.stderr
    got = read_output(bucket.mirror("out/", tmp_path / "mirror"))
    assert [r["id"] for r in got] == [f"r{i}" for i in range(20, 30)]
    assert bucket.keys("out/")[0] == "out/_manifests/part-00000.json"


def test_resume_in_a_bucket_writes_again_what_no_manifest_vouches_for(cli, classifier, bucket, tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", sentences(30, seed=2))
    bucket.put("in.jsonl", src)
    job = ["classify", classifier, "--input", bucket.uri("in.jsonl"), "--jsonl", "--output", bucket.uri("out/"), "--shard-rows", "10"]
    assert cli(job).exit_code == 0
    before = read_output(bucket.mirror("out/", tmp_path / "before"))
    refused = cli(job)  # neither --resume nor --overwrite
    assert_one_line_error(refused, 2)
    assert "already holds the output" in refused.stderr
    bucket.client.delete_object(Bucket=bucket.name, Key="out/_manifests/part-00001.json")  # killed between part and manifest
    bucket.client.put_object(Bucket=bucket.name, Key="out/part-00002.parquet", Body=b"PAR1 cut short")  # not what its manifest says
    res = cli([*job, "--resume"])
    assert res.exit_code == 0, res.stderr
    assert "2 written, 1 already done" in res.stderr
    assert read_output(bucket.mirror("out/", tmp_path / "after")) == before
    other = cli([*job, "--resume", "--top-k", "2"])
    assert_one_line_error(other, 2)
    assert "other options: top_k" in other.stderr


def _kill_over_s3(bucket: Bucket, tmp_path: Path, args: list, n: int, rows: int, sig: str) -> int:
    mirrors = iter(range(1000))
    return kill_then_resume(args, Path(bucket.uri("out")), n, rows, sig,
                            view=lambda: bucket.mirror("out/", tmp_path / f"mirror{next(mirrors)}"),
                            committed=lambda: bool(bucket.keys("out/_manifests/")))


def test_a_killed_job_then_resume_gives_every_row_once_in_a_bucket(classifier, bucket, tmp_path):
    n, rows = 300, 10
    bucket.put("in.jsonl", write_jsonl(tmp_path / "in.jsonl", sentences(n, seed=3)))
    args = ["classify", classifier, "--input", bucket.uri("in.jsonl"), "--jsonl", "--output", bucket.uri("out/"),
            "--shard-rows", rows, "--id-column", "id", "--threads-per-worker", "1"]
    assert _kill_over_s3(bucket, tmp_path, args, n, rows, "SIGKILL") == -9


def test_ray_workers_read_and_write_the_bucket(cli, ray_address, classifier, bucket, tmp_path):
    data = _three_files(tmp_path / "data", sentences(60, seed=4))
    _upload(bucket, data, "data/")
    base = ["classify", classifier, "--input", bucket.uri("data/"), *JOB]
    local = cli([*base, "--output", tmp_path / "local"])
    on_ray = cli([*base, "--output", bucket.uri("ray/"), "--engine", "ray", "--workers", "2"])
    assert local.exit_code == on_ray.exit_code == 0, on_ray.stderr
    got = read_output(bucket.mirror("ray/", tmp_path / "mirror"))
    assert len(got) == 60 and comparable(got) == comparable(read_output(tmp_path / "local"))


def test_a_killed_ray_driver_then_resume_gives_every_row_once_in_a_bucket(ray_address, classifier, bucket, tmp_path):
    n, rows = 300, 10
    bucket.put("in.jsonl", write_jsonl(tmp_path / "in.jsonl", sentences(n, seed=5)))
    args = ["classify", classifier, "--input", bucket.uri("in.jsonl"), "--jsonl", "--output", bucket.uri("out/"),
            "--shard-rows", rows, "--id-column", "id", "--engine", "ray", "--workers", "2", "--ray-address", ray_address]
    assert _kill_over_s3(bucket, tmp_path, args, n, rows, "SIGINT") != 0


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_endpoint_is_exit_3(script, classifier, bucket, tmp_path):
    res = script(["classify", classifier, "--input", bucket.uri("in.jsonl"), "--jsonl", "--output", tmp_path / "out"],
                 env={"AWS_ENDPOINT_URL": f"http://127.0.0.1:{_closed_port()}"}, timeout=180)
    assert_one_line_error(res, 3)
    assert "cannot reach s3://" in res.stderr and "AWS_ENDPOINT_URL" in res.stderr


@pytest.mark.parametrize("where, says, code", [
    ("input-bucket", "the bucket does not exist", 2),
    ("output-bucket", "the bucket does not exist", 2),
    ("input-key", "matches no object", 2),
    ("no-credentials", "access denied", 3),
    ("scheme", "the hdfs:// store is not supported", 5),
])
def test_store_errors_are_one_line(cli, classifier, bucket, tmp_path, monkeypatch, where, says, code):
    src = write_jsonl(tmp_path / "in.jsonl", sentences(5))
    bucket.put("in.jsonl", src)
    inp, out = bucket.uri("in.jsonl"), str(tmp_path / "out")
    if where == "input-bucket":
        inp = "s3://no-such-bucket-here/in.jsonl"
    elif where == "output-bucket":
        inp, out = str(src), "s3://no-such-bucket-here/out/"
    elif where == "input-key":
        inp = bucket.uri("nothing/here.jsonl")
    elif where == "scheme":
        inp = "hdfs://namenode/data/in.jsonl"
    elif where == "no-credentials":  # the stand-in refuses unsigned reads (it lets unsigned writes through)
        monkeypatch.delenv("AWS_ACCESS_KEY_ID")
        monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    res = cli(["classify", classifier, "--input", inp, "--jsonl", "--output", out])
    assert_one_line_error(res, code)
    assert says in res.stderr
    assert not bucket.keys("out/")


def test_a_plain_run_reads_its_input_from_a_bucket(cli, classifier, bucket, tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", sentences(6, seed=6))
    bucket.put("in.jsonl", src)
    local = cli(["classify", classifier, "--input", src, "--jsonl", "--format", "jsonl"])
    remote = cli(["classify", classifier, "--input", bucket.uri("in.jsonl"), "--jsonl", "--format", "jsonl"])
    assert remote.exit_code == 0 and remote.jsonl() == local.jsonl()
    missing = cli(["classify", classifier, "--input", bucket.uri("gone.jsonl"), "--jsonl"])
    assert_one_line_error(missing, 2)
    assert "no such object" in missing.stderr


def test_image_files_a_listing_in_a_bucket_names_are_read_from_the_bucket(cli, vision_checkpoints, vision_images, bucket, tmp_path):
    import pyarrow as pa

    model = vision_checkpoints["vit-cls"]
    names = ["jpeg", "png_rgba", "gray"]
    for name in names:
        bucket.put(f"imgs/{name}{vision_images[name].suffix}", vision_images[name])
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    bucket.put("imgs/broken.png", tmp_path / "broken.png")
    rel = [f"imgs/{n}{vision_images[n].suffix}" for n in names] + ["imgs/broken.png", "imgs/gone.png"]
    pq.write_table(pa.table({"path": rel}), tmp_path / "photos.parquet")
    bucket.put("photos.parquet", tmp_path / "photos.parquet")
    res = cli(["classify", model, "--input", bucket.uri("photos.parquet"), "--image-column", "path",
               "--output", tmp_path / "out", "--format", "jsonl", "--top-k", "2"])
    assert res.exit_code == 7, res.stderr
    got = read_output(tmp_path / "out")
    plain = cli(["classify", model, *(vision_images[n] for n in names), "--format", "jsonl", "--top-k", "2"])
    assert [r["scores"] for r in got[:3]] == [r["scores"] for r in plain.jsonl()]
    errors = [r["error"] for r in got[3:]]
    assert errors[0]["message"].startswith(f"{bucket.uri('imgs/broken.png')}: ") and "/tmp" not in errors[0]["message"]
    assert "no such object" in errors[1]["message"] and errors[1]["exit_code"] == 2
    direct = cli(["classify", model, bucket.uri(rel[0]), "--format", "jsonl", "--top-k", "2"])
    single = cli(["classify", model, vision_images[names[0]], "--format", "jsonl", "--top-k", "2"])
    assert direct.exit_code == 0 and direct.jsonl() == single.jsonl()
