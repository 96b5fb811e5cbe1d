"""Typed SigZSLNet run configuration (YAML; unknown keys are errors) and the seen/unseen groups."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from engine._internal.config import checked_fields
from engine.training import TrainConfig

__all__ = [
    "TABLE4_GROUPS",
    "ClassifierConfig",
    "GanConfig",
    "GroupSplit",
    "SemanticConfig",
    "TuneSettings",
    "ZslConfig",
    "load_config",
    "resolve_group",
]

SEMANTIC_MODES = ("learned", "attributes")


def _from_dict(cls: type, values: dict[str, Any] | None, section: str) -> Any:
    return cls(**checked_fields(cls, values or {}, f"{section} config"))


def _check(section: str, checks: dict[str, bool], values: Any) -> None:
    for key, ok in checks.items():
        if not ok:
            raise ValueError(f"bad {section} config {key}={getattr(values, key)!r}")


@dataclass(frozen=True)
class SemanticConfig:
    """Semantic vectors: the learned module (Table 1, Eq. 2) or the plain attribute vector.

    Attributes:
        mode: ``"learned"`` (the seed) or ``"attributes"`` (ablation: L2-normalised codes).
        epochs: passes over the seen training frames.
        batch_size: frames per step.
        lr: Adam learning rate.
    """

    mode: str = "learned"
    epochs: int = 5
    batch_size: int = 128
    lr: float = 1e-3

    def __post_init__(self) -> None:
        checks = {
            "mode": self.mode in SEMANTIC_MODES,
            "epochs": self.epochs >= 1,
            "batch_size": self.batch_size >= 1,
            "lr": self.lr > 0,
        }
        _check("semantic", checks, self)


@dataclass(frozen=True)
class GanConfig:
    """Conditional WGAN-GP on features (defaults from f-CLSWGAN, reference/zsl.md §2.2, §6).

    Attributes:
        epochs: generator passes over the real seen features; each generator step follows
            ``critic_steps`` critic steps on fresh batches (f-CLSWGAN's schedule).
        batch_size: features per critic step per worker.
        critic_steps: critic steps per generator step (n_critic).
        gp_weight: λ of the gradient penalty (the seed: 10).
        lr: Adam learning rate of G and D (β1 0.5, β2 0.999).
        noise_dim: Gaussian noise size, concatenated to the semantic vector.
        hidden: hidden units of G and D (the seed: 256).
        workers: 0 trains in this process; N >= 1 on Ray Train with N workers.
        cpus_per_worker: CPUs per Ray Train worker.
    """

    epochs: int = 40
    batch_size: int = 64
    critic_steps: int = 5
    gp_weight: float = 10.0
    lr: float = 1e-4
    noise_dim: int = 64
    hidden: int = 256
    workers: int = 0
    cpus_per_worker: float = 1.0

    def __post_init__(self) -> None:
        checks = {
            "epochs": self.epochs >= 1,
            "batch_size": self.batch_size >= 2,
            "critic_steps": self.critic_steps >= 1,
            "gp_weight": self.gp_weight >= 0,
            "lr": self.lr > 0,
            "noise_dim": self.noise_dim >= 1,
            "hidden": self.hidden >= 1,
            "workers": self.workers >= 0,
            "cpus_per_worker": self.cpus_per_worker > 0,
        }
        _check("gan", checks, self)


@dataclass(frozen=True)
class ClassifierConfig:
    """The final classifier on real seen + synthetic unseen features.

    Attributes:
        epochs: passes over the mixed feature set (fixed: no selection on test data).
        batch_size: features per step.
        lr: Adam learning rate (β1 0.5).
        synthetic_per_class: synthetic features per unseen class; None: the mean count of real
            training features per seen class.
        calibration: γ subtracted from seen-class logits at test time (calibrated stacking,
            Chao et al. 2016); 0 = the seed's plain argmax.
    """

    epochs: int = 30
    batch_size: int = 128
    lr: float = 1e-3
    synthetic_per_class: int | None = None
    calibration: float = 0.0

    def __post_init__(self) -> None:
        checks = {
            "epochs": self.epochs >= 1,
            "batch_size": self.batch_size >= 1,
            "lr": self.lr > 0,
            "synthetic_per_class": self.synthetic_per_class is None
            or self.synthetic_per_class >= 1,
        }
        _check("classifier", checks, self)


@dataclass(frozen=True)
class TuneSettings:
    """Ray Tune: the group x seed grid, and the search over GAN/classifier settings.

    Attributes:
        max_concurrent_trials: trials at once (each trial trains in its own worker process).
        cpus_per_trial: CPUs reserved per trial.
        num_samples: configurations drawn by the search (``duse zsl --search``).
        holdout_classes: seen classes held out as pseudo-unseen for validation (the search
            selects on H of this validation split; the test set is never read).
        space: search space: key -> list of values (``tune.choice``); keys are
            ``gan.<field>`` or ``classifier.<field>``.
    """

    max_concurrent_trials: int = 1
    cpus_per_trial: float = 1.0
    num_samples: int = 8
    holdout_classes: int = 1
    space: dict[str, list[Any]] = field(
        default_factory=lambda: {
            "classifier.synthetic_per_class": [300, 1100, 3300],
            "gan.noise_dim": [16, 64, 128],
            "gan.critic_steps": [1, 5],
            "gan.lr": [1e-4, 3e-4, 1e-3],
            "classifier.lr": [3e-4, 1e-3],
        }
    )

    def __post_init__(self) -> None:
        checks = {
            "max_concurrent_trials": self.max_concurrent_trials >= 1,
            "cpus_per_trial": self.cpus_per_trial > 0,
            "num_samples": self.num_samples >= 1,
            "holdout_classes": self.holdout_classes >= 1,
            "space": all(
                k.split(".")[0] in ("gan", "classifier") and isinstance(v, list) and v
                for k, v in self.space.items()
            ),
        }
        _check("tune", checks, self)


@dataclass(frozen=True)
class GroupSplit:
    """Seen and unseen classes of one experiment (seed Table 4).

    Attributes:
        name: label used in output paths and tables (``group1`` ... or the user's).
        seen: seen class names (training data allowed).
        unseen: unseen class names (no training data, ever).
    """

    name: str
    seen: tuple[str, ...]
    unseen: tuple[str, ...]


# Seed Table 4. Group 4's unseen classes follow Table 4 and the Fig. 7 text (4ASK, 64QAM); the
# §3.1 sentence naming {QPSK, 4ASK} repeats Group 3 (reference/zsl.md §1.5 item 2).
TABLE4_GROUPS: dict[int, tuple[str, ...]] = {
    1: ("BPSK",),
    2: ("2ASK",),
    3: ("QPSK", "4ASK"),
    4: ("4ASK", "64QAM"),
}


def resolve_group(spec: int | dict[str, Any], classes: list[str] | tuple[str, ...]) -> GroupSplit:
    """A group from a Table 4 number or ``{name?, unseen: [...], seen?: [...]}``.

    Seen defaults to every class of the dataset that is not unseen.

    Raises:
        KeyError: unknown group number or class name. ValueError: no seen or no unseen class,
            or a class both seen and unseen.
    """
    if isinstance(spec, int) and not isinstance(spec, bool):
        if spec not in TABLE4_GROUPS:
            raise KeyError(f"unknown group {spec}; Table 4 has groups {sorted(TABLE4_GROUPS)}")
        spec = {"name": f"group{spec}", "unseen": list(TABLE4_GROUPS[spec])}
    if not isinstance(spec, dict) or not set(spec) <= {"name", "seen", "unseen"}:
        raise ValueError(f"a group is a Table 4 number or {{name, seen, unseen}}, got {spec!r}")
    unseen = tuple(spec.get("unseen") or ())
    seen = tuple(spec.get("seen") or [c for c in classes if c not in unseen])
    for name in (*seen, *unseen):
        if name not in classes:
            raise KeyError(f"group class {name!r} is not in the dataset's classes {list(classes)}")
    if not unseen:
        raise ValueError(f"group {spec!r} has no unseen class")
    if not seen:
        raise ValueError(f"group {spec!r} has no seen class")
    if set(seen) & set(unseen):
        raise ValueError(f"classes {sorted(set(seen) & set(unseen))} are both seen and unseen")
    name = spec.get("name") or "unseen-" + "-".join(unseen)
    return GroupSplit(str(name), seen, unseen)


@dataclass(frozen=True)
class ZslConfig:
    """One SigZSLNet run: data, semantics, the three training stages, groups and seeds.

    Attributes:
        data: dataset URI (canonical format).
        out: output directory (results JSON, tables, figures).
        generate: if set and ``data`` does not exist, generate it first:
            ``{profile, scale, seed}`` (e.g. ``sigzsl7`` at scale 0.25).
        attributes: a built-in attribute table name or a YAML path.
        attribute_columns: use only these attribute columns (None: all).
        attribute_encoding: ``"onehot"`` (the seed) or ``"thermometer"``.
        groups: Table 4 numbers and/or ``{name, seen, unseen}`` dicts.
        seeds: one run per seed and group (the seed paper: 5 runs).
        test_fraction: share of each (class, SNR) held out for test (the seed: 100 of 400).
        split_seed: seed of the train/test split (shared by all runs).
        eval_snr_db: SNR of the confusion matrices (Fig. 6: 6 dB).
        tsne_snrs_db: SNRs of the t-SNE panels (Fig. 7).
        figures: draw the figures (first seed of each group).
        cnn: feature CNN training (``engine.training.TrainConfig`` keys).
        cnn_weights: a feature CNN trained elsewhere (a saved ``engine.training.FitResult``
            with a ``features`` embedding, e.g. ``duse train --model sigzsl_cnn --out``), used
            instead of training one per group; what it was trained on is the caller's
            responsibility (the seed's was pre-trained on RML2018.01a, which holds every class).
        semantic: :class:`SemanticConfig`.
        gan: :class:`GanConfig`.
        classifier: :class:`ClassifierConfig`.
        tune: :class:`TuneSettings`.
    """

    data: str
    out: str
    generate: dict[str, Any] | None = None
    attributes: str = "sigzsl7"
    attribute_columns: list[str] | None = None
    attribute_encoding: str = "onehot"
    groups: list[int | dict[str, Any]] = field(default_factory=lambda: [1, 2, 3, 4])
    seeds: list[int] = field(default_factory=lambda: [0])
    test_fraction: float = 0.25
    split_seed: int = 0
    eval_snr_db: float = 6.0
    tsne_snrs_db: list[float] = field(default_factory=lambda: [0.0, 4.0, 6.0, 10.0])
    figures: bool = True
    cnn: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=10, batch_size=64))
    cnn_weights: str | None = None
    semantic: SemanticConfig = field(default_factory=SemanticConfig)
    gan: GanConfig = field(default_factory=GanConfig)
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)
    tune: TuneSettings = field(default_factory=TuneSettings)

    def __post_init__(self) -> None:
        checks = {
            "test_fraction": 0 < self.test_fraction < 1,
            "seeds": bool(self.seeds),
            "groups": bool(self.groups),
            "attribute_encoding": self.attribute_encoding in ("onehot", "thermometer"),
            "generate": self.generate is None or set(self.generate) <= {"profile", "scale", "seed"},
        }
        _check("zsl", checks, self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ZslConfig:
        """Build from a dict (as read from YAML); unknown keys are errors at every level."""
        values = dict(values)
        sections = {
            "cnn": TrainConfig,
            "semantic": SemanticConfig,
            "gan": GanConfig,
            "classifier": ClassifierConfig,
            "tune": TuneSettings,
        }
        for key, section_cls in sections.items():
            if key in values:
                current = values[key]
                if key == "cnn":
                    current = {"epochs": 10, "batch_size": 64, **(current or {})}
                values[key] = _from_dict(section_cls, current, key)
        return _from_dict(cls, values, "zsl")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready nested dict (round-trips through :meth:`from_dict`)."""
        return asdict(self)

    def replace(self, **changes: Any) -> ZslConfig:
        """A copy with top-level fields or dotted section fields (``"gan.lr"``) changed."""
        body = self.to_dict()
        for key, value in changes.items():
            section, _, name = key.partition(".")
            if name:
                body[section][name] = value
            else:
                body[section] = value
        return ZslConfig.from_dict(body)


def load_config(path: str | Path, **overrides: Any) -> ZslConfig:
    """Read a YAML run config; ``overrides`` as in :meth:`ZslConfig.replace`.

    Raises:
        FileNotFoundError: no such file. KeyError: unknown keys. ValueError: bad values.
    """
    body = yaml.safe_load(Path(path).read_text()) or {}
    if not isinstance(body, dict):
        raise ValueError(f"{path}: a ZSL config is a mapping")
    config = ZslConfig.from_dict(body)
    return config.replace(**overrides) if overrides else config
