"""A model's forward prepared for scoring: the same logits, nearer the hardware (issue 16).

``ScoringConfig.inference`` names how a pool worker runs the model's forward:

* ``"eager"``: the module itself under ``torch.no_grad``;
* ``"frozen"``: the ``features`` part traced and frozen by TorchScript (weights become
  constants, oneDNN fuses each convolution with its ReLU and pre-packs the weights), the
  linear head eager; the logits equal eager's up to float rounding (the test bounds it);
* ``"compiled"``: ``torch.compile`` of the same part (Inductor's generated kernels; the first
  batch pays the compilation, tens of seconds on two cores);
* ``"bf16"``: ``"frozen"`` under bfloat16 autocast (AMX or AVX-512 BF16 where the CPU has
  them): faster, but the logits move by about 1e-2, so near-tied scores can swap places;
  opt-in only.

Only forward passes without input gradients use it (DeepFool and input-gradient scorers run
eager), and a module whose preparation fails falls back to eager with one warning.
docs/expansion.md, "Inference nearer the hardware", has the measured speed-ups.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Callable
from typing import Literal

import torch
from torch import nn

import models

__all__ = ["INFERENCE_MODES", "Inference", "PreparedForward"]

log = logging.getLogger(f"duse.{__name__}")

Inference = Literal["eager", "frozen", "compiled", "bf16"]
INFERENCE_MODES: tuple[str, ...] = ("eager", "frozen", "compiled", "bf16")


class PreparedForward:
    """``embedding_and_logits`` / ``logits`` of an eval-mode model, prepared as ``mode`` says.

    The preparation runs on the first call (it needs an input's shape and device) and is kept;
    the model's weights must not change afterwards (frozen modes copy them). Models without the
    ``features`` / linear ``head`` split of :func:`models.build` are prepared whole and give
    logits only.

    Args:
        model: a classifier, already on its device and in eval mode.
        mode: one of :data:`INFERENCE_MODES`.
    """

    def __init__(self, model: nn.Module, mode: Inference = "frozen") -> None:
        if mode not in INFERENCE_MODES:
            raise ValueError(f"inference must be one of {INFERENCE_MODES}, got {mode!r}")
        self.model = model
        self.mode = mode
        try:
            self._features, self._head = models.features_and_head(model)
        except TypeError:
            self._features, self._head = model, None
        self._prepared: Callable[[torch.Tensor], torch.Tensor] | None = None

    @property
    def has_embedding(self) -> bool:
        """Whether :meth:`embedding_and_logits` is available (the model has the split)."""
        return self._head is not None

    def _run(self, iq: torch.Tensor) -> torch.Tensor:
        if self._prepared is None:
            self._prepared = self._prepare(iq)
        with self._autocast():
            return self._prepared(iq).float()

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.mode != "bf16":
            return contextlib.nullcontext()
        return torch.autocast("cuda" if _on_cuda(self.model) else "cpu", dtype=torch.bfloat16)

    def _prepare(self, iq: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
        part = self._features
        if self.mode == "eager":
            return part
        try:
            with torch.no_grad(), self._autocast(), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # TorchScript's deprecation and tracer notes
                if self.mode == "compiled":
                    prepared = torch.compile(part, dynamic=False)
                    prepared(iq)
                    return prepared
                return torch.jit.freeze(torch.jit.trace(part, iq, check_trace=False))
        except Exception as error:  # any failure means: run eager
            log.warning(
                "inference %r failed for %s (%s); scoring runs eager",
                self.mode,
                type(self.model).__name__,
                error,
            )
            self.mode = "eager"
            return part

    def logits(self, iq: torch.Tensor) -> torch.Tensor:
        """``[n, C]`` logits of frames ``[n, 2, L]`` (no gradients)."""
        return self.embedding_and_logits(iq)[1] if self.has_embedding else self._run(iq)

    def embedding_and_logits(self, iq: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``([n, d] embedding, [n, C] logits)``; needs the features / head split.

        Raises:
            TypeError: the model has no split (see :attr:`has_embedding`).
        """
        if not self.has_embedding:
            raise TypeError(f"{type(self.model).__name__} has no features / head split")
        with torch.no_grad():
            embedding = self._run(iq)
            return embedding, self._head(embedding)


def _on_cuda(model: nn.Module) -> bool:
    parameter = next(model.parameters(), None)
    return parameter is not None and parameter.is_cuda
