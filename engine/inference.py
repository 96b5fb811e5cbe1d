"""A model's forward prepared for scoring: the same logits, nearer the hardware (issue 16).

``ScoringConfig.inference`` names how a pool worker runs the model's forward:

* ``"eager"``: the module itself under ``torch.no_grad``;
* ``"frozen"``: the ``features`` part traced and frozen by TorchScript (weights become
  constants for its freezing passes), the linear head eager; the logits equal eager's up to
  float rounding (the test bounds it);
* ``"compiled"``: ``torch.compile`` of the same part (Inductor's generated kernels; the first
  batch pays the compilation, tens of seconds on two cores);
* ``"bf16"``: the module under bfloat16 autocast (AMX or AVX-512 BF16 where the CPU has
  them): faster for some models, but the logits move by about 1e-2, so near-tied scores swap
  places (a 4 % selection kept 82-92 % of eager's picks, measured); opt-in only.

Every mode but ``"eager"`` also cuts a batch into model calls of :func:`chunk_frames` frames
on a CPU, sized so that the largest activation stays in cache (a 1024-frame batch of cnn1d at
L=1024 makes 256 MiB activations; in 16-frame calls it runs 2.3 times faster, measured).
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

__all__ = ["CACHE_BYTES", "INFERENCE_MODES", "Inference", "PreparedForward", "chunk_frames"]

log = logging.getLogger(f"duse.{__name__}")

Inference = Literal["eager", "frozen", "compiled", "bf16"]
INFERENCE_MODES: tuple[str, ...] = ("eager", "frozen", "compiled", "bf16")
# Largest activation one CPU model call may make: about a core's L2 share of a few MiB.
CACHE_BYTES = 4 * 2**20
_CHUNK_RANGE = (8, 1024)


def chunk_frames(model: nn.Module, length: int, cache_bytes: int = CACHE_BYTES) -> int:
    """Frames per CPU model call whose largest layer output stays within ``cache_bytes``.

    Measured with forward hooks on one 2-frame probe (float32); a power of two in [8, 1024].
    """
    largest = 0

    def record(_module, _inputs, output) -> None:
        nonlocal largest
        if isinstance(output, torch.Tensor):
            largest = max(largest, output[0].numel() * 4)

    hooks = [m.register_forward_hook(record) for m in model.modules() if not list(m.children())]
    try:
        with torch.no_grad():
            model(torch.zeros(2, 2, length, device=_device(model)))
    finally:
        for hook in hooks:
            hook.remove()
    frames = max(1, cache_bytes // max(largest, 1))
    low, high = _CHUNK_RANGE
    return min(high, max(low, 1 << (frames.bit_length() - 1)))


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
        self.chunk: int | None = None  # frames per model call, set on the first call

    @property
    def has_embedding(self) -> bool:
        """Whether :meth:`embedding_and_logits` is available (the model has the split)."""
        return self._head is not None

    def _run(self, iq: torch.Tensor) -> torch.Tensor:
        if self._prepared is None:
            on_cpu = iq.device.type == "cpu" and self.mode != "eager"
            self.chunk = chunk_frames(self.model, iq.shape[-1]) if on_cpu else None
            self._prepared = self._prepare(iq[: self.chunk] if self.chunk else iq)
        with self._autocast():
            if self.chunk is None or len(iq) <= self.chunk:
                return self._prepared(iq).float()
            return torch.cat([self._prepared(part).float() for part in iq.split(self.chunk)])

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.mode != "bf16":
            return contextlib.nullcontext()
        return torch.autocast(_device(self.model).type, dtype=torch.bfloat16)

    def _prepare(self, iq: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
        part = self._features
        if self.mode in ("eager", "bf16"):  # TorchScript cannot freeze autocast's weight casts
            return part
        try:
            with torch.no_grad(), warnings.catch_warnings():
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


def _device(model: nn.Module) -> torch.device:
    parameter = next(model.parameters(), None)
    return torch.device("cpu") if parameter is None else parameter.device
