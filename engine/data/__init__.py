"""The signal data layer: the canonical format, its store, generators, loaders and splits."""

from engine.data.generate import generate
from engine.data.info import dataset_info
from engine.data.loaders import convert
from engine.data.profiles import PROFILES, Profile, get_profile
from engine.data.schema import DatasetMeta, Frames, ShardInfo
from engine.data.splits import Split, make_split
from engine.data.store import (
    DatasetWriter,
    ShardMismatchError,
    iter_frames,
    read_frames,
    read_index,
    read_meta,
    to_ray_dataset,
    verify,
)

__all__ = [
    "PROFILES",
    "DatasetMeta",
    "DatasetWriter",
    "Frames",
    "Profile",
    "ShardInfo",
    "ShardMismatchError",
    "Split",
    "convert",
    "dataset_info",
    "generate",
    "get_profile",
    "iter_frames",
    "make_split",
    "read_frames",
    "read_index",
    "read_meta",
    "to_ray_dataset",
    "verify",
]
