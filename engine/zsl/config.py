"""Typed SigZSLNet run configuration (YAML; unknown keys are errors) and the seen/unseen groups."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from engine.config import ConfigMixin, config_class, set_dotted
from engine.config import load_config as _load_config
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

# The feature CNN's defaults differ from TrainConfig's; a partial `cnn` section keeps them.
_CNN_DEFAULTS = {"epochs": 10, "batch_size": 64}


@config_class
class SemanticConfig(ConfigMixin):
    """Semantic vectors: the learned module (Table 1, Eq. 2) or the plain attribute vector."""

    config_name: ClassVar[str] = "semantic config"

    mode: Literal["learned", "attributes"] = Field(
        "learned",
        description="'learned' (the seed) or 'attributes' (ablation: L2-normalised codes)",
    )
    epochs: int = Field(5, ge=1, description="passes over the seen training frames")
    batch_size: int = Field(128, ge=1, description="frames per step")
    lr: float = Field(1e-3, gt=0, description="Adam learning rate")


@config_class
class GanConfig(ConfigMixin):
    """Conditional WGAN-GP on features (defaults from f-CLSWGAN, reference/zsl.md §2.2, §6)."""

    config_name: ClassVar[str] = "gan config"

    epochs: int = Field(
        40,
        ge=1,
        description="generator passes over the real seen features; each generator step follows "
        "critic_steps critic steps on fresh batches (f-CLSWGAN's schedule)",
    )
    batch_size: int = Field(64, ge=2, description="features per critic step per worker")
    critic_steps: int = Field(5, ge=1, description="critic steps per generator step (n_critic)")
    gp_weight: float = Field(10.0, ge=0, description="λ of the gradient penalty (the seed: 10)")
    lr: float = Field(1e-4, gt=0, description="Adam learning rate of G and D (β1 0.5, β2 0.999)")
    noise_dim: int = Field(
        64, ge=1, description="Gaussian noise size, concatenated to the semantic vector"
    )
    hidden: int = Field(256, ge=1, description="hidden units of G and D (the seed: 256)")
    workers: int = Field(
        0, ge=0, description="0 trains in this process; N >= 1 on Ray Train with N workers"
    )
    cpus_per_worker: float = Field(1.0, gt=0, description="CPUs per Ray Train worker")


@config_class
class ClassifierConfig(ConfigMixin):
    """The final classifier on real seen + synthetic unseen features."""

    config_name: ClassVar[str] = "classifier config"

    epochs: int = Field(
        30, ge=1, description="passes over the mixed feature set (fixed: no selection on test data)"
    )
    batch_size: int = Field(128, ge=1, description="features per step")
    lr: float = Field(1e-3, gt=0, description="Adam learning rate (β1 0.5)")
    synthetic_per_class: int | None = Field(
        None,
        ge=1,
        description="synthetic features per unseen class; None: the mean count of real "
        "training features per seen class",
    )
    calibration: float | Literal["validation"] = Field(
        0.0,
        description="γ subtracted from seen-class logits at test time (calibrated stacking, "
        "Chao et al. 2016); 0 = the seed's plain argmax; 'validation': the γ of the best H on "
        "the validation task (tune.holdout_classes seen classes as pseudo-unseen; never the "
        "test frames), chosen per method",
    )


def _default_space() -> dict[str, list[Any]]:
    return {
        "classifier.synthetic_per_class": [300, 1100, 3300],
        "gan.noise_dim": [16, 64, 128],
        "gan.critic_steps": [1, 5],
        "gan.lr": [1e-4, 3e-4, 1e-3],
        "classifier.lr": [3e-4, 1e-3],
    }


@config_class
class TuneSettings(ConfigMixin):
    """Ray Tune: the group x seed grid, and the search over GAN/classifier settings."""

    config_name: ClassVar[str] = "tune config"

    max_concurrent_trials: int = Field(
        1, ge=1, description="trials at once (each trial trains in its own worker process)"
    )
    cpus_per_trial: float = Field(1.0, gt=0, description="CPUs reserved per trial")
    num_samples: int = Field(
        8, ge=1, description="configurations drawn by the search (duse zsl --search)"
    )
    holdout_classes: int = Field(
        1,
        ge=1,
        description="seen classes held out as pseudo-unseen for validation (the search "
        "selects on H of this validation split; the test set is never read)",
    )
    space: dict[str, list[Any]] = Field(
        default_factory=_default_space,
        description="search space: key -> list of values (tune.choice); keys are "
        "gan.<field> or classifier.<field>",
    )

    @field_validator("space")
    @classmethod
    def _space_keys(cls, space: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for key, values in space.items():
            if key.split(".")[0] not in ("gan", "classifier") or not values:
                raise ValueError(
                    f"bad tune config space key {key!r}: keys are gan.<field> or "
                    "classifier.<field>, each with a non-empty list of values"
                )
        return space


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


@config_class
class ZslConfig(ConfigMixin):
    """One SigZSLNet run: data, semantics, the three training stages, groups and seeds."""

    config_name: ClassVar[str] = "zsl config"

    data: str = Field(description="dataset URI (canonical format)")
    out: str = Field(description="output directory (results JSON, tables, figures)")
    generate: dict[str, Any] | None = Field(
        None,
        description="if set and data does not exist, generate it first: {profile, scale, seed} "
        "(e.g. sigzsl7 at scale 0.25)",
    )
    attributes: str = Field(
        "sigzsl7",
        description="a built-in attribute table name, a YAML path, or 'physics': vectors "
        "computed from each class's constellation (engine/zsl/semantics.py)",
    )
    attribute_columns: list[str] | None = Field(
        None, description="use only these attribute columns (None: all)"
    )
    attribute_encoding: Literal["onehot", "thermometer", "value"] = Field(
        "onehot",
        description="'onehot' (the seed), 'thermometer', or 'value' (the numbers themselves; "
        "meant for attributes: physics)",
    )
    constellations: dict[str, Any] | None = Field(
        None,
        description="with attributes: physics, class name -> its constellation, for classes "
        "the generator does not make or to override it: a list of [re, im] points, "
        "{family, order} (psk, qam, ask, pam, apsk) or a generator name such as 16apsk",
    )
    groups: list[int | dict[str, Any]] = Field(
        default_factory=lambda: [1, 2, 3, 4],
        min_length=1,
        description="Table 4 numbers and/or {name, seen, unseen} mappings",
    )
    seeds: list[int] = Field(
        default_factory=lambda: [0],
        min_length=1,
        description="one run per seed and group (the seed paper: 5 runs)",
    )
    test_fraction: float = Field(
        0.25,
        gt=0,
        lt=1,
        description="share of each (class, SNR) held out for test (the seed: 100 of 400)",
    )
    split_seed: int = Field(0, description="seed of the train/test split (shared by all runs)")
    eval_snr_db: float = Field(6.0, description="SNR of the confusion matrices (Fig. 6: 6 dB)")
    tsne_snrs_db: list[float] = Field(
        default_factory=lambda: [0.0, 4.0, 6.0, 10.0],
        description="SNRs of the t-SNE panels (Fig. 7)",
    )
    figures: bool = Field(True, description="draw the figures (first seed of each group)")
    cnn: TrainConfig = Field(
        default_factory=lambda: TrainConfig(**_CNN_DEFAULTS),
        description="feature CNN training (engine.training.TrainConfig keys; epochs 10 and "
        "batch_size 64 unless given)",
    )
    cnn_alignment: float = Field(
        0.0,
        ge=0,
        description="weight of the feature CNN's auxiliary head regressing each frame's class "
        "attribute vector (standardised over the seen classes) beside the class head; 0: the "
        "seed's plain CNN (docs/zsl.md, 'Semantics-aligned features')",
    )
    cnn_weights: str | None = Field(
        None,
        description="a feature CNN trained elsewhere (a saved engine.training.FitResult with a "
        "features embedding, e.g. duse train --model sigzsl_cnn --out), used instead of "
        "training one per group; what it was trained on is the caller's responsibility (the "
        "seed's was pre-trained on RML2018.01a, which holds every class)",
    )
    semantic: SemanticConfig = Field(
        default_factory=SemanticConfig, description="the semantic vectors"
    )
    gan: GanConfig = Field(default_factory=GanConfig, description="the feature GAN")
    classifier: ClassifierConfig = Field(
        default_factory=ClassifierConfig, description="the final classifier"
    )
    tune: TuneSettings = Field(default_factory=TuneSettings, description="Ray Tune settings")

    @field_validator("cnn", mode="before")
    @classmethod
    def _cnn_defaults(cls, cnn: Any) -> Any:
        if cnn is None:
            return dict(_CNN_DEFAULTS)
        return {**_CNN_DEFAULTS, **cnn} if isinstance(cnn, dict) else cnn

    @field_validator("generate")
    @classmethod
    def _generate_keys(cls, generate: dict[str, Any] | None) -> dict[str, Any] | None:
        if generate is not None and not set(generate) <= {"profile", "scale", "seed"}:
            unknown = sorted(set(generate) - {"profile", "scale", "seed"})
            raise ValueError(f"unknown generate keys {unknown}; known: profile, scale, seed")
        return generate

    @field_validator("constellations")
    @classmethod
    def _constellations(
        cls, constellations: dict[str, Any] | None, info: ValidationInfo
    ) -> dict[str, Any] | None:
        if constellations is None:
            return None
        from engine.zsl.semantics import PHYSICS, constellation_points

        if info.data.get("attributes") != PHYSICS:
            raise ValueError(f"constellations need attributes: {PHYSICS}")
        for name, spec in constellations.items():
            try:
                constellation_points(spec)
            except ValueError as error:
                raise ValueError(f"constellation of {name!r}: {error}") from None
        return constellations

    @model_validator(mode="after")
    def _alignment_trains_in_process(self) -> ZslConfig:
        if self.cnn_alignment > 0 and self.cnn_weights is not None:
            raise ValueError("cnn_alignment trains the feature CNN; it cannot apply to cnn_weights")
        if self.cnn_alignment > 0 and self.cnn.workers:
            raise ValueError("cnn_alignment needs in-process CNN training (cnn.workers: 0)")
        return self

    def replace(self, **changes: Any) -> ZslConfig:
        """A copy with top-level fields or dotted section fields (``"gan.lr"``) changed.

        Raises:
            ConfigError: an unknown key or a bad value.
        """
        return ZslConfig.from_dict(set_dotted(self.to_dict(), changes))


def load_config(path: str | Path, **overrides: Any) -> ZslConfig:
    """Read a YAML run config (path or fsspec URI); ``overrides`` as in :meth:`ZslConfig.replace`.

    Raises:
        ConfigError: a missing or invalid file, an unknown key or a bad value.
    """
    config = _load_config(ZslConfig, str(path))
    return config.replace(**overrides) if overrides else config
