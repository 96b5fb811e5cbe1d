import errno
import importlib
import json
import subprocess
import sys

import pytest

from engine.cli import main


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    uri = str(tmp_path_factory.mktemp("cli") / "ds")
    assert (
        main(
            [
                "data",
                "generate",
                "--profile",
                "sigzsl7",
                "--scale",
                "0.01",
                "--seed",
                "1",
                "--out",
                uri,
                "--executor",
                "local",
                "--shard-mib",
                "1",
            ]
        )
        == 0
    )
    return uri


def test_info_json(dataset, capsys):
    assert main(["data", "info", dataset, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["classes"] == ["BPSK", "QPSK", "2ASK", "4ASK", "16QAM", "32QAM", "64QAM"]
    assert info["length"] == 1024 and info["num_rows"] == 7 * 11 * 4
    assert info["counts"]["2ASK"] == {f"{s}": 4 for s in range(11)}


def test_info_text(dataset, capsys):
    assert main(["data", "info", dataset]) == 0
    out = capsys.readouterr().out
    assert "308 x [2, 1024] float32" in out and "0 .. 10 dB (11 values)" in out


def test_verify_ok_then_corrupt(tmp_path, capsys):
    uri = str(tmp_path / "ds")
    main(
        [
            "data",
            "generate",
            "--profile",
            "rml2016a",
            "--scale",
            "0.002",
            "--out",
            uri,
            "--executor",
            "local",
        ]
    )
    assert main(["data", "verify", uri]) == 0
    shard = next((tmp_path / "ds").glob("part-*.parquet"))
    shard.write_bytes(shard.read_bytes()[:-10])
    assert main(["data", "verify", uri]) == 1
    assert "checksum mismatch" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["data", "generate", "--profile", "nope", "--out", "{tmp}/x"], "unknown profile 'nope'"),
        (
            ["data", "generate", "--profile", "rml2016a", "--scale", "0", "--out", "{tmp}/x"],
            "scale: ",
        ),
        (["data", "info", "{tmp}/missing"], "does not exist"),
        (["data", "verify", "{tmp}/missing"], "does not exist"),
    ],
)
def test_user_errors_exit_2(argv, message, tmp_path, capsys):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_existing_output(dataset, capsys):
    argv = ["data", "generate", "--profile", "sigzsl7", "--scale", "0.01", "--out", dataset]
    assert main(argv) == 2
    assert "already exists" in capsys.readouterr().err


def test_split(dataset, tmp_path, capsys):
    out = str(tmp_path / "splits.json")
    assert main(["data", "split", dataset, "--out", out, "--test", "0.25", "--target", "7"]) == 0
    assert json.loads(capsys.readouterr().out) == {"test": 77, "target": 7, "pool": 224}


def test_console_script_runs(dataset):
    result = subprocess.run(
        [sys.executable, "-m", "engine.cli", "data", "info", dataset, "--json"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["num_rows"] == 308


def test_exit_process_keeps_the_status_the_output_and_the_atexit_handlers():
    code = (
        "import atexit; from engine._internal.process import exit_process\n"
        "atexit.register(lambda: print('cleaned', end=''))\n"
        "print('done ', end=''); exit_process(3)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert (result.returncode, result.stdout) == (3, "done cleaned")


def test_sigint_during_generate_is_one_line_and_exit_130(tmp_path):
    import signal
    import time

    out = tmp_path / "ds"
    options = ["--scale", "2", "--out", str(out), "--executor", "local", "--shard-mib", "1"]
    process = subprocess.Popen(
        [sys.executable, "-m", "engine.cli", "data", "generate", "--profile", "rml2016a", *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".ds.partial-*/part-00001.parquet")):
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    assert stderr.rstrip("\n").splitlines()[-1] == "duse: interrupted"
    assert list(tmp_path.iterdir()) == []  # the writer removed its staging


@pytest.mark.parametrize(
    ("error", "path"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), "{out}"),
        (OSError(errno.EDQUOT, "Disk quota exceeded", "/data/x/part-00003.parquet"), "/data/x/"),
        (RuntimeError("wrapped"), "{out}"),  # e.g. Ray's RayTaskError around the OSError
    ],
)
def test_full_disk_is_one_line_naming_the_path(tmp_path, monkeypatch, capsys, error, path):
    importlib.import_module("engine.data.generate")  # the package exports the function
    out = str(tmp_path / "ds")

    def fail(*_args, **_kwargs):
        if isinstance(error, RuntimeError):
            raise error from OSError(errno.ENOSPC, "No space left on device")
        raise error

    monkeypatch.setattr(sys.modules["engine.data.generate"], "generate", fail)
    status = main(["data", "generate", "--profile", "rml2016a", "--out", out])
    err = capsys.readouterr().err
    assert status == 1 and err.count("\n") == 1
    assert err.startswith("duse: error: ") and path.format(out=out) in err
    assert "No space left on device" in err or "Disk quota exceeded" in err


def test_other_os_errors_keep_their_traceback(monkeypatch):
    importlib.import_module("engine.data.generate")

    def fail(*_args, **_kwargs):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(sys.modules["engine.data.generate"], "generate", fail)
    with pytest.raises(OSError, match="Input/output error"):
        main(["data", "generate", "--profile", "rml2016a", "--out", "/nonexistent/ds"])


def test_generate_refuses_what_the_disk_cannot_hold(tmp_path, capsys):
    argv = ["data", "generate", "--profile", "rml2016a", "--scale", "1e9"]
    assert main([*argv, "--out", str(tmp_path / "ds")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("duse: error: rml2016a at scale 1e+09 is 220,000,000,000,000 frames")
    assert "about 237.0 PB;" in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_interrupt_in_main_is_exit_130(monkeypatch, capsys):
    import engine.data.info

    def interrupted(_uri):
        raise KeyboardInterrupt

    monkeypatch.setattr(engine.data.info, "dataset_info", interrupted)
    assert main(["data", "info", "somewhere"]) == 130
    assert capsys.readouterr().err == "duse: interrupted\n"


def test_sigterm_during_generate_ends_143_and_leaves_no_staging(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "big"
    command = [
        sys.executable,
        "-m",
        "engine.cli",
        "data",
        "generate",
        "--profile",
        "rml2018a",
        "--scale",
        "0.05",
        "--executor",
        "local",
        "--shard-mib",
        "4",
        "--out",
        str(out),
    ]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".big.partial-*/part-*")) and time.monotonic() < deadline:
        time.sleep(0.2)  # until the first shard is being written
    assert list(tmp_path.glob(".big.partial-*")), "generate never started writing"
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 143 and "duse: terminated" in stderr
    assert list(tmp_path.iterdir()) == []  # no staging, no half dataset
