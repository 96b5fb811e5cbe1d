"""Fit and evaluate classifiers: in-process, or on Ray Train workers, through one code path.

``fit`` runs the same ``_train`` function either in the calling process (``workers=0``) or as
``TorchTrainer``'s per-worker loop (``workers >= 1``). Every worker holds the training frames in
memory (target sets are small) and takes an equal share of each epoch's seeded permutation, so
all DDP ranks run the same number of steps. A share is cut into ``ceil(share / batch_size)``
batches of equal size (within one frame) rather than full batches and a remainder: Adam's step
has the same size whatever the batch, so a remainder of one to a few frames took a full step
on their noise every epoch and cost 4 points of accuracy at 513 frames, batch 64
(docs/benchmark.md, "The step between 7 % and 9 %"). Rank 0 sends the final weights back as a
Ray Train checkpoint; weights are saved unwrapped (no ``module.`` prefix) whatever the world size.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import math
import pickle
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Literal

import fsspec
import numpy as np
import torch
from pydantic import Field, model_validator
from torch import nn

import models
from engine._internal import seeds
from engine._internal.atomic import write_bytes
from engine._internal.metrics import confusion_matrix
from engine._internal.seeds import Stream
from engine.config import ConfigMixin, config_class
from engine.data.schema import DatasetMeta, Frames
from engine.data.store import read_frames, read_meta
from models.base import embedding_and_logits

__all__ = [
    "FitResult",
    "SemanticHead",
    "TrainConfig",
    "TrainingDivergedError",
    "confused_pairs",
    "evaluate",
    "fit",
    "learning_warning",
    "predict_logits",
    "train_batch_size",
]

log = logging.getLogger(f"duse.{__name__}")

NEAR_CHANCE_FACTOR = 1.5  # below this multiple of chance (1/C) on its own frames: not learned
SMALL_SET_MIN_BATCH = 16  # min_steps never shrinks a batch below this
QUALITY_BATCH_SIZE = 256  # frames per inference batch of the quality pass (cnn2d L=1024: ~0.6 GB)


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or infinite; the message names the epoch."""


@config_class
class TrainConfig(ConfigMixin):
    """How to train (``duse train --help`` and ``duse config schema train`` describe each key)."""

    config_name: ClassVar[str] = "training config"

    epochs: int = Field(10, ge=1, description="passes over the training frames")
    batch_size: int = Field(
        256, ge=1, description="frames per step per worker (the largest; see min_steps)"
    )
    optimizer: Literal["adam", "sgd"] = Field("adam", description="'adam' or 'sgd' (momentum 0.9)")
    lr: float = Field(1e-3, gt=0, description="learning rate")
    weight_decay: float = Field(0.0, ge=0, description="L2 penalty")
    lr_schedule: Literal["constant", "cosine"] = Field(
        "constant", description="'constant' or 'cosine' (annealed to 0 over epochs)"
    )
    seed: int = Field(0, description="seeds weights, dropout, shuffling and the validation split")
    val_fraction: float = Field(
        0.0,
        ge=0,
        lt=1,
        description="share of the training frames held out for early stopping (0: none)",
    )
    patience: int | None = Field(
        None,
        ge=1,
        description="epochs without validation improvement before stopping (needs "
        "val_fraction > 0; None: no early stopping)",
    )
    workers: int = Field(
        0, ge=0, description="0 trains in this process; N >= 1 uses Ray Train with N workers"
    )
    cpus_per_worker: float = Field(
        1.0, gt=0, description="CPUs (and torch threads) per Ray Train worker"
    )
    use_gpu: bool = Field(False, description="train on CUDA (one GPU per Ray Train worker)")
    amp: bool = Field(False, description="bfloat16 autocast on GPU")
    min_steps: int = Field(
        200,
        ge=0,
        description="the fewest optimizer steps a fit should take: a set too small to give "
        "that many steps at batch_size in epochs trains with smaller batches (never below 16), "
        "the same epochs and frames, so the compute is unchanged (train_batch_size); sets of "
        "at least min_steps * batch_size / epochs frames per worker are untouched; 0: always "
        "batch_size",
    )

    @model_validator(mode="after")
    def _patience_needs_validation(self) -> TrainConfig:
        if self.patience is not None and self.val_fraction <= 0:
            raise ValueError(
                f"bad training config patience={self.patience!r}: early stopping needs "
                "val_fraction > 0"
            )
        return self


@dataclass
class FitResult:
    """Trained weights and how they were obtained.

    ``classes`` are the class names of the training data in label order (None in files saved
    before they were recorded); :meth:`check_data` compares them and ``length`` with a dataset.
    ``quality`` is whether the model learned, measured by :func:`fit` on its own training frames
    (None in files saved before it was recorded, and for untrained weights): JSON-ready
    ``train_accuracy`` (eval mode), ``predicted_classes`` (distinct classes it predicts on
    them), ``classes`` (C, distinct classes in them), ``chance`` (1/C), ``steps`` (optimizer
    steps taken) and ``warning`` (:func:`learning_warning`: None, or what the model does wrong,
    e.g. ``"predicts a single class on its training frames"``).
    """

    model_name: str
    num_classes: int
    length: int
    state_dict: dict[str, torch.Tensor]
    history: list[dict[str, float]] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    classes: list[str] | None = None
    quality: dict[str, Any] | None = None

    def check_data(self, meta: DatasetMeta, what: str = "the data") -> None:
        """Refuse a dataset whose frame length or class names differ from the training data's.

        Raises:
            ValueError: one line naming both lengths or both class lists.
        """
        if self.length != meta.length:
            raise ValueError(
                f"the weights take frames of L={self.length}, {what} has L={meta.length}"
            )
        if self.classes is not None and list(self.classes) != list(meta.classes):
            order = (
                " (the same names in another order)"
                if set(self.classes) == set(meta.classes)
                else ""
            )
            raise ValueError(
                f"the weights know classes {list(self.classes)}, {what} has "
                f"{list(meta.classes)}{order}"
            )
        if self.num_classes != meta.num_classes:
            raise ValueError(
                f"the weights know {self.num_classes} classes, {what} has {meta.num_classes}"
            )

    def model(self) -> nn.Module:
        """A fresh model (eval mode) holding the trained weights."""
        model = models.build(self.model_name, self.num_classes, self.length)
        model.load_state_dict(self.state_dict)
        return model.eval()

    def save(self, uri: str) -> None:
        """Write to a path or fsspec URI (``torch.save`` format).

        The write is atomic (:func:`engine._internal.atomic.write_bytes`): staged under a hidden
        sibling name, moved into place once complete, the staging removed on failure.
        """
        buffer = io.BytesIO()
        torch.save(asdict(self), buffer)
        write_bytes(uri, buffer.getbuffer())

    @classmethod
    def load(cls, uri: str) -> FitResult:
        """Weights written by :meth:`save` (``duse train``, ``model.pt`` of a run).

        Raises:
            FileNotFoundError: no such file. ValueError: anything else that is not such weights
                (read with ``weights_only``: nothing in the file is executed).
        """
        with fsspec.open(uri, "rb") as handle:
            data = handle.read()
        try:
            body = torch.load(io.BytesIO(data), weights_only=True)
            names = {field.name for field in dataclasses.fields(cls)}
            if not isinstance(body, dict) or not {"model_name", "state_dict"} <= set(body) <= names:
                raise ValueError("not the fields of a FitResult")
            return cls(**body)
        except Exception as error:  # torch raises many kinds for a foreign file
            reason = " ".join(str(error).split())[:120]
            if isinstance(error, pickle.UnpicklingError) or not reason:
                reason = "not a torch weights file"
            raise ValueError(f"{uri}: not model weights written by duse ({reason})") from None


def _device(config: TrainConfig) -> torch.device:
    if not config.use_gpu:
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ValueError("a GPU was requested (use_gpu) but torch sees no CUDA device")
    if config.workers:
        import ray.train.torch

        return ray.train.torch.get_device()
    return torch.device("cuda")


def _validation_split(frames: Frames, fraction: float, rng: np.random.Generator):
    """Per-class random hold-out of ``fraction`` of the frames: (train, val) positions."""
    if fraction == 0:
        return np.arange(len(frames)), np.zeros(0, np.int64)
    val = []
    for label in np.unique(frames.labels):
        members = rng.permutation(np.flatnonzero(frames.labels == label))
        val.append(members[: max(1, round(fraction * len(members)))])
    val = np.sort(np.concatenate(val))
    return np.setdiff1d(np.arange(len(frames)), val), val


def predict_logits(
    model: nn.Module, iq: np.ndarray, *, batch_size: int = 1024, device: str = "cpu"
) -> np.ndarray:
    """Logits ``[n, C]`` float32 of ``iq`` ``[n, 2, L]`` in eval mode."""
    model = model.to(device).eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(iq), batch_size):
            batch = torch.as_tensor(np.asarray(iq[start : start + batch_size]), device=device)
            out.append(model(batch).float().cpu().numpy())
    if not out:
        return np.zeros((0, 0), np.float32)
    return np.concatenate(out)


def train_batch_size(frames_per_worker: int, config: TrainConfig) -> int:
    """The batch size a fit uses: ``batch_size``, smaller where the set is too small.

    A fit on a few hundred frames at ``batch_size`` 256 takes a handful of steps per epoch (20
    in 10 epochs for 320 frames), too few for a network to leave its initial plateau. The batch
    shrinks so that ``epochs`` passes give at least ``config.min_steps`` steps, but never below
    16 (or ``batch_size``, if smaller): the frames seen, hence the compute, stay the same.

    Args:
        frames_per_worker: training frames of one worker per epoch.
        config: ``batch_size``, ``epochs`` and ``min_steps`` are read.

    Returns:
        Frames per step, ``min(batch_size, max(16, frames_per_worker * epochs // min_steps))``;
        ``batch_size`` when ``min_steps`` is 0.
    """
    if config.min_steps == 0:
        return config.batch_size
    fitting = frames_per_worker * config.epochs // config.min_steps
    return min(config.batch_size, max(SMALL_SET_MIN_BATCH, fitting))


def learning_warning(train_accuracy: float, predicted_classes: int, num_classes: int) -> str | None:
    """Whether a model failed to learn, judged on its own training frames (eval mode).

    A model that predicts one class, or fits its training frames no better than 1.5 times
    chance, has learned nothing a selection or an evaluation can rely on.

    Args:
        train_accuracy: accuracy on its training frames, in [0, 1].
        predicted_classes: distinct classes it predicts on them.
        num_classes: C, distinct classes in them (chance is 1/C).

    Returns:
        None if it learned; else what the model does, one line that reads after "the model":
        ``"predicts a single class on its training frames"`` (checked first) or ``"is near
        chance (train accuracy 0.21 < 1.5/C = 0.3)"`` (accuracy strictly below 1.5/C; three
        significant digits).
    """
    if predicted_classes <= 1:
        return "predicts a single class on its training frames"
    threshold = NEAR_CHANCE_FACTOR / num_classes
    if train_accuracy < threshold:
        return (
            f"is near chance (train accuracy {train_accuracy:.3g} < "
            f"{NEAR_CHANCE_FACTOR:g}/C = {threshold:.3g})"
        )
    return None


def _fit_quality(
    model: nn.Module, frames: Frames, history: list[dict[str, float]], config: TrainConfig
) -> dict[str, Any]:
    """:attr:`FitResult.quality`: one eval-mode inference pass over the training frames."""
    device = "cuda" if config.use_gpu and torch.cuda.is_available() else "cpu"
    predicted = predict_logits(model, frames.iq, batch_size=QUALITY_BATCH_SIZE, device=device)
    predicted = predicted.argmax(1)
    model.cpu()
    train_accuracy = float((predicted == frames.labels).mean())
    predicted_classes = len(np.unique(predicted))
    num_classes = len(np.unique(frames.labels))
    return {
        "train_accuracy": train_accuracy,
        "predicted_classes": predicted_classes,
        "classes": num_classes,
        "chance": 1 / num_classes,
        "steps": int(history[-1].get("steps", 0)) if history else 0,
        "warning": learning_warning(train_accuracy, predicted_classes, num_classes),
    }


@dataclass(frozen=True)
class SemanticHead:
    """An auxiliary head trained beside the class head and dropped afterwards.

    ``Linear(embedding_dim, s)`` on the model's embedding regresses each frame's class vector
    ``vectors[label]`` (mean squared error, times ``weight``, added to the cross-entropy), so
    the embedding varies along the semantics: the zero-shot feature CNN (docs/zsl.md,
    "Semantics-aligned features"). The history's ``semantic_error`` is the epoch's unweighted
    mean squared error.

    Attributes:
        vectors: ``[C, s]`` float32, one row per class (only the trained classes' rows are read).
        weight: the regression term's weight (> 0).
    """

    vectors: np.ndarray
    weight: float

    def __post_init__(self) -> None:
        if self.weight <= 0 or np.ndim(self.vectors) != 2:
            raise ValueError("SemanticHead needs vectors [C, s] and a weight > 0")
        if not np.isfinite(self.vectors).all():
            raise ValueError("SemanticHead vectors hold NaN or inf")


class _SemanticLoss:
    """The weighted regression term of a :class:`SemanticHead` (built after the model, so the
    model's initial weights are those of a plain fit with the same seed)."""

    def __init__(self, spec: dict[str, Any], model: nn.Module, device: torch.device) -> None:
        self.vectors = torch.as_tensor(spec["vectors"], dtype=torch.float32, device=device)
        self.head = nn.Linear(model.embedding_dim, self.vectors.shape[1]).to(device)
        self.weight = float(spec["weight"])
        self.total, self.frames = 0.0, 0

    def __call__(self, embedding: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        error = nn.functional.mse_loss(self.head(embedding), self.vectors[labels])
        self.total += error.item() * len(labels)
        self.frames += len(labels)
        return self.weight * error

    def epoch_error(self) -> float:
        """Mean squared error of the epoch's frames (unweighted); starts the next epoch."""
        error, self.total, self.frames = self.total / max(self.frames, 1), 0.0, 0
        return error


def _train(job: dict[str, Any], rank: int, world: int, wrap: Callable, report: Callable):
    """The training loop shared by both backends; returns (unwrapped model, history)."""
    config = TrainConfig(**job["config"])
    device = _device(config)
    frames = job["frames"]
    torch.manual_seed(config.seed)
    rng = seeds.rng(config.seed, Stream.TRAIN_ORDER)
    train_pos, val_pos = _validation_split(frames, config.val_fraction, rng)
    model = models.build(job["model_name"], job["num_classes"], frames.iq.shape[-1]).to(device)
    net = wrap(model)
    aligned = (
        _SemanticLoss(job["semantic_head"], model, device) if job.get("semantic_head") else None
    )
    parameters = [*net.parameters(), *(aligned.head.parameters() if aligned else ())]
    optimizer = (
        torch.optim.Adam(parameters, lr=config.lr, weight_decay=config.weight_decay)
        if config.optimizer == "adam"
        else torch.optim.SGD(
            parameters, lr=config.lr, momentum=0.9, weight_decay=config.weight_decay
        )
    )
    schedule = (
        torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, config.epochs)
        if config.lr_schedule == "cosine"
        else None
    )
    iq = torch.as_tensor(frames.iq)
    labels = torch.as_tensor(frames.labels.astype(np.int64))
    share = len(train_pos) // world
    if share < 1:
        raise ValueError(f"{len(train_pos)} training frames cannot feed {world} workers")
    batch_size = train_batch_size(share, config)
    if batch_size < config.batch_size:
        log.debug(
            "%d frames per worker: batch %d instead of %d for >= %d steps (min_steps)",
            share,
            batch_size,
            config.batch_size,
            config.min_steps,
        )
    loss_fn = nn.CrossEntropyLoss()
    history, best, best_state, stale, steps = [], math.inf, None, 0, 0
    for epoch in range(1, config.epochs + 1):
        net.train()
        order = rng.permutation(train_pos)[rank * share : (rank + 1) * share]
        total, seen, correct = 0.0, 0, 0
        for pos in np.array_split(order, -(-share // batch_size)):  # equal sizes, no runt
            x, y = iq[pos].to(device), labels[pos].to(device)
            with torch.autocast(device.type, torch.bfloat16, enabled=config.amp and config.use_gpu):
                if aligned is None:
                    logits = net(x)
                    loss = loss_fn(logits.float(), y)
                else:
                    embedding, logits = embedding_and_logits(net, x)
                    loss = loss_fn(logits.float(), y) + aligned(embedding.float(), y)
            if not torch.isfinite(loss):
                raise TrainingDivergedError(f"loss became {loss.item()} at epoch {epoch}")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            steps += 1
            total += loss.item() * len(pos)
            seen += len(pos)
            correct += int((logits.argmax(1) == y).sum())
        if schedule is not None:
            schedule.step()
        record = {"epoch": epoch, "loss": total / seen, "accuracy": correct / seen, "steps": steps}
        if aligned is not None:
            record["semantic_error"] = aligned.epoch_error()
        if len(val_pos):
            val_logits = predict_logits(model, frames.iq[val_pos], device=str(device))
            val_labels = labels[val_pos].numpy()
            record["val_loss"] = float(
                loss_fn(torch.as_tensor(val_logits), torch.as_tensor(val_labels))
            )
            record["val_accuracy"] = float((val_logits.argmax(1) == val_labels).mean())
        history.append(record)
        report(record)
        log.debug("epoch %d/%d %s", epoch, config.epochs, record)
        if config.patience is not None:
            if record["val_loss"] < best:
                best, stale = record["val_loss"], 0
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                stale += 1
                if stale >= config.patience:
                    break
    if best_state is not None:
        model.load_state_dict(best_state)
    last = history[-1]
    log.info(
        "trained %s on %d frames: %d epochs, loss %.4f, train accuracy %.3f (-vv: every epoch)",
        job["model_name"],
        len(train_pos),
        last["epoch"],
        last["loss"],
        last["accuracy"],
    )
    return model.cpu(), history


def _fit_on_ray(job: dict[str, Any], config: TrainConfig):
    """``_train`` on ``config.workers`` Ray Train workers, the frames in the object store."""
    from engine._internal.ray_train import run_on_ray_train

    settings = {key: value for key, value in job.items() if key != "frames"}
    return run_on_ray_train(
        _train,
        settings,
        {"frames": job["frames"]},
        name="fit",
        workers=config.workers,
        cpus_per_worker=config.cpus_per_worker,
        use_gpu=config.use_gpu,
    )


def read_finite_frames(data_uri: str, ids: np.ndarray) -> Frames:
    """The frames with ``ids``, refusing NaN or inf IQ (a corrupt dataset) with one line."""
    frames = read_frames(data_uri, ids)
    finite = np.isfinite(frames.iq).reshape(len(frames), -1).all(axis=1)
    if not finite.all():
        raise ValueError(
            f"{data_uri}: frame id {int(frames.ids[~finite][0])} holds NaN or inf IQ "
            f"({int((~finite).sum())} such frames): the dataset is corrupt "
            "(`duse data verify` lists its bad shards)"
        )
    return frames


def fit(
    model_name: str,
    data_uri: str,
    ids: np.ndarray,
    config: TrainConfig | None = None,
    on_epoch: Callable[[int, FitResult], None] | None = None,
    semantic_head: SemanticHead | None = None,
) -> FitResult:
    """Train ``model_name`` on the frames with ``ids`` of the dataset at ``data_uri``.

    Args:
        model_name: a name from ``models.available()``.
        data_uri: dataset directory.
        ids: training frame ids (at least two classes).
        config: training settings (default :class:`TrainConfig`).
        on_epoch: called after every epoch with the epoch number and a copy of the weights
            (training dynamics, e.g. forgetting events); in-process training only.
        semantic_head: also regress each frame's class vector from the embedding (an auxiliary
            head, not part of the result); in-process training only.

    Returns:
        The trained weights, the per-epoch history (loss, train-mode accuracy, cumulative
        optimizer steps, val_* if held out) and :attr:`FitResult.quality`, measured on the
        training frames in eval mode; a model that did not learn
        (:func:`learning_warning`) is also logged as a warning.

    Raises:
        KeyError: unknown model or ids not in the dataset. ValueError: empty ids, one class,
            a frame length the model cannot take, or a GPU requested where none exists.
        TrainingDivergedError: NaN/inf loss (the message names the epoch).
    """
    config = config or TrainConfig()
    if on_epoch is not None and config.workers:
        raise ValueError("on_epoch needs in-process training (workers: 0)")
    if semantic_head is not None and config.workers:
        raise ValueError("semantic_head needs in-process training (workers: 0)")
    ids = np.asarray(ids, np.int64)
    if len(ids) == 0:
        raise ValueError("fit needs at least one training id, got none")
    meta = read_meta(data_uri)
    with torch.random.fork_rng():  # building initialises weights: keep the caller's RNG
        models.build(model_name, meta.num_classes, meta.length)  # fail fast on name / length
    if semantic_head is not None and len(semantic_head.vectors) != meta.num_classes:
        raise ValueError(
            f"semantic_head has {len(semantic_head.vectors)} class vectors for "
            f"{meta.num_classes} classes"
        )
    frames = read_finite_frames(data_uri, ids)
    if len(np.unique(frames.labels)) < 2:
        raise ValueError(f"training frames hold one class only ({meta.classes[frames.labels[0]]})")
    job = {
        "model_name": model_name,
        "num_classes": meta.num_classes,
        "config": asdict(config),
        "frames": frames,
        "semantic_head": None if semantic_head is None else asdict(semantic_head),
    }
    if config.workers == 0:
        _device(config)
        live: dict[str, nn.Module] = {}  # the model _train builds, for on_epoch's snapshots

        def keep(model: nn.Module) -> nn.Module:
            live["model"] = model
            return model

        def report(record: dict[str, float]) -> None:
            state = {k: v.detach().clone().cpu() for k, v in live["model"].state_dict().items()}
            weights = FitResult(model_name, meta.num_classes, meta.length, state)
            on_epoch(int(record["epoch"]), weights)

        hooks = (keep, report) if on_epoch is not None else (lambda m: m, lambda record: None)
        with torch.random.fork_rng():  # leave the caller's torch RNG untouched
            model, history = _train(job, 0, 1, *hooks)
        state = model.state_dict()
    else:
        state, history = _fit_on_ray(job, config)
        with torch.random.fork_rng():
            model = models.build(model_name, meta.num_classes, meta.length)
        model.load_state_dict(state)
    quality = _fit_quality(model, frames, history, config)
    if quality["warning"] is not None:
        log.warning(
            "%s trained on %d frames (%d steps) %s",
            model_name,
            len(frames),
            quality["steps"],
            quality["warning"],
        )
    return FitResult(
        model_name,
        meta.num_classes,
        meta.length,
        state,
        history,
        asdict(config),
        meta.classes,
        quality,
    )


def evaluate(
    result: FitResult, data_uri: str, ids: np.ndarray, *, batch_size: int = 1024
) -> dict[str, Any]:
    """Test metrics of trained weights on the frames with ``ids``.

    Returns:
        JSON-ready dict: ``accuracy``, ``per_snr`` (``{snr: accuracy}``), ``per_class``
        (``{class: accuracy}``), ``confusion`` (rows = true class, columns = predicted), ``n``.
    """
    meta = read_meta(data_uri)
    result.check_data(meta, data_uri)
    frames = read_finite_frames(data_uri, ids)
    if len(frames) == 0:
        raise ValueError("evaluate needs at least one id, got none")
    predicted = predict_logits(result.model(), frames.iq, batch_size=batch_size).argmax(1)
    truth = frames.labels.astype(np.int64)
    hit = predicted == truth
    confusion = confusion_matrix(truth, predicted, meta.num_classes)
    known = np.unique(frames.snr_db[~np.isnan(frames.snr_db)])  # NaN: SNR unknown
    per_snr = {f"{s:g}": float(hit[frames.snr_db == s].mean()) for s in known}
    per_class = {
        name: float(hit[truth == c].mean())
        for c, name in enumerate(meta.classes)
        if (truth == c).any()
    }
    return {
        "n": len(frames),
        "accuracy": float(hit.mean()),
        "per_snr": per_snr,
        "per_class": per_class,
        "classes": meta.classes,
        "confusion": confusion.tolist(),
    }


def confused_pairs(metrics: dict[str, Any], k: int = 5) -> list[tuple[str, str, float]]:
    """The ``k`` largest off-diagonal confusions of :func:`evaluate`'s metrics.

    Returns:
        ``(true class, predicted class, share of the true class's frames)``, largest first.
    """
    confusion = np.asarray(metrics["confusion"], np.float64)
    share = confusion / np.maximum(confusion.sum(1, keepdims=True), 1)
    np.fill_diagonal(share, 0)
    order = np.argsort(share, axis=None)[::-1][:k]
    rows, cols = np.unravel_index(order, share.shape)
    classes = metrics["classes"]
    return [(classes[r], classes[c], float(share[r, c])) for r, c in zip(rows, cols, strict=True)]
