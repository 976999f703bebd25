"""tasks/batching.py: length-sorted batches, order restored, windows, warnings."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from autocli.errors import UsageError
from autocli.tasks import batching
from autocli.tasks.batching import Row, forward, owned_parts, plan, windows


class Recorder:
    """A fake model: each row's output is (sum of its real ids, its length); records batch shapes."""

    uses_token_type_ids = True
    device = torch.device("cpu")

    def __init__(self):
        self.shapes = []

    def __call__(self, ids, mask, types):
        self.shapes.append(tuple(ids.shape))
        assert types is not None and types.shape == ids.shape
        return torch.stack([(ids * mask).sum(-1), mask.sum(-1)], -1).float()  # (B, 2)


@given(st.lists(st.integers(1, 50), min_size=1, max_size=60), st.integers(1, 9))
def test_plan_covers_every_row_once_longest_first(lengths, size):
    batches = plan(lengths, size)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(len(lengths)))
    assert all(1 <= len(b) <= size for b in batches)
    assert [lengths[i] for i in flat] == sorted(lengths, reverse=True)


@given(st.lists(st.integers(1, 500), min_size=1, max_size=60), st.integers(1, 40), st.integers(1, 2000))
def test_plan_keeps_batches_within_the_token_budget(lengths, size, budget):
    batches = plan(lengths, size, budget)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for b in batches:
        width = max(lengths[i] for i in b)
        assert 1 <= len(b) <= size and (len(b) == 1 or len(b) * width <= budget)


def test_plan_refuses_a_zero_batch():
    with pytest.raises(UsageError):
        plan([1, 2], 0)


def test_forward_restores_input_order_and_pads_to_each_batch_max():
    lengths = [3, 9, 1, 7, 7, 2, 5]
    rows = [Row(list(range(10, 10 + n)), [0] * n) for n in lengths]
    model = Recorder()
    outs = forward(model, rows, batch_size=3, pad_id=0)
    assert [int(o[1]) for o in outs] == lengths
    assert [int(o[0]) for o in outs] == [sum(range(10, 10 + n)) for n in lengths]
    assert model.shapes == [(3, 9), (3, 5), (1, 1)]  # sorted: 9 7 7 | 5 3 2 | 1


def test_forward_per_token_cuts_each_row_to_its_length():
    class Tokens(Recorder):
        def __call__(self, ids, mask, types):
            return ids.float()[..., None].expand(*ids.shape, 2)  # (B, T, 2)

    rows = [Row([5, 6, 7]), Row([8])]
    outs = forward(Tokens(), rows, batch_size=2, pad_id=0, per_token=True)
    assert [tuple(o.shape) for o in outs] == [(3, 2), (1, 2)]
    assert outs[1][0, 0] == 8


def test_pad_uses_pad_id_and_mask():
    ids, mask, types = batching.pad([Row([4, 5, 6], [0, 0, 1]), Row([7], [0])], pad_id=1, with_types=True)
    assert ids.tolist() == [[4, 5, 6], [7, 1, 1]]
    assert mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    assert types.tolist() == [[0, 0, 1], [0, 0, 0]]


@given(st.integers(1, 300), st.integers(2, 40), st.integers(0, 39))
def test_windows_cover_everything_with_the_overlap(n, size, overlap):
    if overlap >= size:
        if n > size:
            with pytest.raises(UsageError):
                windows(n, size, overlap)
        return
    spans = windows(n, size, overlap)
    assert spans[0][0] == 0 and spans[-1][1] == n
    assert all(0 < b - a <= size for a, b in spans)
    for (a0, b0), (a1, b1) in zip(spans, spans[1:]):
        assert a1 == a0 + size - overlap and b0 - a1 == overlap
    parts = owned_parts(spans, n)
    assert parts[0][0] == 0 and parts[-1][1] == n
    for (lo, hi), (a, b) in zip(parts, spans):
        assert a <= lo <= hi <= b  # each token is taken from a window that holds it
    assert all(parts[k][1] == parts[k + 1][0] for k in range(len(parts) - 1))


def test_truncation_warning_names_the_inputs(capsys):
    batching.warn_truncated([3, 8], 16)
    err = capsys.readouterr().err
    assert err.startswith("warning: 2 inputs truncated to 16 tokens (index 3, 8)")
    batching.warn_truncated([3], 16, quiet=True)
    assert capsys.readouterr().err == ""


def test_no_progress_bar_off_a_terminal():
    bar = batching.Progress("x")
    bar.grow(100, 10)
    bar.advance(100)
    assert not bar.enabled and bar._rich is None
