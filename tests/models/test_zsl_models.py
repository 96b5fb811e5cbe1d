"""models.zsl: layer shapes against the seed's Tables 1-2, the gradient penalty, Eq. 2's loss."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import models
from models.zsl import (
    DescriptionEncoder,
    FeatureCnn,
    FeatureCritic,
    FeatureGenerator,
    SemanticModule,
    SemanticSignalEncoder,
    ZslClassifier,
    gradient_penalty,
    joint_embedding_loss,
)


def _lengths_after(module: nn.Sequential, x: torch.Tensor, kinds: tuple[type, ...]) -> list[int]:
    """Sequence length after every layer of the given kinds."""
    lengths = []
    for layer in module:
        x = layer(x)
        if isinstance(layer, kinds):
            lengths.append(x.shape[-1])
    return lengths


def test_semantic_signal_encoder_follows_table1():
    encoder = SemanticSignalEncoder(1024)
    lengths = _lengths_after(encoder.net, torch.randn(3, 2, 1024), (nn.Conv1d, nn.MaxPool1d))
    # Table 1 prints 1016 for the first convolution, a slip for 1024 - 5 + 1 = 1020
    assert lengths == [1020, 204, 200, 40, 36, 8, 4, 1]
    assert encoder(torch.randn(3, 2, 1024)).shape == (3, 64)
    assert SemanticSignalEncoder(128)(torch.randn(2, 2, 128)).shape == (2, 64)


def test_description_encoder_follows_table1():
    encoder = DescriptionEncoder(32, 47)
    lengths = _lengths_after(encoder.net, torch.randn(7, 32, 47), (nn.Conv1d, nn.MaxPool1d))
    assert lengths[:3] == [43, 9, 5]
    assert encoder(torch.randn(7, 32, 47)).shape == (7, 64)
    with pytest.raises(ValueError, match="25"):
        DescriptionEncoder(4, 24)


def test_semantic_module_returns_both_embeddings():
    module = SemanticModule(1024, encoding_channels=7, encoding_length=48)
    signal, described = module(torch.randn(5, 2, 1024), torch.randn(3, 7, 48))
    assert signal.shape == (5, 64)
    assert described.shape == (3, 64)


def test_feature_cnn_follows_table2():
    model = models.build("sigzsl_cnn", 7, 1024).eval()
    assert isinstance(model, FeatureCnn)
    convs = [m for m in model.features if isinstance(m, nn.Conv1d)]
    assert [(c.out_channels, c.kernel_size[0]) for c in convs] == [(64, 8)] * 5
    x = torch.randn(4, 2, 1024)
    for layer in model.features:
        x = layer(x)
        if isinstance(layer, nn.Flatten):
            assert x.shape == (4, 2048)
    assert x.shape == (4, 128)
    assert (x >= 0).all()  # the ReLU'd 128-d feature
    assert model(torch.randn(4, 2, 1024)).shape == (4, 7)


def test_generator_critic_and_classifier_shapes():
    generator = FeatureGenerator(noise_dim=16, semantic_dim=64)
    critic = FeatureCritic(feature_dim=128, semantic_dim=64)
    classifier = ZslClassifier(7)
    fake = generator(torch.randn(5, 16), torch.randn(5, 64))
    assert fake.shape == (5, 128)
    assert (fake >= 0).all()
    assert critic(fake, torch.randn(5, 64)).shape == (5,)
    assert classifier(fake).shape == (5, 7)
    assert any(isinstance(m, nn.PReLU) for m in classifier.modules())
    hidden = [m.out_features for m in generator.modules() if isinstance(m, nn.Linear)]
    assert hidden == [256, 128]
    assert [m.out_features for m in critic.modules() if isinstance(m, nn.Linear)] == [256, 1]


def test_gradient_penalty_of_a_linear_critic_is_known():
    """D(x) = w·x + b has gradient w everywhere: the penalty is (‖w‖ - 1)²."""
    critic = nn.Linear(3, 1)
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([[2.0, 0.0, 0.0]]))
    x = torch.randn(6, 3, requires_grad=True)
    penalty = gradient_penalty(critic(x).squeeze(1), x)
    assert penalty.item() == pytest.approx(1.0)  # (2 - 1)²


def test_gradient_penalty_matches_a_per_sample_autograd_loop():
    torch.manual_seed(0)
    critic = FeatureCritic(feature_dim=4, semantic_dim=2, hidden=8)
    condition = torch.randn(5, 2)
    x = torch.randn(5, 4, requires_grad=True)
    penalty = gradient_penalty(critic(x, condition), x)
    expected = []
    for row in range(5):
        single = x[row : row + 1].detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(critic(single, condition[row : row + 1]).sum(), single)
        expected.append((grad.norm() - 1) ** 2)
    torch.testing.assert_close(penalty, torch.stack(expected).mean())
    penalty.backward()  # differentiable with respect to the critic's weights (create_graph)
    first_layer = critic.net[0].weight.grad  # the last bias does not change ∇_x D: no grad
    assert first_layer is not None and first_layer.abs().sum() > 0


def _reference_joint_embedding_loss(signal, described, labels):
    """Reed et al.'s DS-SJE written with loops, for comparison."""
    total = 0.0
    present = sorted(set(labels.tolist()))
    for n, y_n in enumerate(labels.tolist()):
        true = float(signal[n] @ described[y_n])
        signal_term = max(
            (y != y_n) + float(signal[n] @ described[y]) for y in range(len(described))
        )
        text_terms = []
        for y in present:
            members = [m for m, label in enumerate(labels.tolist()) if label == y]
            mean = sum(float(signal[m] @ described[y_n]) for m in members) / len(members)
            text_terms.append((y != y_n) + mean)
        total += max(0.0, signal_term - true) + max(0.0, max(text_terms) - true)
    return total / len(labels)


def test_joint_embedding_loss_matches_the_loop_reference():
    torch.manual_seed(1)
    signal, described = torch.randn(9, 4), torch.randn(3, 4)
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 0, 1])
    loss = joint_embedding_loss(signal, described, labels)
    assert loss.item() == pytest.approx(_reference_joint_embedding_loss(signal, described, labels))


def test_joint_embedding_loss_is_zero_with_a_wide_margin():
    described = torch.eye(3) * 3
    labels = torch.tensor([0, 1, 2, 2])
    signal = described[labels].clone()  # F = 9 for the true class, 0 otherwise
    assert joint_embedding_loss(signal, described, labels).item() == 0.0
    assert joint_embedding_loss(-signal, described, labels).item() > 0
