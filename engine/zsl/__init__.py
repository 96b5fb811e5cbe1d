"""SigZSLNet: zero-shot modulation classification with WGAN-GP feature generation.

    >>> from engine.zsl import load_config, run_zsl
    >>> summary = run_zsl(load_config("jobs/configs/zsl_quick.yaml"))

The networks are in :mod:`models.zsl`; docs/zsl.md describes the pipeline and its choices.
"""

from engine.zsl.attributes import AttributeTable, builtin_tables, load_attribute_table
from engine.zsl.config import (
    TABLE4_GROUPS,
    ClassifierConfig,
    GanConfig,
    GroupSplit,
    SemanticConfig,
    TuneSettings,
    ZslConfig,
    load_config,
    resolve_group,
)
from engine.zsl.evaluation import (
    best_gamma,
    compatibility_scores,
    harmonic_mean,
    prototype_baseline,
    seen_unseen_curve,
    zsl_metrics,
)
from engine.zsl.gan import GanResult, synthesize, train_gan
from engine.zsl.pipeline import (
    UnseenDataError,
    check_seen_only,
    run_group,
    run_zsl,
    semantic_vectors,
    split_train_test,
)
from engine.zsl.tune import search_settings, tune_groups

__all__ = [
    "TABLE4_GROUPS",
    "AttributeTable",
    "ClassifierConfig",
    "GanConfig",
    "GanResult",
    "GroupSplit",
    "SemanticConfig",
    "TuneSettings",
    "UnseenDataError",
    "ZslConfig",
    "best_gamma",
    "builtin_tables",
    "check_seen_only",
    "compatibility_scores",
    "harmonic_mean",
    "load_attribute_table",
    "load_config",
    "prototype_baseline",
    "resolve_group",
    "run_group",
    "run_zsl",
    "search_settings",
    "seen_unseen_curve",
    "semantic_vectors",
    "split_train_test",
    "synthesize",
    "train_gan",
    "tune_groups",
    "zsl_metrics",
]
