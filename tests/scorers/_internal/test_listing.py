"""`duse scorers` text: one aligned row per scorer with its kind, needs and summary."""

from __future__ import annotations

from scorers._internal.listing import format_scorers


def test_every_built_in_is_listed_with_kind_and_needs():
    lines = format_scorers().splitlines()
    assert lines[0].split() == ["NAME", "KIND", "NEEDS", "DESCRIPTION"]
    rows = {line.split()[0]: line.split(maxsplit=3) for line in lines[1:]}
    assert rows["duse"][1:3] == ["pointwise", "probs"]
    assert rows["deepfool"][1:3] == ["pointwise", "iq,logits_fn"]
    assert rows["forgetting"][1:3] == ["dynamics", "logits"]
    assert rows["herding"][1:3] == ["set", "embedding"]
    assert rows["random"][1:3] == ["pointwise", "-"]
    assert rows["margin"][3].startswith("Margin baseline: top-2 softmax margin")
    # columns line up: every description starts at the same offset
    offset = lines[0].index("DESCRIPTION")
    assert all(line[offset - 2 : offset] == "  " and line[offset] != " " for line in lines[1:])
