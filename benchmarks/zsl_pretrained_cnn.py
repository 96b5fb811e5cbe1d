"""SigZSLNet with the seed's kind of feature CNN: one trained on every class, unseen ones too.

The seed's feature network was a ResNet pre-trained on RML2018.01a, which holds all seven
"unseen" classes. This trains the Table 2 CNN once on the training frames of all classes (the
same train / test split as the pipeline, so no test frame is seen) and runs every group with it
through ``cnn_weights``; the semantic module, the WGAN-GP and the classifier still see seen
classes only. Beside the default run (a CNN per group, seen classes only) this measures how much
of the paper's unseen accuracy comes from a feature space that already separates the unseen
classes.

    python -m benchmarks.zsl_pretrained_cnn [--config jobs/configs/zsl_cpu.yaml]
        [--out benchmarks/results/sigzsl_pretrained_cnn]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from dataclasses import asdict, replace

from engine._internal.logs import configure_logging
from engine.data.store import read_index
from engine.training import fit
from engine.zsl import load_config, run_zsl, split_train_test
from engine.zsl.pipeline import ensure_data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="jobs/configs/zsl_cpu.yaml")
    parser.add_argument("--out", default="benchmarks/results/sigzsl_pretrained_cnn")
    args = parser.parse_args()
    configure_logging()
    config = load_config(args.config)
    ensure_data(config)
    index = read_index(config.data)
    train_ids, _ = split_train_test(
        index.labels, index.snr_db, index.ids, config.test_fraction, config.split_seed
    )
    # trained once per (data, split, CNN settings), beside the data (not committed)
    key = json.dumps([config.data, config.test_fraction, config.split_seed, asdict(config.cnn)])
    digest = hashlib.sha256(key.encode()).hexdigest()[:10]
    weights = os.path.join(os.path.dirname(config.data), f"sigzsl_cnn_all_classes_{digest}.pt")
    if not os.path.exists(weights):
        fit("sigzsl_cnn", config.data, train_ids, replace(config.cnn, seed=0)).save(weights)
    summary = run_zsl(replace(config, out=args.out, cnn_weights=weights))
    for group, entry in summary.items():
        if group != "runs":
            ours = {k: round(v["mean"], 4) for k, v in entry["sigzslnet"].items()}
            print(group, ours)
    print(f"wrote {args.out}/summary.md")


if __name__ == "__main__":
    main()
