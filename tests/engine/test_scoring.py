"""Sharded scoring: the Ray Data actor pool equals the in-process pass, exclusion holds, the
streaming selection equals ``engine.selection.select``, and a killed actor changes nothing."""

from __future__ import annotations

import os

import numpy as np
import pytest

from engine import scoring_actors
from engine.data import read_index
from engine.data.store import read_meta
from engine.model_outputs import compute_outputs
from engine.scoring import (
    PoolWorker,
    ScoringConfig,
    StreamingSelection,
    _model_payload,
    pool_outputs,
    score_and_select,
    score_pool,
)
from engine.scoring_actors import pieces
from engine.selection import select
from engine.training import TrainConfig, fit
from scorers import Needs, PointwiseScorer, get_scorer
from scorers.uncertainty import top2_margin

LOCAL = ScoringConfig(executor="local", batch_size=100)
RAY = ScoringConfig(executor="ray", batch_size=64)


@pytest.mark.parametrize("balanced", [False, True])
def test_streaming_selection_equals_select_on_the_full_pool(balanced, monkeypatch):
    monkeypatch.setattr("engine.scoring._PRUNE_SLACK_ROWS", 1000)  # prune often
    rng = np.random.default_rng(3)
    n, num_classes, k = 200_000, 5, 700
    ids = rng.permutation(n * 3)[:n].astype(np.int64)
    labels = rng.integers(0, num_classes, n)
    scores = np.round(rng.standard_normal(n), 2)  # many ties at the cut
    order = np.argsort(ids)
    expected = select(
        ids[order],
        scores[order],
        labels[order],
        k,
        balanced=balanced,
        num_classes=num_classes,
        rng=np.random.default_rng(7),
    )
    selection = StreamingSelection(
        k,
        np.bincount(labels, minlength=num_classes),
        balanced=balanced,
        rng=np.random.default_rng(7),
    )
    held = []
    for start in range(0, n, 4096):  # arbitrary batch order: ids shuffled
        part = slice(start, start + 4096)
        selection.add(
            {"id": ids[part], "label": labels[part], "snr": scores[part], "score": scores[part]}
        )
        held.append(selection.candidates)
    rows = selection.finish()
    np.testing.assert_array_equal(rows.ids, expected)
    np.testing.assert_array_equal(rows.scores, scores[order][np.searchsorted(ids[order], expected)])
    np.testing.assert_array_equal(rows.labels, labels[order][np.searchsorted(ids[order], expected)])
    assert max(held) <= (num_classes if balanced else 1) * (2 * k + 1000) + 4096  # bounded


def test_streaming_selection_rejects_k_larger_than_the_pool():
    with pytest.raises(ValueError, match="pool size"):
        StreamingSelection(11, np.array([5, 5]), balanced=False, rng=np.random.default_rng(0))


def test_worker_drops_unwanted_rows_and_scores_like_score_batch(pool):
    model = pool[2]
    rng = np.random.default_rng(0)
    iq = rng.standard_normal((6, 2, 128)).astype(np.float32)
    batch = {"id": np.arange(6), "label": np.arange(6) % 11, "snr": np.zeros(6), "iq": iq}
    worker = PoolWorker(_model_payload(model), np.array([1, 4]), scorer=get_scorer("duse"))
    rows = worker(batch)
    np.testing.assert_array_equal(rows["id"], [1, 4])
    outputs = compute_outputs(model.model(), iq[[1, 4]], np.array([1, 4]), Needs.PROBS)
    np.testing.assert_allclose(rows["score"], -top2_margin(outputs.probs))


def test_a_batch_without_wanted_rows_gives_zero_rows(pool):
    iq = np.random.default_rng(0).standard_normal((6, 2, 128)).astype(np.float32)
    batch = {"id": np.arange(6), "label": np.arange(6) % 11, "snr": np.zeros(6), "iq": iq}
    worker = PoolWorker(_model_payload(pool[2]), np.array([100]), scorer=get_scorer("duse"))
    rows = worker(batch)
    assert len(rows["id"]) == 0 and len(rows["score"]) == 0


def test_ray_pass_equals_local_pass_and_excludes_ids(ray_session, pool):
    uri, split, model = pool
    excluded = split.pool_ids[::7]
    scorer = get_scorer("duse")
    local = score_pool(model, uri, split.pool_ids, scorer, LOCAL, exclude=excluded)
    on_ray = score_pool(model, uri, split.pool_ids, scorer, RAY, exclude=excluded)
    expected_ids = np.setdiff1d(split.pool_ids, excluded)
    np.testing.assert_array_equal(local.ids, expected_ids)
    np.testing.assert_array_equal(on_ray.ids, expected_ids)
    np.testing.assert_allclose(on_ray.scores, local.scores, rtol=1e-6, atol=1e-9)
    np.testing.assert_array_equal(on_ray.labels, local.labels)
    assert not np.isin(on_ray.ids, np.concatenate([split.test_ids, split.target_ids])).any()
    # the streaming select on Ray picks what select picks on the in-process scores
    streamed = score_and_select(
        model,
        uri,
        split.pool_ids,
        scorer,
        33,
        balanced=True,
        num_classes=11,
        rng=np.random.default_rng(5),
        config=RAY,
        exclude=excluded,
    )
    expected = select(
        local.ids,
        local.scores,
        local.labels,
        33,
        balanced=True,
        num_classes=11,
        rng=np.random.default_rng(5),
    )
    np.testing.assert_array_equal(streamed.ids, expected)
    assert np.bincount(streamed.labels, minlength=11).tolist() == [3] * 11


def _crash_once_scorer(marker: str) -> PointwiseScorer:
    """DUSE scores, but the process running it exits on its second batch, once (a killed actor).

    Defined in a function so cloudpickle ships the class by value to the Ray actors.
    """

    class CrashOnce(PointwiseScorer):
        name = "crash_once"
        needs = Needs.PROBS

        def __init__(self) -> None:
            self.calls = 0

        def score(self, outputs):
            self.calls += 1
            if self.calls == 2 and not os.path.exists(marker):
                open(marker, "w").close()
                os._exit(1)
            return -top2_margin(outputs.probs)

    return CrashOnce()


def test_actor_killed_mid_pass_is_restarted_with_identical_scores(ray_session, pool, tmp_path):
    uri, split, model = pool
    marker = str(tmp_path / "crashed")
    expected = score_pool(model, uri, split.pool_ids, get_scorer("duse"), LOCAL)
    scores = score_pool(model, uri, split.pool_ids, _crash_once_scorer(marker), RAY)
    assert os.path.exists(marker)  # the actor did die mid-pass
    np.testing.assert_array_equal(scores.ids, expected.ids)
    np.testing.assert_allclose(scores.scores, expected.scores, rtol=1e-6, atol=1e-9)


def test_pool_outputs_gives_each_id_once_with_the_declared_arrays(pool):
    uri, split, model = pool
    glister = get_scorer("glister")
    batches = list(pool_outputs(model, uri, split.pool_ids, glister, LOCAL, exclude=[]))
    ids = np.concatenate([outputs.ids for outputs, _ in batches])
    np.testing.assert_array_equal(np.sort(ids), split.pool_ids)
    outputs, snr = batches[0]
    assert outputs.provides() == Needs.EMBEDDING | Needs.PROBS | Needs.LOGITS
    assert outputs.probs.shape == (len(outputs), 11) and snr.shape == (len(outputs),)
    np.testing.assert_allclose(outputs.probs.sum(1), 1.0)


def test_bad_passes_fail_clearly(pool):
    uri, split, model = pool
    with pytest.raises(ValueError, match="empty"):
        score_pool(model, uri, split.pool_ids, get_scorer("duse"), LOCAL, exclude=split.pool_ids)
    with pytest.raises(ValueError, match="LOGITS_FN"):
        next(pool_outputs(model, uri, split.pool_ids, get_scorer("deepfool"), LOCAL))
    with pytest.raises(ValueError, match="pool size"):
        score_and_select(
            model,
            uri,
            split.pool_ids[:10],
            get_scorer("duse"),
            11,
            balanced=False,
            num_classes=11,
            rng=np.random.default_rng(0),
            config=LOCAL,
        )
    with pytest.raises(ValueError, match="executor"):
        ScoringConfig(executor="spark")


ACTORS = ScoringConfig(executor="actors", batch_size=32, actors=2, threads_per_actor=1)
# float32 sums in another order (one thread, batches of 32) differ from the local pass by ~1e-7


def test_pieces_stay_inside_shards_and_cover_every_id_once(pool):
    uri = pool[0]
    wanted = np.setdiff1d(read_index(uri).ids, np.arange(0, 880, 3))
    parts = pieces(uri, wanted, 50)
    np.testing.assert_array_equal(np.concatenate(parts), wanted)
    assert max(len(part) for part in parts) == 50
    shard_of = {
        int(i): n
        for n, shard in enumerate(read_meta(uri).shards)
        for i in range(shard.id_min, shard.id_max + 1)
    }
    assert all(len({shard_of[int(i)] for i in part}) == 1 for part in parts)
    assert len(parts) > len(read_meta(uri).shards)  # the 4 shards are cut further


def test_actors_pass_equals_local_pass_and_keeps_its_actors(ray_session, pool):
    uri, split, model = pool
    excluded = split.pool_ids[::5]
    scorer = get_scorer("duse")
    local = score_pool(model, uri, split.pool_ids, scorer, LOCAL, exclude=excluded)
    first = score_pool(model, uri, split.pool_ids, scorer, ACTORS, exclude=excluded)
    np.testing.assert_array_equal(first.ids, np.setdiff1d(split.pool_ids, excluded))
    np.testing.assert_allclose(first.scores, local.scores, rtol=1e-4, atol=1e-6)
    handles = list(scoring_actors._ACTORS.handles)
    # a second pass with other weights: same actors, the new model's scores (no stale worker)
    other = fit("cnn1d", uri, split.target_ids, TrainConfig(epochs=2, batch_size=32, seed=1))
    expected = score_pool(other, uri, split.pool_ids, scorer, LOCAL)
    second = score_pool(other, uri, split.pool_ids, scorer, ACTORS)
    assert scoring_actors._ACTORS.handles == handles
    np.testing.assert_allclose(second.scores, expected.scores, rtol=1e-4, atol=1e-6)
    assert not np.allclose(
        second.scores, score_pool(model, uri, split.pool_ids, scorer, LOCAL).scores
    )
    batches = list(pool_outputs(model, uri, split.pool_ids, get_scorer("glister"), ACTORS))
    np.testing.assert_array_equal(
        np.sort(np.concatenate([o.ids for o, _ in batches])), split.pool_ids
    )
    assert batches[0][0].embedding.shape[1] == 128
    scoring_actors.close_scoring_actors()
    assert scoring_actors._ACTORS is None


def test_killed_scoring_actor_is_restarted_with_identical_scores(ray_session, pool, tmp_path):
    uri, split, model = pool
    marker = str(tmp_path / "crashed")
    expected = score_pool(model, uri, split.pool_ids, get_scorer("duse"), LOCAL)
    scores = score_pool(model, uri, split.pool_ids, _crash_once_scorer(marker), ACTORS)
    assert os.path.exists(marker)
    np.testing.assert_array_equal(scores.ids, expected.ids)
    np.testing.assert_allclose(scores.scores, expected.scores, rtol=1e-4, atol=1e-6)
    scoring_actors.close_scoring_actors()
