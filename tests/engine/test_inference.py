"""The prepared forward (engine.inference) gives eager's logits, and its selection is eager's
up to near-ties; a preparation that fails falls back to eager."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from torch import nn

import models
from engine.inference import CACHE_BYTES, PreparedForward, chunk_frames
from engine.scoring import ScoringConfig, pool_outputs, score_and_select, score_pool
from scorers import get_scorer


def _frames(n: int, length: int, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(
        np.random.default_rng(seed).standard_normal((n, 2, length)).astype(np.float32)
    )


def _eager(model: nn.Module, iq: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.no_grad():
        return models.embedding_and_logits(model, iq)


@pytest.mark.parametrize(("name", "length"), [("cnn1d", 128), ("cnn2d", 128), ("gru", 64)])
def test_frozen_forward_gives_eager_logits_and_embedding(name, length):
    torch.manual_seed(0)
    model = models.build(name, 11, length).eval()
    prepared = PreparedForward(model, "frozen")
    first, other = _frames(64, length), _frames(37, length, seed=1)  # a second batch size
    for iq in (first, other):
        embedding, logits = prepared.embedding_and_logits(iq)
        want_embedding, want_logits = _eager(model, iq)
        torch.testing.assert_close(logits, want_logits, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(embedding, want_embedding, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(prepared.logits(iq), want_logits, rtol=1e-4, atol=1e-5)
    assert prepared.mode == "frozen"  # it did not fall back


def test_calls_are_cut_to_keep_the_largest_activation_in_cache():
    model = models.build("cnn1d", 24, 1024).eval()
    # the first convolution's output, 64 channels x 1024 floats, is the largest
    assert chunk_frames(model, 1024) == CACHE_BYTES // (64 * 1024 * 4) == 16
    assert chunk_frames(model, 1024, cache_bytes=2**40) == 1024  # capped
    assert chunk_frames(model, 1024, cache_bytes=1) == 8  # floored
    prepared = PreparedForward(model, "frozen")
    iq = _frames(40, 1024)  # 16 + 16 + 8
    torch.testing.assert_close(prepared.logits(iq), _eager(model, iq)[1], rtol=1e-4, atol=1e-5)
    assert prepared.chunk == 16
    assert PreparedForward(model, "eager").chunk is None  # eager keeps whole batches


def test_bf16_forward_stays_near_eager():
    torch.manual_seed(0)
    model = models.build("cnn1d", 11, 128).eval()
    iq = _frames(256, 128)
    prepared = PreparedForward(model, "bf16")
    logits = prepared.logits(iq)
    _, want = _eager(model, iq)
    assert prepared.mode == "bf16" and logits.dtype == torch.float32
    assert not torch.equal(logits, want)  # it did run in bfloat16
    assert (logits - want).abs().max() < 0.05 * want.abs().max()  # bf16: ~3 significant digits


def test_a_model_without_the_split_is_prepared_whole_and_gives_logits_only():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(2 * 32, 5)).eval()
    prepared = PreparedForward(model, "frozen")
    iq = _frames(8, 32)
    assert not prepared.has_embedding
    with torch.no_grad():
        torch.testing.assert_close(prepared.logits(iq), model(iq), rtol=1e-5, atol=1e-6)
    with pytest.raises(TypeError, match="no features / head split"):
        prepared.embedding_and_logits(iq)


def test_a_failed_preparation_falls_back_to_eager(monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("tracer exploded")

    monkeypatch.setattr(torch.jit, "trace", broken)
    torch.manual_seed(0)
    model = models.build("cnn1d", 11, 128).eval()
    prepared = PreparedForward(model, "frozen")
    iq = _frames(16, 128)
    with caplog.at_level(logging.WARNING, logger="duse.engine.inference"):
        logits = prepared.logits(iq)
    assert prepared.mode == "eager"
    assert "tracer exploded" in caplog.text and "scoring runs eager" in caplog.text
    torch.testing.assert_close(logits, _eager(model, iq)[1])


def test_unknown_inference_mode_is_refused():
    model = models.build("cnn1d", 11, 128).eval()
    with pytest.raises(ValueError, match="inference must be one of"):
        PreparedForward(model, "turbo")
    with pytest.raises(ValueError, match="inference"):
        ScoringConfig(inference="turbo")


def _configs() -> dict[str, ScoringConfig]:
    return {
        mode: ScoringConfig(executor="local", batch_size=100, inference=mode)
        for mode in ("eager", "frozen")
    }


@pytest.mark.parametrize("scorer_name", ["duse", "entropy"])
def test_frozen_selection_is_eager_selection_up_to_near_ties(pool, scorer_name):
    uri, split, model = pool
    scorer = get_scorer(scorer_name)
    k = len(split.pool_ids) // 10
    picked, scores = {}, {}
    for mode, config in _configs().items():
        scores[mode] = score_pool(model, uri, split.pool_ids, scorer, config)
        picked[mode] = score_and_select(
            model,
            uri,
            split.pool_ids,
            scorer,
            k,
            balanced=False,
            num_classes=11,
            rng=np.random.default_rng(0),
            config=config,
        ).ids
    eager = scores["eager"].scores
    np.testing.assert_array_equal(scores["frozen"].ids, scores["eager"].ids)
    np.testing.assert_allclose(scores["frozen"].scores, eager, atol=1e-5)
    # ties aside: a pick may differ only where eager's scores are within 1e-5 of the cut
    cut = np.sort(eager)[-k]
    differing = np.setxor1d(picked["eager"], picked["frozen"])
    position = np.searchsorted(scores["eager"].ids, differing)
    assert np.all(np.abs(eager[position] - cut) < 1e-5)


def test_frozen_embeddings_for_set_scorers_equal_eager(pool):
    uri, split, model = pool
    herding = get_scorer("herding")
    arrays = {
        mode: np.concatenate(
            [out.embedding for out, _ in pool_outputs(model, uri, split.pool_ids, herding, config)]
        )
        for mode, config in _configs().items()
    }
    np.testing.assert_allclose(arrays["frozen"], arrays["eager"], rtol=1e-4, atol=1e-5)


def test_the_fp32_peak_counts_fma_lanes_the_cpu_really_has():
    from benchmarks.hardware import _flops_per_cycle

    assert _flops_per_cycle({"avx512f", "avx2", "fma"}, "GenuineIntel", "6") == 64
    assert _flops_per_cycle({"avx512f", "avx2", "fma"}, "AuthenticAMD", "25") == 32  # Zen 4
    assert _flops_per_cycle({"avx2", "fma"}, "AuthenticAMD", "25") == 32  # Zen 3
    assert _flops_per_cycle({"avx"}) == 16 and _flops_per_cycle(set()) == 8
