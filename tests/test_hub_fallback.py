"""A Hub that does not answer: cached files stand in, with one warning line; --offline never asks."""

from __future__ import annotations

import pytest

from tests.conftest import assert_one_line_error
from tests.fx_hub import closed_port_url, point_hub_at, silent_url
from tests.fx_models import build_checkpoint

RUNS = (["inspect", "org/cls", "--json"], ["tokenize", "org/cls", "hello world", "--ids"],
        ["classify", "org/cls", "hello world", "--format", "jsonl"])


@pytest.fixture
def cached(cli, hub, tiny_root):
    """org/cls on the stand-in, run once online by every command (the cache holds what each reads)."""
    commits = hub.add_repo("org/cls", build_checkpoint(tiny_root, "bert", "sequence-classification"))
    outputs = {}
    for args in RUNS:
        res = cli(args)
        assert res.exit_code == 0 and res.stderr == "", res.stderr
        outputs[args[0]] = res.stdout
    hub.stop()  # from here on, nothing answers at the stand-in's address either
    return commits["main"], outputs


def _warning(stderr: str, url: str, commit: str) -> None:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith(f"warning: cannot reach {url}") and f"cached copy of org/cls (commit {commit[:12]})" in lines[0]


def test_refused_connection_falls_back_to_the_cache(cli, cached, monkeypatch):
    commit, outputs = cached
    url = closed_port_url()
    point_hub_at(monkeypatch, url)
    for args in RUNS:
        res = cli(args)
        assert res.exit_code == 0, res.stderr
        assert res.stdout == outputs[args[0]]
        _warning(res.stderr, url, commit)


def test_offline_neither_asks_nor_warns(cli, cached, monkeypatch):
    _, outputs = cached
    point_hub_at(monkeypatch, closed_port_url())
    for args in RUNS:
        res = cli([*args, "--offline"])
        assert res.exit_code == 0 and res.stderr == "" and res.stdout == outputs[args[0]], res.stderr


def test_timeout_falls_back_to_the_cache(cli, cached, monkeypatch):
    commit, outputs = cached
    monkeypatch.setenv("HF_HUB_ETAG_TIMEOUT", "0.5")
    with silent_url() as url:
        point_hub_at(monkeypatch, url)
        res = cli(RUNS[1])
    assert res.exit_code == 0 and res.stdout == outputs["tokenize"]
    _warning(res.stderr, url, commit)
    assert "Timeout" in res.stderr


def test_a_file_the_cache_lacks_is_still_not_reachable(cli, hub, tiny_root, monkeypatch):
    hub.add_repo("org/cls", build_checkpoint(tiny_root, "bert", "sequence-classification"))
    assert cli(["tokenize", "org/cls", "hi"]).exit_code == 0  # tokenizer files only, no weights
    hub.stop()
    url = closed_port_url()
    point_hub_at(monkeypatch, url)
    res = cli(["classify", "org/cls", "hi"])
    assert res.exit_code == 3 and "Traceback" not in res.stderr
    warning, error, hint = res.stderr.splitlines()
    assert warning.startswith(f"warning: cannot reach {url}")
    assert error.startswith(f"error: cannot reach {url}") and hint.startswith("hint: ")


def test_nothing_cached_is_exit_3(cli, monkeypatch):
    url = closed_port_url()
    point_hub_at(monkeypatch, url)
    res = cli(["tokenize", "org/never-seen", "hi"])
    assert_one_line_error(res, 3)
    assert f"cannot reach {url}" in res.stderr


def test_hub_server_error_falls_back_too(cli, cached, monkeypatch):
    """huggingface_hub also falls back when the Hub answers 5xx (it is down); a 4xx answer is the request's fault."""
    from tests.fx_hub import HubStandIn

    commit, outputs = cached
    broken = HubStandIn().start()  # knows no repo: a 404, not a fallback
    try:
        point_hub_at(monkeypatch, broken.url)
        assert_one_line_error(cli(RUNS[1]), 3)
        broken.down = 503
        res = cli(RUNS[1])
    finally:
        broken.stop()
    assert res.exit_code == 0 and res.stdout == outputs["tokenize"]
    assert res.stderr.startswith("warning: ") and "HTTP 503" in res.stderr and "cached copy of org/cls" in res.stderr


def test_console_script_falls_back(script, cached):
    commit, outputs = cached
    url = closed_port_url()
    for args in RUNS[:2]:
        res = script(args, env={"HF_ENDPOINT": url})
        assert res.exit_code == 0, res.stderr
        assert res.stdout == outputs[args[0]]
        _warning(res.stderr, url, commit)
    res = script(RUNS[1] + ["--offline"], env={"HF_ENDPOINT": url})
    assert res.exit_code == 0 and res.stderr == ""
