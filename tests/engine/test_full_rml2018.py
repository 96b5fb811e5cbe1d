"""benchmarks/full_rml2018.py end to end at a tiny scale: generate, train, score on Ray Data."""

import json

from benchmarks import full_rml2018


def test_full_rml2018_runs_end_to_end_at_a_tiny_scale(ray_session, tmp_path):
    results = tmp_path / "full.json"
    tiny = ["--scale", str(1 / 2048), "--target", "0.1", "--epochs", "1", "--fixed-s", "0"]
    full_rml2018.main([*tiny, "--workdir", str(tmp_path), "--results", str(results)])
    report = json.loads(results.read_text())
    frames = 24 * 26 * 2  # classes x SNRs x 2 frames per key
    assert report["generate"]["frames"] == frames
    held_out = report["train"]["target_frames"] + report["train"]["test_frames"]
    assert report["score"]["pool_frames"] == frames - held_out
    assert report["score"]["selected"] == int(0.04 * report["score"]["pool_frames"])
    assert report["score"]["driver_private_peak_mib"] > 0
    score = [row["score_s"] for row in report["projection"]]
    assert score == sorted(score, reverse=True) and score[0] / score[1] == 2  # linear in N
    assert not list(tmp_path.glob("duse-full-rml2018-*"))  # the dataset is removed
