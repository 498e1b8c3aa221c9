"""Packing: a model + token list + BPE + k-means archive loads back and gives the same outputs."""
import json
import zipfile

import numpy as np
import pytest
import torch
import yaml


def make_pretrained(tmp_path, model="token_lm", n_units=10):
    """A tiny 'pretraining run' on disk: config.yaml, weights, bpe.model, k-means dir, unit_info."""
    import joblib
    import sentencepiece as spm
    from sklearn.cluster import MiniBatchKMeans

    from lst.tasks.lst import LSTTask
    from lst.vocab import build_token_list

    text = tmp_path / "text.txt"
    text.write_text("\n".join(["THE CAT SAT ON THE MAT", "YES NO GO STOP", "ELEVEN TWENTY SEVEN FIFTY"] * 5))
    spm.SentencePieceTrainer.train(input=str(text), model_prefix=str(tmp_path / "bpe"), vocab_size=30,
                                   model_type="bpe", character_coverage=1.0, minloglevel=3)
    sp = spm.SentencePieceProcessor(model_file=str(tmp_path / "bpe.model"))
    tokens = build_token_list([sp.id_to_piece(i) for i in range(sp.get_piece_size())], n_units)
    conf = {"d_model": 32, "n_layers": 2, "n_heads": 2, "dropout": 0.0, "max_len": 512}
    if model == "lst":
        conf.update(local_d_model=16, local_enc_layers=1, local_dec_layers=1, local_heads=2, window=16,
                    patching="static", patch_size=4)
    cfg = {"model": model, "model_conf": conf, "token_list": tokens}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True))
    torch.manual_seed(0)
    import argparse

    net = LSTTask.build_model(argparse.Namespace(**cfg))
    for p in net.parameters():
        torch.nn.init.normal_(p, 0.0, 0.3)  # well-separated logits: decoding comparisons are not ties
    torch.save(net.state_dict(), tmp_path / "model.pth")
    km_dir = tmp_path / "km"
    km_dir.mkdir()
    rng = np.random.default_rng(0)
    km = MiniBatchKMeans(n_clusters=n_units, random_state=0, n_init=1).fit(rng.normal(size=(500, 39)))
    joblib.dump(km, km_dir / "km.pkl")
    (km_dir / "km_info.json").write_text(json.dumps({"n_clusters": n_units, "feature_type": "mfcc", "dim": 39,
                                                     "frame_rate_hz": 50}))
    (km_dir / "silence_units.json").write_text(json.dumps({"silence_units": [0, 3]}))
    (tmp_path / "unit_info.json").write_text(json.dumps({"unit_rate_hz": 50, "n_units": n_units, "dedup": False,
                                                         "feature_type": "mfcc", "km_dir": str(km_dir)}))
    return dict(config=str(tmp_path / "config.yaml"), model_file=str(tmp_path / "model.pth"),
                bpe_model=str(tmp_path / "bpe.model"), km_dir=str(km_dir), unit_info=str(tmp_path / "unit_info.json"),
                net=net, km=km, sp=sp)


@pytest.mark.parametrize("model,suffix", [("token_lm", ".zip"), ("lst", ".tar.gz")])
def test_pack_round_trip_same_outputs(tmp_path, model, suffix):
    from lst.bin.pack_model import main as pack_main
    from lst.pack import load_packed
    from lst.units.features import MfccExtractor, extract
    from lst.units.kmeans import apply_kmeans

    src = make_pretrained(tmp_path, model)
    out = tmp_path / f"packed{suffix}"
    assert pack_main(["--config", src["config"], "--model_file", src["model_file"], "--bpe_model", src["bpe_model"],
                      "--km_dir", src["km_dir"], "--unit_info", src["unit_info"], "--out", str(out)]) == 0
    pk = load_packed(str(out))
    assert pk.model_kind == model and pk.unit_rate_hz == 50 and pk.vocab.n_units == 10
    assert pk.silence_units == [0, 3]
    # same weights -> same log-likelihoods
    seq = torch.tensor([[2, 4] + [pk.vocab.unit_id(u) for u in [1, 5, 5, 2, 7, 7, 7, 0, 9]] + [3, 6, 7, 2]])
    lens = torch.tensor([seq.shape[1]])
    src["net"].eval()
    torch.testing.assert_close(pk.model.token_logprobs(seq, lens), src["net"].token_logprobs(seq, lens))
    # same units from audio, same BPE
    wav = np.random.default_rng(1).normal(scale=0.1, size=16000).astype(np.float32)
    feats, _ = extract(MfccExtractor(), wav, 50)
    np.testing.assert_array_equal(pk.wav_to_units(wav), apply_kmeans(src["km"], feats))
    assert pk.bpe.encode("THE CAT", out_type=str) == src["sp"].encode("THE CAT", out_type=str)
    assert pk.ids_to_text(pk.text_to_ids("YES NO GO")) == "YES NO GO"
    pk.close()


def test_pack_detects_mismatch_and_corruption(tmp_path):
    from lst.pack import PackError, load_packed, pack_model

    src = make_pretrained(tmp_path)
    bad = tmp_path / "bad_unit_info.json"
    bad.write_text(json.dumps({"unit_rate_hz": 50, "n_units": 12}))
    with pytest.raises(PackError, match="units"):
        pack_model(str(tmp_path / "x.zip"), src["config"], src["model_file"], src["bpe_model"], src["km_dir"], str(bad))
    with pytest.raises(PackError, match=".zip, .tar.gz"):
        pack_model(str(tmp_path / "x.rar"), src["config"], src["model_file"], src["bpe_model"], src["km_dir"],
                   src["unit_info"])
    good = tmp_path / "good.zip"
    pack_model(str(good), src["config"], src["model_file"], src["bpe_model"], src["km_dir"], src["unit_info"])
    # rewrite the archive with a damaged bpe.model
    corrupt = tmp_path / "corrupt.zip"
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(corrupt, "w") as zout:
        for item in zin.namelist():
            data = zin.read(item)
            zout.writestr(item, data[:-5] + b"xxxxx" if item == "bpe.model" else data)
    with pytest.raises(PackError, match="bpe.model is corrupted"):
        load_packed(str(corrupt))
