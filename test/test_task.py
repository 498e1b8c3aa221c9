"""The ESPnet task: preprocessing, collation, model choice, and a real collect-stats +
training run through ESPnet's trainer on a tiny hand-made corpus, for both models."""
import argparse
import random

import numpy as np
import pytest
import torch
import yaml

from lst.data.batch import SequencePreprocessor, collate_sequences
from lst.data.sequence_format import SequenceFormatError
from lst.vocab import write_token_list


def test_preprocess_and_collate(tiny_token_list):
    pre = SequencePreprocessor(tiny_token_list, max_seq_len=6)
    a = pre("s2t_a", {"seq": "<s> 1 2 | 3 <t> ▁the"})
    b = pre("text_b", {"seq": "<t> ▁a"})
    assert len(a["seq"]) == 6  # cut to max_seq_len (logged)
    ids, batch = collate_sequences([("s2t_a", a), ("text_b", b)])
    assert ids == ["s2t_a", "text_b"]
    assert batch["seq"].shape == (2, 6) and batch["seq_lengths"].tolist() == [6, 4]
    assert batch["seq"][1, 4:].tolist() == [0, 0]  # padded with <blank>
    assert batch["seg_start"][0].tolist() == [0, 0, 1, 0, 1, 0]
    with pytest.raises(SequenceFormatError, match="bad_seq: unit id 99"):
        pre("bad_seq", {"seq": "<s> 99"})


@pytest.mark.parametrize("model,conf", [
    ("token_lm", {"d_model": 32, "n_layers": 1, "n_heads": 2}),
    ("lst", {"d_model": 32, "n_layers": 1, "n_heads": 2, "local_d_model": 16, "local_heads": 2,
             "patching": "static", "patch_size": 2}),
])
def test_build_model_and_forward(tiny_token_list, model, conf):
    from lst.tasks.lst import LSTTask

    args = argparse.Namespace(token_list=list(tiny_token_list), model=model, model_conf=conf)
    net = LSTTask.build_model(args)
    pre = SequencePreprocessor(tiny_token_list)
    _, batch = collate_sequences([("a", pre("a", {"seq": "<s> 1 2 3 4 5 <t> ▁the ▁cat"})),
                                  ("b", pre("b", {"seq": "<t> ▁a <s> 9 9"}))])
    loss, stats, weight = net(**batch)
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert stats["loss_speech"] is not None and stats["loss_text"] is not None
    assert int(weight) == 2
    logp = net.token_logprobs(batch["seq"], batch["seq_lengths"], batch["seg_start"])
    assert logp.shape == batch["seq"].shape
    assert (logp <= 0).all()
    # mean NLL over real targets equals the training loss (same model, same targets)
    n = batch["seq_lengths"]
    valid = torch.arange(batch["seq"].shape[1])[None, :] < n[:, None]
    valid[:, 0] = False
    assert torch.allclose(-logp[valid].mean(), loss, atol=1e-4)


def _write_corpus(path, n, rng):
    lines = []
    for i in range(n):
        units = " ".join(str(rng.randrange(10)) for _ in range(rng.randrange(4, 12)))
        words = " ".join(rng.choice(["▁a", "▁b", "▁the", "▁cat", "s"]) for _ in range(rng.randrange(1, 4)))
        kind = ["speech", "text", "s2t", "t2s"][i % 4]
        items = {"speech": f"<s> {units}", "text": f"<t> {words}", "s2t": f"<s> {units} <t> {words}",
                 "t2s": f"<t> {words} <s> {units}"}[kind]
        lines.append(f"{kind}_{i:03d} {items}")
    path.write_text("\n".join(sorted(lines)) + "\n")


@pytest.mark.parametrize("model,extra", [
    ("token_lm", {}),
    ("lst", {"local_d_model": 16, "local_heads": 2, "patching": "static", "patch_size": 3}),
])
def test_collect_stats_and_train(tmp_path, tiny_token_list, model, extra):
    from lst.bin.lst_train import main

    rng = random.Random(0)
    write_token_list(tiny_token_list, tmp_path / "tokens.txt")
    _write_corpus(tmp_path / "train", 16, rng)
    _write_corpus(tmp_path / "valid", 4, rng)
    config = {
        "model": model, "model_conf": {"d_model": 32, "n_layers": 1, "n_heads": 2, **extra},
        "batch_type": "sorted", "batch_size": 4, "max_epoch": 2, "optim": "adam", "optim_conf": {"lr": 0.01},
        "best_model_criterion": [["valid", "loss", "min"]], "keep_nbest_models": 1, "num_att_plot": 0,
    }
    (tmp_path / "conf.yaml").write_text(yaml.safe_dump(config))
    common = ["--config", str(tmp_path / "conf.yaml"), "--token_list", str(tmp_path / "tokens.txt"),
              "--ngpu", "0", "--num_workers", "0",
              "--train_data_path_and_name_and_type", f"{tmp_path}/train,seq,text",
              "--valid_data_path_and_name_and_type", f"{tmp_path}/valid,seq,text"]
    main(common + ["--collect_stats", "true", "--train_shape_file", str(tmp_path / "train"),
                   "--valid_shape_file", str(tmp_path / "valid"), "--output_dir", str(tmp_path / "stats")])
    shapes = (tmp_path / "stats" / "train" / "seq_shape").read_text().split("\n")
    assert len([s for s in shapes if s]) == 16
    main(common + ["--train_shape_file", str(tmp_path / "stats/train/seq_shape"),
                   "--valid_shape_file", str(tmp_path / "stats/valid/seq_shape"),
                   "--output_dir", str(tmp_path / "exp")])
    exp = tmp_path / "exp"
    assert (exp / "valid.loss.best.pth").exists() and (exp / "config.yaml").exists()
    trained = yaml.safe_load((exp / "config.yaml").read_text())
    assert trained["model"] == model and isinstance(trained["token_list"], list)
    # ESPnet's reporter logs per-epoch stats; the loss must have gone down over 2 epochs
    from lst.tasks.lst import LSTTask

    net, _ = LSTTask.build_model_from_file(exp / "config.yaml", exp / "valid.loss.best.pth", device="cpu")
    assert isinstance(net, torch.nn.Module)
    ckpt = torch.load(exp / "checkpoint.pth", map_location="cpu", weights_only=False)
    train_loss = [ep["train"]["loss"] for ep in ckpt["reporter"]["stats"].values()]
    assert len(train_loss) == 2 and train_loss[1] < train_loss[0]


# --------------------------------------------------------------------------- paper-style data
def _write_docs(path, n, seed):
    """Word-level documents (lst/data/documents.py) over the tiny token list's pieces."""
    from lst.data.documents import SIL, Document, text_document

    rng = random.Random(seed)
    words = ["a", "b", "the", "cat", "yes"]
    lines = []
    for i in range(n):
        ws = [rng.choice(words) for _ in range(rng.randrange(8, 20))]
        pieces = [[f"▁{w}"] for w in ws]
        if i % 5 == 4:
            lines.append(text_document(f"doc{i:03d}", ws, pieces).line())
            continue
        segs, units = [], []
        for k in range(len(ws)):
            if rng.random() < 0.3:
                segs.append((SIL, 2))
            segs.append((k, rng.randrange(1, 5)))
        units = [rng.randrange(10) for _ in range(sum(n for _, n in segs))]
        lines.append(Document(f"doc{i:03d}", ws, pieces, units, segs).line())
    path.write_text("\n".join(sorted(lines)) + "\n")
    (path.parent / f"{path.name}_shape").write_text("".join(f"{l.split()[0]} 30\n" for l in sorted(lines)))


@pytest.mark.parametrize("workers", [0, 2])
def test_train_iterator_redraws_every_epoch(tmp_path, tiny_token_list, workers):
    from espnet2.train.distributed_utils import DistributedOption

    from lst.tasks.lst import LSTTask

    write_token_list(tiny_token_list, tmp_path / "tokens.txt")
    _write_docs(tmp_path / "docs", 24, 0)

    def batches(epoch, extra=()):
        args = LSTTask.get_parser().parse_args([
            "--token_list", str(tmp_path / "tokens.txt"), "--model", "lst", "--num_workers", str(workers),
            "--batch_size", "4", "--batch_type", "sorted", "--stream_mix", "inter=1", "--seed", "5",
            "--train_data_path_and_name_and_type", f"{tmp_path}/docs,seq,text",
            "--valid_data_path_and_name_and_type", f"{tmp_path}/docs,seq,text",
            "--train_shape_file", str(tmp_path / "docs_shape"), "--valid_shape_file", str(tmp_path / "docs_shape"),
            "--output_dir", str(tmp_path / "exp"), *extra])
        out = {}
        for mode in ("train", "valid"):
            f = LSTTask.build_iter_factory(args, DistributedOption(distributed=False), mode)
            out[mode] = {k: b["seq"][i, : b["seq_lengths"][i]].tolist()
                         for keys, b in f.build_iter(epoch) for i, k in enumerate(keys)}
        return out

    e1, e2, again = batches(1), batches(2), batches(2)
    interleaved = [k for k in e1["train"] if int(k[3:]) % 5 != 4]
    assert sum(e1["train"][k] != e2["train"][k] for k in interleaved) >= 0.7 * len(interleaved)
    assert all(e1["train"][k] == e2["train"][k] for k in e1["train"] if k not in interleaved)  # text docs
    assert e2 == again  # same seed + epoch (a resumed run): the same draw, also in worker processes
    assert e1["valid"] == e2["valid"]  # validation: one fixed draw
    packed = batches(1, ["--pack_len", "64", "--pack_rows", "2"])["train"]
    assert all(k.count("+") >= 1 for k in packed)  # several documents per row


@pytest.mark.parametrize("model,extra", [
    ("token_lm", {}),
    ("lst", {"local_d_model": 16, "local_heads": 2, "patching": "static", "patch_size": 3}),
])
def test_train_on_documents_packed(tmp_path, tiny_token_list, model, extra):
    from lst.bin.lst_train import main

    write_token_list(tiny_token_list, tmp_path / "tokens.txt")
    _write_docs(tmp_path / "train", 40, 1)
    _write_docs(tmp_path / "valid", 6, 2)
    config = {
        "model": model, "model_conf": {"d_model": 32, "n_layers": 1, "n_heads": 2, "max_len": 256, **extra},
        "batch_type": "sorted", "batch_size": 4, "max_epoch": 2, "optim": "adam", "optim_conf": {"lr": 0.01},
        "best_model_criterion": [["valid", "loss", "min"]], "keep_nbest_models": 1, "num_att_plot": 0,
        "stream_mix": "paper", "interleave_conf": {"ratio": "1:2"}, "pack_len": 48, "pack_rows": 2,
    }
    (tmp_path / "conf.yaml").write_text(yaml.safe_dump(config))
    main(["--config", str(tmp_path / "conf.yaml"), "--token_list", str(tmp_path / "tokens.txt"),
          "--ngpu", "0", "--num_workers", "0",
          "--train_data_path_and_name_and_type", f"{tmp_path}/train,seq,text",
          "--valid_data_path_and_name_and_type", f"{tmp_path}/valid,seq,text",
          "--train_shape_file", str(tmp_path / "train_shape"), "--valid_shape_file", str(tmp_path / "valid_shape"),
          "--output_dir", str(tmp_path / "exp")])
    ckpt = torch.load(tmp_path / "exp" / "checkpoint.pth", map_location="cpu", weights_only=False)
    train_loss = [ep["train"]["loss"] for ep in ckpt["reporter"]["stats"].values()]
    assert len(train_loss) == 2 and all(np.isfinite(train_loss))
    trained = yaml.safe_load((tmp_path / "exp" / "config.yaml").read_text())
    assert trained["stream_mix"] == "paper" and trained["pack_len"] == 48
