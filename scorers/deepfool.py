"""DeepFool (Moosavi-Dezfooli et al. 2016) as a boundary-distance scorer.

The multi-class DeepFool linearisation is run on a whole batch at once: each iteration
evaluates the still-unflipped samples, takes the gradient of every logit with respect to the
input (one backward pass per class, summed over the batch, which is per-sample because the
engine's ``logits_fn`` runs the model in eval mode), and steps each sample towards its nearest
linearised boundary. A sample leaves the batch as soon as its predicted class changes. The
distance is the L2 norm of the perturbation that flipped it; closest to the boundary first.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from scorers._internal.registry import register
from scorers.base import ModelOutputs, Needs, PointwiseScorer

__all__ = ["UNREACHABLE_DISTANCE", "DeepFool", "deepfool_distance"]

# Distance given to samples whose logit differences have zero input gradient (no direction to
# step in, e.g. every ReLU dead): far beyond any real perturbation, so they rank last.
UNREACHABLE_DISTANCE = 1e30


def deepfool_distance(
    logits_fn: Callable[[torch.Tensor], torch.Tensor],
    iq: np.ndarray,
    *,
    max_iter: int = 50,
    overshoot: float = 0.02,
) -> np.ndarray:
    """Per-sample L2 norm of the DeepFool perturbation that changes the predicted class.

    Each step moves sample ``x`` by ``r = |f_k - f_y| / ||w_k||^2 * w_k`` with
    ``w_k = grad f_k - grad f_y``, ``y`` the clean prediction and ``k`` the class with the
    nearest linearised boundary; the perturbed input is ``x0 + (1 + overshoot) * sum(r)``.

    Args:
        logits_fn: differentiable ``[m, 2, L] -> [m, C]`` logits, eval mode; its optional
            ``device`` attribute says where to put the inputs.
        iq: frames ``[n, 2, L]`` float32.
        max_iter: most steps per sample. A sample still unflipped after them keeps the norm of
            the perturbation accumulated so far (a lower estimate of its distance).
        overshoot: relative overshoot (> 0) so a step lands past the boundary, not on it.

    Returns:
        ``[n]`` float64 distances, the norm of ``(1 + overshoot) * sum(r)`` in input units;
        :data:`UNREACHABLE_DISTANCE` where the gradients vanish.
    """
    device = getattr(logits_fn, "device", "cpu")
    start = torch.as_tensor(np.asarray(iq, dtype=np.float32), device=device)
    n = start.shape[0]
    distances = np.full(n, np.nan)
    total = torch.zeros_like(start)
    with torch.no_grad():
        predicted = logits_fn(start).argmax(dim=1)
    active = torch.arange(n, device=device)
    for iteration in range(max_iter + 1):
        inputs = (start[active] + (1 + overshoot) * total[active]).requires_grad_(True)
        logits = logits_fn(inputs)
        if not torch.isfinite(logits).all():
            raise ValueError("deepfool: the model returned non-finite logits")
        flipped = logits.argmax(dim=1) != predicted[active]
        done = active[flipped] if iteration < max_iter else active
        applied = ((1 + overshoot) * total[done]).flatten(1).double()
        distances[done.cpu().numpy()] = torch.linalg.vector_norm(applied, dim=1).cpu().numpy()
        if iteration == max_iter or flipped.all():
            break
        num_classes = logits.shape[1]
        gradients = torch.stack(
            [
                torch.autograd.grad(logits[:, c].sum(), inputs, retain_graph=c < num_classes - 1)[0]
                for c in range(num_classes)
            ],
            dim=1,
        ).flatten(2)  # [m, C, D]
        rows = torch.arange(len(active), device=device)
        own = predicted[active]
        directions = gradients - gradients[rows, own].unsqueeze(1)  # w_k, [m, C, D]
        gaps = (logits - logits[rows, own].unsqueeze(1)).detach().abs()  # |f_k - f_y|, [m, C]
        norms = torch.linalg.vector_norm(directions, dim=2)
        reach = gaps / norms  # distance to each linearised boundary
        reach[rows, own] = torch.inf
        reach[norms == 0] = torch.inf
        nearest = reach.argmin(dim=1)
        stuck = ~torch.isfinite(reach[rows, nearest])
        if stuck.any():
            distances[active[stuck].cpu().numpy()] = UNREACHABLE_DISTANCE
        step_size = (gaps[rows, nearest] / norms[rows, nearest].square()).nan_to_num(0.0, 0.0, 0.0)
        step = step_size.unsqueeze(1) * directions[rows, nearest]
        total[active] += step.view_as(inputs).detach() * (~stuck).view(-1, *[1] * (start.ndim - 1))
        active = active[~flipped & ~stuck]
        if len(active) == 0:
            break
    return distances


@register("deepfool")
class DeepFool(PointwiseScorer):
    """DeepFool: L2 distance to the decision boundary; closest first (score = -distance).

    Args:
        max_iter: most DeepFool steps per sample (DeepCore: 50).
        overshoot: relative overshoot past the linearised boundary (the DeepFool paper: 0.02).
    """

    needs = Needs.IQ | Needs.LOGITS_FN

    def __init__(self, *, max_iter: int = 50, overshoot: float = 0.02) -> None:
        if not isinstance(max_iter, int) or max_iter < 1:
            raise self._invalid(f"max_iter must be an integer >= 1, got {max_iter!r}")
        if not overshoot > 0:
            raise self._invalid(f"overshoot must be > 0, got {overshoot!r}")
        self.max_iter = max_iter
        self.overshoot = overshoot

    def score(self, outputs: ModelOutputs) -> np.ndarray:
        return -deepfool_distance(
            outputs.logits_fn, outputs.iq, max_iter=self.max_iter, overshoot=self.overshoot
        )
