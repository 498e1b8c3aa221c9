"""A tiny, deterministic training setup (corpus, token list, config, command line) for the
reliability tests (resume after kill -9, multi-process training) and quick manual checks.

    from lst.tasks.toy import write_toy_experiment
    argv = write_toy_experiment(tmp_dir, n_train=300)   # lst_train arguments, stats collected
"""
import os
import random
from pathlib import Path
from typing import Dict, List, Optional

import yaml

from lst.vocab import build_token_list, write_token_list

WORDS = ["▁a", "▁b", "▁the", "▁cat", "s", "▁yes"]
N_UNITS = 10


def write_toy_corpus(path: Path, n: int, seed: int, equal_length: bool = False) -> None:
    """``n`` sequences of all four kinds; with ``equal_length`` every sequence is an s2t
    sequence of the same token count (so per-rank token means average to the global one)."""
    rng = random.Random(seed)
    lines = []
    for i in range(n):
        if equal_length:
            units = " ".join(str(rng.randrange(N_UNITS)) for _ in range(8))
            words = " ".join(rng.choice(WORDS) for _ in range(3))
            lines.append(f"s2t_{i:04d} <s> {units} <t> {words}")
            continue
        units = " ".join(str(rng.randrange(N_UNITS)) for _ in range(rng.randrange(4, 16)))
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randrange(1, 5)))
        kind = ["speech", "text", "s2t", "t2s"][i % 4]
        items = {"speech": f"<s> {units}", "text": f"<t> {words}", "s2t": f"<s> {units} <t> {words}",
                 "t2s": f"<t> {words} <s> {units}"}[kind]
        lines.append(f"{kind}_{i:04d} {items}")
    path.write_text("\n".join(sorted(lines)) + "\n", encoding="utf-8")


def subprocess_env(threads: int = 1) -> Dict[str, str]:
    """Environment for a training subprocess: repo importable, fixed thread count."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
    return env


def write_toy_experiment(work: Path, n_train: int = 300, n_valid: int = 16, max_epoch: int = 4,
                         batch_size: int = 16, d_model: int = 16, equal_length: bool = False,
                         extra_config: Optional[dict] = None) -> List[str]:
    """Writes corpus, token list, config and collected stats under ``work``; returns the
    ``lst_train`` arguments for training (add ``--output_dir``)."""
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    write_token_list(build_token_list(["<unk>"] + WORDS, n_units=N_UNITS), work / "tokens.txt")
    write_toy_corpus(work / "train", n_train, seed=1, equal_length=equal_length)
    write_toy_corpus(work / "valid", n_valid, seed=2, equal_length=equal_length)
    config = {
        "model": "token_lm", "model_conf": {"d_model": d_model, "n_layers": 1, "n_heads": 2},
        "batch_type": "sorted", "batch_size": batch_size, "max_epoch": max_epoch, "seed": 3,
        "optim": "adam", "optim_conf": {"lr": 0.003},
        "best_model_criterion": [["valid", "loss", "min"]], "keep_nbest_models": 1, "num_att_plot": 0,
        "use_tensorboard": False, "use_matplotlib": False, "log_interval": 1000,
    }
    config.update(extra_config or {})
    (work / "conf.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    common = ["--config", str(work / "conf.yaml"), "--token_list", str(work / "tokens.txt"),
              "--ngpu", "0", "--num_workers", "0",
              "--train_data_path_and_name_and_type", f"{work}/train,seq,text",
              "--valid_data_path_and_name_and_type", f"{work}/valid,seq,text"]
    from lst.tasks.lst import LSTTask  # deferred: espnet's AbsTask is heavy, and test_budget needs only WORDS

    # collect-stats in-process (ESPnet's own stage: only shapes, no training)
    LSTTask.main(cmd=[*common, "--collect_stats", "true", "--train_shape_file", str(work / "train"),
                      "--valid_shape_file", str(work / "valid"), "--output_dir", str(work / "stats")])
    return common + ["--train_shape_file", str(work / "stats/train/seq_shape"),
                     "--valid_shape_file", str(work / "stats/valid/seq_shape")]


def epoch_losses(output_dir: Path, phase: str = "train", key: str = "loss") -> Dict[int, float]:
    """Per-epoch ``phase/key`` from ESPnet's reporter state in ``checkpoint.pth``."""
    import torch

    ckpt = torch.load(Path(output_dir) / "checkpoint.pth", map_location="cpu", weights_only=False)
    return {int(e): float(s[phase][key]) for e, s in ckpt["reporter"]["stats"].items()}
