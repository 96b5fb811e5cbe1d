"""One logger root: the library logs under ``duse.*`` only and configures nothing itself;
``configure_logging`` is the one place that does."""

from __future__ import annotations

import importlib
import io
import logging
import pkgutil

from engine._internal import logs
from engine._internal.logs import configure_logging, current_verbosity

PACKAGES = ("engine", "scorers", "models", "jobs")


def _import_everything() -> None:
    for name in PACKAGES:
        package = importlib.import_module(name)
        for module in pkgutil.walk_packages(package.__path__, f"{name}."):
            importlib.import_module(module.name)


def test_every_library_logger_is_under_duse_and_nothing_is_configured(tmp_path, restore_logging):
    from engine.data import generate
    from engine.expansion import ExpandConfig, expand

    # start as a program that never called configure_logging (earlier tests may have run the CLI)
    root = logging.getLogger()
    root.handlers[:] = [h for h in root.handlers if not isinstance(h, logs._DuseHandler)]
    logging.getLogger("duse").setLevel(logging.NOTSET)
    root_handlers = list(root.handlers)
    _import_everything()
    data = str(tmp_path / "ds")
    generate("rml2016a", data, scale=0.002, seed=0, executor="local", shard_bytes=2**18)
    config = {
        "data": data,
        "out": str(tmp_path / "run"),
        "scorer": "margin",
        "model": "cnn1d",
        "rounds": 1,
        "count": 11,
        "seed": 0,
        "split": {"test": 0.2, "target": 0.2},
        "train": {"epochs": 1, "batch_size": 32},
        "scoring": {"executor": "local"},
    }
    assert len(expand(ExpandConfig.from_dict(config)).selected_ids) == 11
    names = list(logging.root.manager.loggerDict)
    outside = [name for name in names if name.split(".")[0] in PACKAGES]
    assert outside == []
    for expected in (
        "duse.engine.expansion.loop",
        "duse.engine.scoring",
        "duse.engine.training",
        "duse.scorers._internal.registry",
    ):
        assert isinstance(logging.root.manager.loggerDict[expected], logging.Logger)
    # the library set no level and added no handler on its own
    assert logging.getLogger("duse").level == logging.NOTSET
    assert logging.getLogger("duse.engine.expansion.loop").level == logging.NOTSET
    assert logging.getLogger().handlers == root_handlers


def test_configure_logging_levels_tag_and_one_handler(restore_logging, monkeypatch):
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    configure_logging(0)
    configure_logging(0, tag="duse rate 0.1 seed 0")  # again: replaces, never doubles
    assert current_verbosity() == 0
    ours = [h for h in logging.getLogger().handlers if isinstance(h, logs._DuseHandler)]
    assert len(ours) == 1
    loop = logging.getLogger("duse.engine.expansion.loop")
    loop.info("round 1/2 done in 0.5 s")
    loop.debug("not shown at verbosity 0")
    logging.getLogger("somelib").info("not shown: other libraries log warnings only")
    assert (
        stream.getvalue()
        .splitlines()[-1]
        .endswith("[duse rate 0.1 seed 0] duse.engine.expansion.loop: round 1/2 done in 0.5 s")
    )
    assert "not shown" not in stream.getvalue()
    expected = {
        -1: (logging.WARNING, logging.WARNING),
        0: (logging.INFO, logging.WARNING),
        1: (logging.INFO, logging.INFO),
        2: (logging.DEBUG, logging.INFO),
    }
    for verbosity, (duse_level, root_level) in expected.items():
        configure_logging(verbosity)
        assert logging.getLogger("duse").level == duse_level
        assert logging.getLogger().level == root_level
