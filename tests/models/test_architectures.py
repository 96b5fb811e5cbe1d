"""The architectures: shapes, parameter counts, the features/head split, scale invariance, grads."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import models
from models.layers import normalize_frames, pool_stages

NAMES = models.available()
LENGTHS = (128, 512, 1024)


@pytest.fixture(autouse=True)
def _one_thread():
    """Run each test on one intra-op thread.

    The batches are tiny, and on a busy 2-core machine a second spinning thread slowed the
    1,000-step recurrent models from 0.1 s to a minute.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _frames(n: int, length: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, 2, length, generator=generator)


def _count(model: nn.Module) -> int:
    return sum(parameter.numel() for parameter in model.parameters())


@pytest.mark.parametrize("length", LENGTHS)
@pytest.mark.parametrize("name", NAMES)
def test_shapes_and_one_pass_embedding(name, length):
    torch.manual_seed(0)
    model = models.build(name, 7, length).eval()
    iq = _frames(3, length)
    with torch.no_grad():
        logits = model(iq)
        embedding, logits_again = models.embedding_and_logits(model, iq)
    assert logits.shape == (3, 7)
    assert logits.dtype == torch.float32
    assert torch.isfinite(logits).all()
    assert embedding.shape == (3, model.embedding_dim)
    assert torch.equal(logits_again, logits)
    head = models.last_layer(model)
    assert head is model.head
    assert (head.in_features, head.out_features) == (model.embedding_dim, 7)
    assert torch.allclose(embedding @ head.weight.T + head.bias, logits, atol=1e-6)


@pytest.mark.parametrize(
    ("name", "length", "num_classes", "expected"),
    [
        ("cnn2d", 128, 11, 2_830_427),  # radioML notebook / amr_data.md 4.1
        ("cnn2d", 1024, 24, 21_183_848),  # "21.2 M" in 4.1
        ("cnn1d", 1024, 24, 159_832),  # 4.2
        ("resnet1d", 1024, 24, 165_144),  # 4.3
        ("mcldnn", 128, 11, 406_199),  # 4.4 (torch LSTM biases)
        ("gru", 128, 11, 151_179),  # 4.5 "151 k"
    ],
)
def test_parameter_counts_match_the_specs(name, length, num_classes, expected):
    assert _count(models.build(name, num_classes, length)) == expected


def test_vtcnn2_layers_follow_the_notebook():
    model = models.build("cnn2d", 11, 128)
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.padding) for c in convs] == [
        (1, 256, (1, 3), (0, 2)),
        (256, 80, (2, 3), (0, 2)),
    ]
    dense = [m for m in model.features if isinstance(m, nn.Linear)]
    assert [(d.in_features, d.out_features) for d in dense] == [(10560, 256)]
    assert sum(p.numel() for p in models.FrameNorm().parameters()) == 0


@pytest.mark.parametrize(
    ("length", "stages_vgg", "stages_resnet"),
    [(128, 4, 3), (512, 6, 5), (1024, 7, 6), (2048, 7, 6), (200, 4, 3)],
)
def test_pool_stage_rule(length, stages_vgg, stages_resnet):
    assert pool_stages(length, most=7, final_min=8) == stages_vgg
    assert pool_stages(length, most=6, final_min=16) == stages_resnet
    pools = [m for m in models.build("cnn1d", 5, length).features if isinstance(m, nn.MaxPool1d)]
    assert len(pools) == stages_vgg


def test_normalize_frames_gives_unit_rms_and_keeps_zero_frames_finite():
    iq = torch.cat([_frames(2, 64) * 0.008, torch.zeros(1, 2, 64)])
    out = normalize_frames(iq)
    rms = out.pow(2).mean(dim=(1, 2)).sqrt()
    assert torch.allclose(rms[:2], torch.ones(2), atol=1e-6)
    assert torch.equal(out[2], torch.zeros(2, 64))


@pytest.mark.parametrize("name", NAMES)
def test_outputs_do_not_depend_on_frame_scale(name):
    torch.manual_seed(0)
    model = models.build(name, 5, 128).eval()
    iq = _frames(4, 128) * 0.008  # RML2016 frames are L1-normalised: RMS about 0.008
    with torch.no_grad():
        reference = model(iq)
        assert torch.allclose(model(iq * 1e-3), reference, atol=1e-5, rtol=1e-4)
        assert torch.allclose(model(iq * 125.0), reference, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name", NAMES)
def test_one_gradient_step_lowers_the_loss(name):
    """Gradients reach every parameter, and a small SGD step lowers the (eval-mode) loss."""
    torch.manual_seed(1)
    model = models.build(name, 4, 128).eval()  # eval: dropout off, so the loss is deterministic
    iq = _frames(8, 128, seed=2)
    labels = torch.arange(8) % 4
    loss = nn.functional.cross_entropy(model(iq), labels)
    loss.backward()
    for parameter_name, parameter in model.named_parameters():
        assert parameter.grad is not None, parameter_name
        assert torch.isfinite(parameter.grad).all(), parameter_name
        assert parameter.grad.abs().sum() > 0, parameter_name
    # a step of norm 0.01 against the gradient: small whatever the gradient's scale (0.03 to 13
    # across the zoo at init)
    norm = torch.sqrt(sum(parameter.grad.pow(2).sum() for parameter in model.parameters()))
    optimizer = torch.optim.SGD(model.parameters(), lr=float(1e-2 / norm))
    optimizer.step()
    with torch.no_grad():
        after = nn.functional.cross_entropy(model(iq), labels)
    assert after < loss.detach()


@pytest.mark.parametrize("name", NAMES)
def test_train_mode_forward_and_backward_work(name):
    torch.manual_seed(3)
    model = models.build(name, 3, 128).train()
    logits = model(_frames(4, 128))
    logits.sum().backward()
    assert logits.shape == (4, 3)
    assert torch.isfinite(model.head.weight.grad).all()


def test_helpers_look_through_data_parallel_and_reject_other_modules():
    model = models.build("gru", 3, 32).eval()
    wrapped = nn.DataParallel(model)
    iq = _frames(2, 32)
    with torch.no_grad():
        embedding, logits = models.embedding_and_logits(wrapped, iq)
        assert torch.equal(logits, model(iq))
    assert embedding.shape == (2, 128)
    assert models.last_layer(wrapped) is model.head
    with pytest.raises(TypeError, match="features"):
        models.last_layer(nn.Linear(2, 3))
    with pytest.raises(TypeError, match="features"):
        models.embedding_and_logits(nn.Sequential(nn.Flatten()), iq)
