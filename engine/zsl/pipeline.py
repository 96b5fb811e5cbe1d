"""The SigZSLNet pipeline for one group and seed, and a plain loop over groups and seeds.

Stages (seed §2.2, Algorithms 1-3), each trained on seen-class data only:

1. feature CNN (Table 2) on seen training frames (``engine.training.fit``, in-process or Ray
   Train), then 128-d features of every frame, scaled by the largest seen training feature;
2. semantic vectors: the semantic module (Table 1, Eq. 2) trained on seen frames and the seen
   classes' description encodings, then φ(t) of every class; or the plain attribute vectors;
3. WGAN-GP (``engine.zsl.gan``) on seen features conditioned on their semantic vectors;
4. synthetic features for the unseen classes, and the classifier (FC 128 + PReLU, softmax over
   all classes) on real seen + synthetic unseen features;
5. S, U, H, accuracy overall / per SNR / per class, confusion matrices, for SigZSLNet and for
   the no-GAN baseline (nearest semantic prototype).

:func:`check_seen_only` guards every training stage: an unseen-class label raises
:class:`UnseenDataError`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from dataclasses import asdict
from typing import Any

import numpy as np
import torch
from torch import nn

from engine._internal import seeds
from engine._internal.atomic import write_json, write_text
from engine._internal.resume import config_differences
from engine._internal.seeds import Stream
from engine.data.schema import DatasetMeta
from engine.data.store import read_frames, read_index, read_meta
from engine.training import (
    FitResult,
    SemanticHead,
    TrainConfig,
    TrainingDivergedError,
    fit,
    predict_logits,
)
from engine.zsl.attributes import AttributeTable, load_attribute_table
from engine.zsl.config import ClassifierConfig, GroupSplit, SemanticConfig, ZslConfig, resolve_group
from engine.zsl.evaluation import (
    best_gamma,
    compatibility_scores,
    prototype_baseline,
    seen_unseen_curve,
    zsl_metrics,
)
from engine.zsl.gan import synthesize, train_gan
from engine.zsl.semantics import PHYSICS, physics_table
from models.zsl import SemanticModule, ZslClassifier, joint_embedding_loss

__all__ = [
    "UnseenDataError",
    "check_seen_only",
    "ensure_data",
    "load_table",
    "run_group",
    "run_zsl",
    "semantic_vectors",
    "split_train_test",
    "train_classifier",
    "train_semantic_module",
]

log = logging.getLogger(f"duse.{__name__}")


class UnseenDataError(ValueError):
    """An unseen-class sample reached a training stage (zero-shot leakage)."""


def check_seen_only(labels: np.ndarray, seen: list[int], stage: str) -> None:
    """Raise :class:`UnseenDataError` if any label is not a seen class.

    Args:
        labels: labels about to be trained on.
        seen: the seen label indices.
        stage: name of the training stage (for the message).
    """
    leaked = np.setdiff1d(np.unique(np.asarray(labels)), np.asarray(seen))
    if len(leaked):
        raise UnseenDataError(
            f"{stage}: training data holds labels {leaked.tolist()} outside the seen classes "
            f"{sorted(seen)}; unseen-class data must never be trained on"
        )


def split_train_test(
    labels: np.ndarray, snr_db: np.ndarray, ids: np.ndarray, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per (class, SNR) random split (the seed: 300 train / 100 test of 400).

    Returns:
        ``(train ids, test ids)``, each sorted; every key keeps at least one training frame.
    """
    rng = seeds.rng(seed, Stream.ZSL_SPLIT)
    train, test = [], []
    for label in np.unique(labels):
        for snr in np.unique(snr_db[labels == label]):
            members = rng.permutation(ids[(labels == label) & (snr_db == snr)])
            cut = min(len(members) - 1, round(test_fraction * len(members)))
            test.append(members[:cut])
            train.append(members[cut:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def ensure_data(config: ZslConfig) -> None:
    """Generate ``config.data`` from ``config.generate`` when it does not exist yet."""
    if config.generate is None:
        return
    from engine.data.generate import ensure_generated

    options = {"scale": 1.0, "seed": 0, **config.generate}
    ensure_generated(config.data, options.pop("profile", "sigzsl7"), executor="local", **options)


def load_table(config: ZslConfig, classes: list[str] | None = None) -> AttributeTable:
    """The configured attribute table (column subset applied).

    ``attributes: physics`` computes it for ``classes`` from their constellations
    (:func:`engine.zsl.semantics.physics_table`).
    """
    if config.attributes == PHYSICS:
        if classes is None:
            raise ValueError("physics semantics are computed for given classes; pass classes")
        table = physics_table(classes, config.constellations)
    else:
        table = load_attribute_table(config.attributes)
    return table.select(config.attribute_columns) if config.attribute_columns else table


@contextlib.contextmanager
def _torch_threads(count: int):
    """Run tiny-MLP stages on ``count`` intra-op threads (extra threads only spin on them)."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _seeded(seed: int):
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


def train_semantic_module(
    iq: np.ndarray,
    labels: np.ndarray,
    encodings: np.ndarray,
    seen: list[int],
    config: SemanticConfig,
    seed: int,
) -> SemanticModule:
    """Train the semantic module (Table 1) with the joint-embedding loss (Eq. 2).

    Args:
        iq: seen training frames ``[n, 2, L]``.
        labels: their labels ``[n]`` (indices into ``encodings``).
        encodings: description encodings of all classes ``[C, K, T]``; only the seen rows are
            used in training.
        seen: seen label indices.
        config: :class:`SemanticConfig`.
        seed: seeds weights and shuffling.

    Returns:
        The trained module (eval mode).
    """
    check_seen_only(labels, seen, "semantic module")
    with torch.random.fork_rng():
        rng = _seeded(seed)
        module = SemanticModule(iq.shape[-1], encodings.shape[1], encodings.shape[2])
        optimizer = torch.optim.Adam(module.parameters(), lr=config.lr)
        seen_encodings = torch.as_tensor(encodings[seen])
        local = {label: row for row, label in enumerate(seen)}  # class index -> seen row
        targets = torch.as_tensor(np.array([local[int(v)] for v in labels]), dtype=torch.long)
        frames = torch.as_tensor(iq)
        module.train()
        for epoch in range(1, config.epochs + 1):
            order = rng.permutation(len(frames))
            total = 0.0
            for start in range(0, len(order), config.batch_size):
                pos = order[start : start + config.batch_size]
                signal, described = module(frames[pos], seen_encodings)
                loss = joint_embedding_loss(signal, described, targets[pos])
                if not torch.isfinite(loss):
                    raise TrainingDivergedError(f"semantic loss became {loss.item()} at {epoch}")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total += loss.item() * len(pos)
            log.info("semantic epoch %d/%d loss %.4f", epoch, config.epochs, total / len(order))
    return module.eval()


def semantic_vectors(
    table: AttributeTable,
    classes: list[str],
    config: ZslConfig,
    iq: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    seen: list[int] | None = None,
    seed: int = 0,
) -> np.ndarray:
    """One L2-normalised semantic vector per class ``[C, s]`` float32.

    ``semantic.mode == "attributes"``: the attribute vectors (``s`` = code length).
    ``"learned"``: φ(t) of the semantic module trained on ``iq``/``labels`` of ``seen`` (s = 64).

    Raises:
        KeyError: a class is missing from the attribute table.
        ValueError: two classes end up with (almost) identical vectors.
    """
    encoding = config.attribute_encoding
    if config.semantic.mode == "attributes":
        vectors = table.vectors(classes, encoding)
    else:
        encodings = table.description_encodings(classes, encoding)
        module = train_semantic_module(iq, labels, encodings, seen, config.semantic, seed)
        with torch.no_grad():
            vectors = module.description_encoder(torch.as_tensor(encodings)).numpy()
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True).clip(1e-12)
    similarity = vectors @ vectors.T - 2 * np.eye(len(vectors))
    first, second = np.unravel_index(similarity.argmax(), similarity.shape)
    if similarity[first, second] > 1 - 1e-6:
        raise ValueError(
            f"semantic vectors of {classes[first]!r} and {classes[second]!r} collide; "
            "the generator could not tell them apart"
        )
    return vectors.astype(np.float32)


def train_classifier(
    features: np.ndarray, labels: np.ndarray, num_classes: int, config: ClassifierConfig, seed: int
) -> ZslClassifier:
    """Train the final classifier (§2.2.4, Eq. 7) on real seen + synthetic unseen features.

    Returns:
        The trained classifier (eval mode); logits over all ``num_classes``.
    """
    with torch.random.fork_rng():
        rng = _seeded(seed)
        model = ZslClassifier(num_classes, features.shape[1])
        optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, betas=(0.5, 0.999))
        x = torch.as_tensor(features, dtype=torch.float32)
        y = torch.as_tensor(labels, dtype=torch.long)
        for _ in range(config.epochs):
            order = rng.permutation(len(x))
            for start in range(0, len(order), config.batch_size):
                pos = order[start : start + config.batch_size]
                loss = nn.functional.cross_entropy(model(x[pos]), y[pos])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
    return model.eval()


def _logits(model: ZslClassifier, features: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.as_tensor(features)).numpy()


def _predict(logits: np.ndarray, seen: list[int], gamma: float) -> np.ndarray:
    logits = logits.copy()
    logits[:, seen] -= gamma  # calibrated stacking; gamma = 0 is the plain argmax
    return logits.argmax(1)


def validation_task(
    config: ZslConfig, group: GroupSplit
) -> tuple[GroupSplit, np.ndarray, np.ndarray]:
    """The validation task for ``group``: no unseen class and no test frame in it.

    Within the group's seen classes, ``tune.holdout_classes`` classes (seeded draw) play the
    unseen role; the group's seen *training* frames are split again per (class, SNR) into
    train' and validation. The settings search (``engine.zsl.tune``) and ``calibration:
    validation`` select on it.

    Returns:
        ``(pseudo group, train' ids, validation ids)``; all ids are seen-class training ids.

    Raises:
        ValueError: fewer than ``holdout_classes + 1`` seen classes.
    """
    holdout = config.tune.holdout_classes
    if len(group.seen) <= holdout:
        raise ValueError(
            f"{group.name} has {len(group.seen)} seen classes: too few to hold {holdout} out"
        )
    rng = seeds.rng(config.split_seed, Stream.ZSL_VALIDATION)
    pseudo_unseen = tuple(sorted(rng.choice(group.seen, holdout, replace=False).tolist()))
    pseudo = GroupSplit(
        f"{group.name}-validation",
        tuple(c for c in group.seen if c not in pseudo_unseen),
        pseudo_unseen,
    )
    index = read_index(config.data)
    classes = read_meta(config.data).classes
    train_ids, _ = split_train_test(
        index.labels, index.snr_db, index.ids, config.test_fraction, config.split_seed
    )
    seen_labels = [classes.index(c) for c in group.seen]
    position = np.searchsorted(index.ids, train_ids)
    keep = np.isin(index.labels[position], seen_labels)
    ids, labels, snr_db = (
        train_ids[keep],
        index.labels[position][keep],
        index.snr_db[position][keep],
    )
    train_prime, validation = split_train_test(
        labels, snr_db, ids, config.test_fraction, config.split_seed + 1
    )
    return pseudo, train_prime, validation


def _features(result: FitResult, iq: np.ndarray) -> np.ndarray:
    """128-d CNN features ``[n, 128]`` of frames ``iq`` (the embedding before the head)."""
    return predict_logits(result.model().features, iq)


class _Stopwatch:
    def __init__(self) -> None:
        self.times: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.times[name] = round(now - self._last, 2)
        self._last = now


def run_group(
    config: ZslConfig,
    group: GroupSplit,
    seed: int,
    *,
    train_ids: np.ndarray | None = None,
    test_ids: np.ndarray | None = None,
    out_dir: str | None = None,
    figures: bool | None = None,
) -> dict[str, Any]:
    """Run the whole pipeline for one group and seed.

    Args:
        config: the run configuration.
        group: seen and unseen classes.
        seed: seeds every stage.
        train_ids: training ids (default: the config's per-(class, SNR) split); only seen-class
            ids among them are trained on.
        test_ids: evaluation ids (default: the split's test part).
        out_dir: write ``results.json`` (and figures) here; None writes nothing.
        figures: draw figures (default: ``config.figures``).

    Returns:
        JSON-ready results: ``sigzslnet`` and ``baseline`` metrics (see
        :func:`engine.zsl.evaluation.zsl_metrics`), ``group``, ``seed``, ``histories``,
        ``seconds`` per stage.
    """
    watch = _Stopwatch()
    meta = read_meta(config.data)
    classes = list(meta.classes)
    table = load_table(config, classes)
    for name in (*group.seen, *group.unseen):
        if name not in table.rows:
            raise KeyError(
                f"class {name!r} of {group.name} is missing from attribute table {table.name!r}"
            )
    seen = [classes.index(c) for c in group.seen]
    unseen = [classes.index(c) for c in group.unseen]
    calibration = _calibration(config, group, seed)  # first: a bad validation task fails early
    watch.lap("calibration")
    index = read_index(config.data)
    if train_ids is None or test_ids is None:
        split = split_train_test(
            index.labels, index.snr_db, index.ids, config.test_fraction, config.split_seed
        )
        train_ids = split[0] if train_ids is None else train_ids
        test_ids = split[1] if test_ids is None else test_ids
    label_of = dict(zip(index.ids.tolist(), index.labels.tolist(), strict=True))
    seen_train_ids = np.array([i for i in train_ids if label_of[int(i)] in seen], np.int64)
    if config.cnn_weights:
        cnn = _supplied_cnn(config.cnn_weights, meta)
    else:
        check_seen_only(np.array([label_of[int(i)] for i in seen_train_ids]), seen, "feature CNN")
        cnn = fit(
            "sigzsl_cnn",
            config.data,
            seen_train_ids,
            _cnn_config(config.cnn, seed),
            semantic_head=alignment_head(table, classes, seen, config),
        )
    watch.lap("feature_cnn")
    train = read_frames(config.data, seen_train_ids)
    test = read_frames(config.data, np.asarray(test_ids, np.int64))
    train_features, test_features = _features(cnn, train.iq), _features(cnn, test.iq)
    scale = float(train_features.max()) or 1.0
    train_features, test_features = train_features / scale, test_features / scale
    watch.lap("features")

    semantics = semantic_vectors(table, classes, config, train.iq, train.labels, seen, seed)
    watch.lap("semantics")
    check_seen_only(train.labels, seen, "WGAN-GP")
    with _torch_threads(1):
        gan = train_gan(train_features, train.labels, semantics, config.gan, seed)
        watch.lap("wgan_gp")
        per_class = config.classifier.synthetic_per_class or round(len(train.labels) / len(seen))
        synthetic, rows = synthesize(gan, semantics[unseen], per_class, seed + 1)
        synthetic_labels = np.asarray(unseen)[rows]
        check_seen_only(train.labels, seen, "classifier (real part)")
        classifier = train_classifier(
            np.concatenate([train_features, synthetic]),
            np.concatenate([train.labels, synthetic_labels]),
            len(classes),
            config.classifier,
            seed,
        )
    watch.lap("classifier")
    truth = test.labels.astype(np.int64)
    logits = _logits(classifier, test_features)
    predicted = _predict(logits, seen, calibration["sigzslnet"]["gamma"])
    baseline = prototype_baseline(train_features, train.labels, semantics, test_features)
    compatibility = compatibility_scores(
        train_features, train.labels, semantics, test_features, seen
    )
    compatible = _predict(compatibility, seen, calibration["baseline_compatibility"]["gamma"])
    evaluate = {
        "truth": truth,
        "snr_db": test.snr_db,
        "seen": seen,
        "unseen": unseen,
        "classes": classes,
        "confusion_snr_db": config.eval_snr_db,
    }
    results = {
        "group": asdict(group),
        "seed": seed,
        "classes": classes,
        "sigzslnet": {
            **zsl_metrics(predicted=predicted, **evaluate),
            "seen_unseen_curve": seen_unseen_curve(logits, truth, seen, unseen),
        },
        "baseline_prototype": zsl_metrics(predicted=baseline, **evaluate),
        "baseline_compatibility": {
            **zsl_metrics(predicted=compatible, **evaluate),
            "seen_unseen_curve": seen_unseen_curve(compatibility, truth, seen, unseen),
        },
        "calibration": calibration,
        "synthetic_per_class": per_class,
        "semantic_dim": int(semantics.shape[1]),
        "histories": {"feature_cnn": cnn.history, "wgan_gp": gan.history},
        "config": config.to_dict(),
    }
    watch.lap("evaluation")
    if out_dir is not None and (config.figures if figures is None else figures):
        from engine.zsl.figures import draw_run_figures

        draw_run_figures(
            out_dir,
            group,
            classes,
            results,
            test,
            test_features,
            synthetic,
            synthetic_labels,
            config.tsne_snrs_db,
        )
        watch.lap("figures")
    results["seconds"] = watch.times
    if out_dir is not None:
        write_json(os.path.join(out_dir, "results.json"), results, indent=1)
    return results


def _calibration(config: ZslConfig, group: GroupSplit, seed: int) -> dict[str, Any]:
    """Calibrated stacking's γ per method that takes one: SigZSLNet and the ESZSL baseline.

    A number is SigZSLNet's γ as given (ESZSL's scores have another scale: it keeps 0).
    ``"validation"`` runs the whole pipeline on :func:`validation_task` with γ = 0 and takes,
    per method, the γ of the best H on its seen-unseen curve there; no test frame and no
    unseen-class frame is read for it.
    """
    if config.classifier.calibration != "validation":
        fixed = float(config.classifier.calibration)
        return {"sigzslnet": {"gamma": fixed}, "baseline_compatibility": {"gamma": 0.0}}
    pseudo, train_ids, validation_ids = validation_task(config, group)
    log.info("zsl %s seed %d: choosing γ on %s", group.name, seed, pseudo.name)
    inner = config.replace(**{"classifier.calibration": 0.0, "figures": False})
    results = run_group(inner, pseudo, seed, train_ids=train_ids, test_ids=validation_ids)
    chosen: dict[str, Any] = {"validation_group": asdict(pseudo)}
    for method in ("sigzslnet", "baseline_compatibility"):
        gamma, h = best_gamma(results[method]["seen_unseen_curve"])
        chosen[method] = {"gamma": gamma, "validation_harmonic_mean": h}
    return chosen


def _supplied_cnn(uri: str, meta: DatasetMeta) -> FitResult:
    """The feature CNN of ``cnn_weights``, checked against the dataset."""
    cnn = FitResult.load(uri)
    if (cnn.length, cnn.num_classes) != (meta.length, meta.num_classes):
        raise ValueError(
            f"cnn_weights {uri} was trained for L={cnn.length}, {cnn.num_classes} classes; "
            f"the dataset has L={meta.length}, {meta.num_classes} classes"
        )
    if not hasattr(cnn.model(), "features"):
        raise ValueError(f"cnn_weights {uri}: model {cnn.model_name!r} has no features embedding")
    return cnn


def alignment_head(
    table: AttributeTable, classes: list[str], seen: list[int], config: ZslConfig
) -> SemanticHead | None:
    """The feature CNN's semantic head (``cnn_alignment`` > 0), else None.

    Its targets are the attribute vectors standardised per dimension over the seen classes
    (a dimension constant over them regresses to 0), so every dimension weighs alike whatever
    its code's scale; the unseen rows are never trained on (their frames are not there).
    """
    if config.cnn_alignment == 0:
        return None
    vectors = table.vectors(classes, config.attribute_encoding).astype(np.float32)
    centre, spread = vectors[seen].mean(0), vectors[seen].std(0)
    standard = (vectors - centre) / np.where(spread > 1e-6, spread, 1.0)
    return SemanticHead(standard.astype(np.float32), config.cnn_alignment)


def _cnn_config(cnn: TrainConfig, seed: int) -> TrainConfig:
    return TrainConfig(**{**asdict(cnn), "seed": seed})


def _headline(results: dict[str, Any], key: str) -> dict[str, float]:
    metrics = results[key]
    headline = {
        name: metrics[name]
        for name in ("seen_accuracy", "unseen_accuracy", "harmonic_mean", "accuracy")
    }
    if "seen_unseen_curve" in metrics:
        headline["ausuc"] = metrics["seen_unseen_curve"]["ausuc"]
    return headline


# The result keys of one run, each a method's metrics: SigZSLNet and the two no-GAN baselines.
METHODS = ("sigzslnet", "baseline_prototype", "baseline_compatibility")


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and standard deviation over seeds of S, U, H, accuracy per group and method."""
    summary: dict[str, Any] = {}
    for run in runs:
        entry = summary.setdefault(run["group"]["name"], {"group": run["group"], "runs": 0})
        entry["runs"] += 1
        for method in METHODS:
            if method in run:  # runs recorded before a baseline existed lack its key
                for name, value in _headline(run, method).items():
                    entry.setdefault(method, {}).setdefault(name, []).append(value)
    for entry in summary.values():
        for method in METHODS:
            if method in entry:
                entry[method] = {
                    name: {"mean": float(np.mean(v)), "std": float(np.std(v)), "values": v}
                    for name, v in entry[method].items()
                }
    return summary


def run_zsl(config: ZslConfig) -> dict[str, Any]:
    """Every group and seed of ``config``, one after another in this process.

    Writes ``<out>/<group>/seed<k>/results.json`` per run, and ``<out>/summary.json``,
    ``<out>/summary.md`` and the cross-group figures.

    Returns:
        The summary (see :func:`summarize`) with the per-run results under ``runs``.
    """
    ensure_data(config)
    classes = read_meta(config.data).classes
    groups = [resolve_group(spec, classes) for spec in config.groups]
    runs = []
    for group in groups:
        for number, seed in enumerate(config.seeds):
            out_dir = os.path.join(config.out, group.name, f"seed{seed}")
            done = finished_run(config, out_dir)
            if done is not None:
                log.info("zsl %s seed %d: kept the finished run in %s", group.name, seed, out_dir)
                runs.append(done)
                continue
            log.info("zsl %s seed %d", group.name, seed)
            figures = config.figures and number == 0
            runs.append(run_group(config, group, seed, out_dir=out_dir, figures=figures))
    return write_summary(config, runs)


# Settings that name which runs to do, not how one run goes: a finished run stays valid when
# they change (e.g. a rerun with more seeds or groups keeps the runs already done).
_RUN_SELECTION = ("out", "groups", "seeds", "figures", "tune")


def _json_settings(config: ZslConfig) -> dict[str, Any]:
    """Every setting, as JSON stores them (tuples become lists)."""
    return json.loads(json.dumps(config.to_dict()))


def finished_run(config: ZslConfig, out_dir: str) -> dict[str, Any] | None:
    """The results in ``out_dir`` if a run with the same settings finished there, else None.

    Settings are compared by :func:`engine._internal.resume.config_differences`, apart from
    :data:`_RUN_SELECTION`; a run with other settings, or settings this version cannot read,
    is run again (not refused as expand and the benchmark do).
    """
    path = os.path.join(out_dir, "results.json")
    if not os.path.exists(path):
        return None
    with open(path) as handle:
        results = json.load(handle)
    try:  # through from_dict: settings added since that run take their defaults
        stored = _json_settings(ZslConfig.from_dict(results["config"]))
    except (KeyError, TypeError, ValueError):
        stored = None
    if stored is None or config_differences(stored, _json_settings(config), _RUN_SELECTION):
        log.info("zsl: %s was run with other settings; running again", out_dir)
        return None
    return results


def write_summary(config: ZslConfig, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Write ``summary.json``, ``summary.md`` and cross-group figures; return the summary."""
    from engine.zsl.report import summary_markdown

    summary = summarize(runs)
    write_json(os.path.join(config.out, "summary.json"), summary, indent=1)
    write_text(os.path.join(config.out, "summary.md"), summary_markdown(summary))
    if config.figures:
        from engine.zsl.figures import draw_summary_figures

        draw_summary_figures(config.out, runs)
    return {**summary, "runs": runs}
