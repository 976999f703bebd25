"""Checkpoint resolution: local folders, Hub ids through the stand-in, revisions, offline, errors."""

from __future__ import annotations

import json
import os

import pytest

from autocli.checkpoint import Checkpoint, plain_name, valid_repo_id
from autocli.errors import InvalidCheckpoint, NotReachable, UsageError
from tests.conftest import assert_one_line_error
from tests.fx_hub import closed_port_url, point_hub_at, tiny_bert, write_safetensors


@pytest.fixture
def tiny(tmp_path):
    return tiny_bert(tmp_path / "tiny")


@pytest.fixture
def repo(hub, tmp_path):
    """org/tiny on the stand-in: main (hidden 32, one file) and branch v2 (hidden 16, sharded)."""
    main = tiny_bert(tmp_path / "main", hidden=32, layers=2)
    v2 = tiny_bert(tmp_path / "v2", hidden=16, layers=3, sharded=True)
    return hub.add_repo("org/tiny", main, revisions={"v2": v2})


# ---- local folders ----------------------------------------------------------------------------------


def test_local_folder(tiny):
    c = Checkpoint.resolve(str(tiny))
    assert c.is_local and c.local_dir == tiny and c.repo_id is None and c.commit is None
    assert c.files() == ["config.json", "model.safetensors"]
    assert c.has("config.json") and not c.has("tokenizer.json") and not c.has("../tiny/config.json")
    assert c.config().model_type == "bert"
    assert c.weight_files() == ["model.safetensors"] and c.weight_index() is None
    assert c.weight_paths() == [tiny / "model.safetensors"]
    assert c.optional_path("vocab.txt") is None and c.json("nope.json") is None


def test_relative_and_home_paths(tiny, monkeypatch):
    monkeypatch.chdir(tiny.parent)
    assert Checkpoint.resolve("./tiny").local_dir.resolve() == tiny
    assert Checkpoint.resolve("tiny").is_local  # an existing folder wins over a Hub id of the same name
    monkeypatch.setenv("HOME", str(tiny.parent))
    assert Checkpoint.resolve("~/tiny").local_dir == tiny


def test_missing_path_is_exit_3(cli, tmp_path):
    for spec in (tmp_path / "nope", "./nope", "~/nope/x", "a/b/c"):
        res = cli(["inspect", spec])
        assert_one_line_error(res, 3)
        assert "no such folder" in res.stderr


def test_a_file_is_not_a_checkpoint(cli, tiny):
    res = cli(["inspect", tiny / "config.json"])
    assert_one_line_error(res, 2)
    assert "is a file" in res.stderr and "hint: pass the folder" in res.stderr


def test_revision_with_a_local_folder_is_a_usage_error(tiny):
    with pytest.raises(UsageError, match="--revision"):
        Checkpoint.resolve(str(tiny), revision="main")


def test_missing_config_is_exit_4(cli, tmp_path):
    write_safetensors(tmp_path / "model.safetensors", {"w": __import__("numpy").zeros(2, "float32")})
    res = cli(["inspect", tmp_path])
    assert_one_line_error(res, 4)
    assert "no config.json" in res.stderr


def test_names_and_repo_ids():
    assert plain_name("a.safetensors") and plain_name("sub/a.json")
    for bad in ("../x.safetensors", "/etc/passwd", "a/../../b", "", "a//b", "./a", "C:/x", "a\\b", "a\x00b"):
        assert not plain_name(bad), bad
    assert valid_repo_id("org/name") and valid_repo_id("bert-base-uncased") and valid_repo_id("a.b_c/d-e.f")
    for bad in ("org/name/x", "-org/x", "org/x.", "a--b/c", "a..b", "org/", "a b"):
        assert not valid_repo_id(bad), bad


# ---- weights and indexes ----------------------------------------------------------------------------


def _set_index(folder, weight_map):
    (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))


def test_sharded_local(tmp_path):
    single = Checkpoint.resolve(str(tiny_bert(tmp_path / "one")))
    sharded = Checkpoint.resolve(str(tiny_bert(tmp_path / "two", sharded=True)))
    assert sharded.weight_files() == ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    assert len(sharded.weight_paths()) == 2
    names = lambda c: {n: (t.dtype, t.shape) for h in c.headers().values() for n, t in h.tensors.items()}  # noqa: E731
    assert names(sharded) == names(single)


@pytest.mark.parametrize("shard", ["../x.safetensors", "/tmp/x.safetensors", "sub/../../x.safetensors"])
def test_index_naming_a_file_outside_is_exit_4(cli, tmp_path, shard):
    folder = tiny_bert(tmp_path / "ck", sharded=True)
    wm = json.loads((folder / "model.safetensors.index.json").read_text())["weight_map"]
    wm[next(iter(wm))] = shard
    _set_index(folder, wm)
    (tmp_path / "x.safetensors").write_bytes((folder / "model-00001-of-00002.safetensors").read_bytes())
    res = cli(["inspect", folder])
    assert_one_line_error(res, 4)
    assert "not a file inside the checkpoint" in res.stderr
    with pytest.raises(InvalidCheckpoint):
        Checkpoint.resolve(str(folder)).weight_paths()


def test_symlink_out_of_the_folder_is_refused(tmp_path):
    outside = tiny_bert(tmp_path / "outside")
    folder = tmp_path / "ck"
    folder.mkdir()
    (folder / "config.json").write_text((outside / "config.json").read_text())
    os.symlink(outside / "model.safetensors", folder / "model.safetensors")
    with pytest.raises(InvalidCheckpoint, match="leads out of the checkpoint folder"):
        Checkpoint.resolve(str(folder)).weight_paths()
    # a link inside the folder is fine
    os.remove(folder / "model.safetensors")
    (folder / "blobs").mkdir()
    os.replace(outside / "model.safetensors", folder / "blobs" / "abc")
    os.symlink("blobs/abc", folder / "model.safetensors")
    assert Checkpoint.resolve(str(folder)).weight_paths() == [folder / "model.safetensors"]


def test_missing_shard_and_misplaced_tensor_are_exit_4(cli, tmp_path):
    folder = tiny_bert(tmp_path / "ck", sharded=True)
    os.remove(folder / "model-00002-of-00002.safetensors")
    res = cli(["inspect", folder])
    assert_one_line_error(res, 4)
    assert "model-00002-of-00002.safetensors, which is missing" in res.stderr

    folder = tiny_bert(tmp_path / "ck2", sharded=True)
    wm = json.loads((folder / "model.safetensors.index.json").read_text())["weight_map"]
    first = next(iter(wm))
    wm[first] = "model-00002-of-00002.safetensors"
    _set_index(folder, wm)
    res = cli(["inspect", folder])
    assert_one_line_error(res, 4)
    assert f"puts '{first}' in model-00002-of-00002.safetensors" in res.stderr


def test_index_without_weight_map_is_exit_4(tmp_path):
    folder = tiny_bert(tmp_path / "ck", sharded=True)
    (folder / "model.safetensors.index.json").write_text('{"metadata": {}}')
    with pytest.raises(InvalidCheckpoint, match="no weight_map"):
        Checkpoint.resolve(str(folder)).weight_files()


def test_pickle_only(cli, tmp_path):
    folder = tmp_path / "ck"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "bert"}))
    (folder / "pytorch_model.bin").write_bytes(b"PK\x03\x04 not really")
    (folder / "training_args.bin").write_bytes(b"x")
    c = Checkpoint.resolve(str(folder))
    assert c.weight_files() == [] and c.pickle_files() == ["pytorch_model.bin"]
    with pytest.raises(InvalidCheckpoint, match="only pickle weights") as e:
        c.weight_paths()
    assert "--allow-pickle" in e.value.hint and e.value.exit_code == 4


def test_no_weights_at_all(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(InvalidCheckpoint, match="has no weights"):
        Checkpoint.resolve(str(tmp_path)).weight_paths()


# ---- the Hub, through the stand-in ---------------------------------------------------------------------


def test_hub_repo(hub, repo):
    c = Checkpoint.resolve("org/tiny")
    assert not c.is_local and c.repo_id == "org/tiny" and c.revision is None and c.commit == repo["main"]
    assert c.files() == ["config.json", "model.safetensors"]
    assert c.config().get("hidden_size") == 32
    assert c.headers()["model.safetensors"].tensors["embeddings.word_embeddings.weight"].shape == (64, 32)
    assert hub.bytes_served("org/tiny", "model.safetensors") < 5000  # headers only
    (path,) = c.weight_paths()
    assert path.is_file() and str(path).startswith(str(hub.cache_dir)) and repo["main"] in str(path)


@pytest.mark.parametrize("spec, revision", [("org/tiny@v2", None), ("org/tiny", "v2"), ("org/tiny@v2", "v2")])
def test_hub_revision(hub, repo, spec, revision):
    c = Checkpoint.resolve(spec, revision=revision)
    assert c.commit == repo["v2"] and c.revision == "v2" and c.name == "org/tiny@v2"
    assert c.config().get("hidden_size") == 16
    assert c.weight_files() == ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]


def test_hub_commit_sha(hub, repo):
    c = Checkpoint.resolve(f"org/tiny@{repo['v2']}")
    assert c.commit == repo["v2"] and c.config().get("hidden_size") == 16


def test_two_different_revisions_is_a_usage_error(cli, hub, repo):
    res = cli(["inspect", "org/tiny@v2", "--revision", "main"])
    assert_one_line_error(res, 2)
    assert "differs from --revision" in res.stderr


def test_offline_after_one_online_run(cli, hub, repo):
    assert cli(["inspect", "org/tiny@v2"]).exit_code == 0
    assert cli(["inspect", "org/tiny"]).exit_code == 0
    hub.stop()  # nothing may reach the network from here on
    for args, hidden in ((["org/tiny@v2", "--offline"], 16), (["org/tiny", "--offline"], 32), ([f"org/tiny@{repo['v2']}", "--offline"], 16)):
        res = cli(["inspect", *args, "--json"])
        assert res.exit_code == 0, res.stderr
        data = res.json()
        assert data["dimensions"]["hidden_size"] == hidden and data["parameters"]["total"] > 0
    res = cli(["inspect", "org/tiny@v2", "--json"], env={"HF_HUB_OFFLINE": "1"})
    assert res.exit_code == 0 and res.json()["commit"] == repo["v2"]


def test_offline_cache_miss_is_exit_3(cli, hub, repo):
    res = cli(["inspect", "org/tiny", "--offline"])
    assert_one_line_error(res, 3)
    assert "not in the cache" in res.stderr and "drop --offline" in res.stderr
    res = cli(["inspect", "org/tiny"], env={"HF_HUB_OFFLINE": "1"})
    assert_one_line_error(res, 3)
    assert hub.requests == []


def test_offline_weights_not_downloaded_is_exit_3(hub, repo):
    Checkpoint.resolve("org/tiny").headers()
    c = Checkpoint.resolve("org/tiny", offline=True)
    assert c.headers()  # the headers were kept from the online run
    with pytest.raises(NotReachable, match="not in the cache"):
        c.weight_paths()


def test_cache_dir_option(cli, hub, repo, tmp_path):
    other = tmp_path / "elsewhere"
    assert cli(["inspect", "org/tiny", "--cache-dir", other]).exit_code == 0
    assert (other / "models--org--tiny" / "snapshots" / repo["main"] / "config.json").is_file()
    assert not (hub.cache_dir / "models--org--tiny").exists()


def test_unknown_repo_revision_and_file(cli, hub, repo):
    res = cli(["inspect", "org/nothing"])
    assert_one_line_error(res, 3)
    assert "org/nothing not found" in res.stderr and "check the repo id" in res.stderr
    res = cli(["inspect", "org/tiny@nope"])
    assert_one_line_error(res, 3)
    assert "revision 'nope' not found" in res.stderr
    c = Checkpoint.resolve("org/tiny")
    with pytest.raises(InvalidCheckpoint, match="missing"):
        c.path("tokenizer.json")


def test_private_repo_needs_a_token(cli, hub, tmp_path):
    hub.add_repo("org/private", tiny_bert(tmp_path / "p"), token="s3cret")
    res = cli(["inspect", "org/private"])
    assert_one_line_error(res, 3)
    assert "401" in res.stderr and "--token" in res.stderr and "HF_TOKEN" in res.stderr
    res = cli(["inspect", "org/private", "--token", "wrong"])
    assert_one_line_error(res, 3)
    assert cli(["inspect", "org/private", "--token", "s3cret"]).exit_code == 0
    assert cli(["inspect", "org/private", "--json"], env={"HF_TOKEN": "s3cret"}).json()["parameters"]["total"] > 0


def test_connection_refused_is_exit_3(cli, monkeypatch):
    url = closed_port_url()
    point_hub_at(monkeypatch, url)
    res = cli(["inspect", "org/tiny"])
    assert_one_line_error(res, 3)
    assert f"cannot reach {url}" in res.stderr and "--offline" in res.stderr


def test_hub_sharded_weight_paths(hub, repo):
    c = Checkpoint.resolve("org/tiny@v2")
    paths = c.weight_paths()
    assert [p.name for p in paths] == c.weight_files() and all(p.is_file() for p in paths)


def test_hub_corrupt_weights_are_refused_before_download(hub, tmp_path):
    folder = tiny_bert(tmp_path / "bad", hidden=64, layers=2)
    blob = bytearray((folder / "model.safetensors").read_bytes())
    (folder / "model.safetensors").write_bytes(bytes(blob[: len(blob) // 2]))  # truncated upload
    hub.add_repo("org/bad", folder)
    with pytest.raises(InvalidCheckpoint, match="truncated"):
        Checkpoint.resolve("org/bad").weight_paths()
    assert hub.bytes_served("org/bad", "model.safetensors") < len(blob) // 20


def test_hub_index_with_an_escaping_shard(cli, hub, tmp_path):
    folder = tiny_bert(tmp_path / "esc", sharded=True)
    wm = json.loads((folder / "model.safetensors.index.json").read_text())["weight_map"]
    wm[next(iter(wm))] = "../x.safetensors"
    _set_index(folder, wm)
    hub.add_repo("org/esc", folder)
    res = cli(["inspect", "org/esc"])
    assert_one_line_error(res, 4)
    assert "../x.safetensors" in res.stderr


def test_stand_in_serves_huggingface_hub_directly(hub, repo):
    """Code that calls huggingface_hub without an explicit endpoint reaches the stand-in too."""
    from huggingface_hub import HfApi, hf_hub_download

    assert sorted(HfApi().list_repo_files("org/tiny", revision="v2")) == [
        "config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "model.safetensors.index.json"]
    path = hf_hub_download("org/tiny", "config.json", revision="v2", cache_dir=hub.cache_dir)
    assert json.loads(open(path).read())["hidden_size"] == 16 and repo["v2"] in path
    assert hub.bytes_served("org/tiny", "config.json") == os.path.getsize(path)


# ---- the Hub error table ------------------------------------------------------------------------------


def _hub_error(name: str, status: int | None = None, cause: BaseException | None = None):
    import httpx2
    from huggingface_hub import errors as he

    cls = getattr(he, name)
    if status is None:
        e = cls("first line\nsecond line")
    else:
        e = cls("first line\nsecond line", response=httpx2.Response(status, request=httpx2.Request("GET", "http://hub/x")))
    e.__cause__ = cause
    return e


def _connect_error():
    import httpx2

    return httpx2.ConnectError("All connection attempts failed")


@pytest.mark.parametrize("exc, code, words, fallback", [
    (lambda: _hub_error("HFValidationError"), 2, "org/tiny@v9: first line", False),
    (lambda: _hub_error("OfflineModeIsEnabled"), 3, "and the Hub was not asked", False),
    (lambda: _hub_error("LocalEntryNotFoundError"), 3, "and the Hub was not asked", False),
    (lambda: _hub_error("LocalEntryNotFoundError", cause=_connect_error()), 3, "cannot reach http://hub: ConnectError", True),
    (lambda: _hub_error("GatedRepoError", 401), 3, "org/tiny is a gated repo", False),
    (lambda: _hub_error("RevisionNotFoundError", 404), 3, "revision 'v9' not found in org/tiny", False),
    (lambda: _hub_error("RemoteEntryNotFoundError", 404), 3, "config.json not found in org/tiny@v9", False),
    (lambda: _hub_error("RepositoryNotFoundError", 401), 3, "the Hub asks for authentication (HTTP 401)", False),
    (lambda: _hub_error("HfHubHTTPError", 403), 3, "access denied (HTTP 403)", False),
    (lambda: _hub_error("RepositoryNotFoundError", 404), 3, "repo org/tiny not found on http://hub", False),
    (lambda: _hub_error("HfHubHTTPError", 404), 3, "repo org/tiny not found on http://hub", False),
    (lambda: _hub_error("HfHubHTTPError", 503), 3, "config.json: the Hub answered HTTP 503", True),
    (lambda: _hub_error("HfHubHTTPError", 429), 3, "config.json: the Hub answered HTTP 429", False),
    (_connect_error, 3, "cannot reach http://hub: ConnectError: All connection attempts failed", True),
    (lambda: TimeoutError(), 3, "cannot reach http://hub: TimeoutError: no answer", True),
])
def test_hub_error_table(exc, code, words, fallback, tmp_path):
    from types import SimpleNamespace

    from autocli.checkpoint.hub_errors import HubUnreachable, translate

    source = SimpleNamespace(name="org/tiny@v9", repo_id="org/tiny", revision="v9", endpoint="http://hub", cache_dir=tmp_path)
    err = translate(exc(), source, "config.json")
    assert err.exit_code == code and err.hint and words in err.message and "\n" not in err.message
    assert isinstance(err, HubUnreachable) == fallback


def test_unknown_exceptions_are_not_translated():
    from types import SimpleNamespace

    from autocli.checkpoint.hub_errors import translate

    assert translate(KeyError("x"), SimpleNamespace(), "x") is None
    assert translate(InvalidCheckpoint("bad"), SimpleNamespace(), "x") is None
