"""The scorer types: Needs, ModelOutputs, the kinds, average_repeats."""

from __future__ import annotations

import numpy as np
import pytest

from scorers import ModelOutputs, Needs, average_repeats


def test_needs_combine_and_name_themselves():
    needs = Needs.PROBS | Needs.EMBEDDING
    assert Needs.PROBS in needs and Needs.LOGITS not in needs
    assert needs.names() == ["probs", "embedding"]
    assert Needs.NONE.names() == []


def test_outputs_hold_only_what_was_computed():
    out = ModelOutputs([7, 8], [0, 1], probs=np.full((2, 3), 1 / 3))
    assert out.ids.dtype == np.int64 and out.labels.tolist() == [0, 1]
    assert out.provides() == Needs.PROBS
    assert len(out) == 2
    with pytest.raises(AttributeError, match=r"'embedding'.*Needs\.EMBEDDING"):
        _ = out.embedding


def test_outputs_reject_mismatched_rows():
    with pytest.raises(ValueError, match="shape"):
        ModelOutputs([1, 2], [0])
    with pytest.raises(ValueError, match="logits must have shape"):
        ModelOutputs([1, 2], [0, 1], logits=np.zeros((3, 4)))


def test_subset_and_concat_keep_rows_aligned():
    logits = np.arange(12.0).reshape(4, 3)
    out = ModelOutputs([10, 11, 12, 13], [0, 1, 2, 0], logits=logits)
    part = out.subset(np.array([3, 1]))
    assert part.ids.tolist() == [13, 11]
    assert part.labels.tolist() == [0, 1]
    np.testing.assert_array_equal(part.logits, logits[[3, 1]])
    whole = ModelOutputs.concat([out.subset(np.arange(2)), out.subset(np.arange(2, 4))])
    np.testing.assert_array_equal(whole.ids, out.ids)
    np.testing.assert_array_equal(whole.logits, logits)
    with pytest.raises(ValueError, match="different needs"):
        ModelOutputs.concat([out, ModelOutputs([1], [0])])
    with pytest.raises(ValueError, match="at least one"):
        ModelOutputs.concat([])


def test_average_repeats_is_the_per_sample_mean():
    # repeat 1 alone ranks sample 1 first (4 > 1 > 0); repeat 2 alone sample 0 (5 > 0.5 > 0);
    # the mean [3, 2, 0.25] ranks sample 0 first.
    mean = average_repeats([np.array([1.0, 4.0, 0.0]), np.array([5.0, 0.0, 0.5])])
    np.testing.assert_allclose(mean, [3.0, 2.0, 0.25])
    assert int(np.argmax(mean)) == 0
    np.testing.assert_allclose(average_repeats([np.array([2.0, 1.0])]), [2.0, 1.0])


def test_average_repeats_rejects_ragged_or_empty_input():
    with pytest.raises(ValueError, match="at least one"):
        average_repeats([])
    with pytest.raises(ValueError, match="same shape"):
        average_repeats([np.zeros(3), np.zeros(4)])
