"""Downstream decoding: cached == uncached (greedy and beam, ASR and TTS), LST parallel prefill
== token-by-token feeding, and the inference CLIs on a packed model (small, random weights)."""
import numpy as np
import pytest
import torch

from lst.vocab import SpeechTextVocab, build_token_list

N_UNITS = 12


def tiny(kind: str, seed: int = 0):
    from lst.models.lst_model import LSTModel
    from lst.models.token_lm import TokenLM

    tokens = build_token_list(["<unk>", "▁a", "▁b", "▁the", "▁cat", "s", "▁yes", "▁no"], n_units=N_UNITS)
    vocab = SpeechTextVocab(tokens)
    torch.manual_seed(seed)
    common = dict(vocab_size=len(vocab), unit_offset=vocab.unit_offset, n_units=vocab.n_units, d_model=32,
                  n_layers=2, n_heads=2, max_len=512)
    if kind == "token_lm":
        model = TokenLM(**common)
    else:
        model = LSTModel(**common, local_d_model=16, local_enc_layers=1, local_dec_layers=1, local_heads=2,
                         window=8, patching=kind.split("_")[1], patch_size=4, max_patch_len=6,
                         silence_units=[0, 1, 2])
    for p in model.parameters():
        torch.nn.init.normal_(p, 0.0, 0.3)  # well-separated logits: no argmax ties between paths
    return model.eval(), vocab


UNITS = [3, 3, 7, 1, 1, 0, 9, 9, 9, 4, 11, 2, 2, 5, 6]  # 15 units: static patches 4+4+4+3
KINDS = ["token_lm", "lst_static", "lst_silence"]


@pytest.mark.parametrize("kind", KINDS)
def test_prefill_matches_token_by_token(kind):
    from lst.downstream.decode import CachedStream, FullStream, asr_prompt

    model, vocab = tiny(kind)
    prompt = asr_prompt(vocab, UNITS)
    fast = CachedStream(model)
    a = fast.prefill(prompt)
    slow = CachedStream(model)
    for tok in prompt:
        b = slow.feed(tok)
    ref = FullStream(model).prefill(prompt)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(a, ref, atol=1e-5, rtol=1e-5)
    assert fast.global_steps == slow.global_steps
    # continuing after the prefill: same logits for the next tokens too
    for tok in [vocab.piece_id("▁the"), vocab.piece_id("▁cat")]:
        torch.testing.assert_close(fast.feed(tok), slow.feed(tok), atol=1e-5, rtol=1e-5)
    if kind == "lst_static":  # sos, <s>, 4 patches, <t>
        assert fast.global_steps == 2 + 4 + 1 + 2


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("beam", [1, 3])
def test_asr_decoding_with_and_without_cache(kind, beam):
    from lst.downstream.decode import recognize

    model, vocab = tiny(kind)
    a = recognize(model, vocab, UNITS, beam=beam, max_len=8, use_cache=True)
    b = recognize(model, vocab, UNITS, beam=beam, max_len=8, use_cache=False)
    assert a["tokens"] == b["tokens"]
    assert all(vocab.text_offset <= t < vocab.unit_offset for t in a["tokens"])  # text only
    if beam > 1:
        assert a["score"] == pytest.approx(b["score"], abs=1e-4)


@pytest.mark.parametrize("kind", KINDS)
def test_tts_decoding_with_and_without_cache(kind):
    from lst.downstream.decode import synthesize_units

    model, vocab = tiny(kind)
    text = [vocab.piece_id(p) for p in ["▁the", "▁cat", "s"]]
    a = synthesize_units(model, vocab, text, max_units=20, min_units=3, use_cache=True)
    b = synthesize_units(model, vocab, text, max_units=20, min_units=3, use_cache=False)
    assert a["units"] == b["units"] and len(a["units"]) >= 3
    assert all(0 <= u < N_UNITS for u in a["units"])
    # sampling is reproducible by seed and identical between the two paths too
    c = synthesize_units(model, vocab, text, 20, 3, True, sample=True, seed=3)
    d = synthesize_units(model, vocab, text, 20, 3, False, sample=True, seed=3)
    assert c["units"] == d["units"]


def test_lst_tts_needs_fewer_global_steps():
    from lst.downstream.decode import synthesize_units

    text = [5, 6]
    counts = {}
    for kind in ("token_lm", "lst_static"):
        model, vocab = tiny(kind)
        out = synthesize_units(model, vocab, text, max_units=24, min_units=24)
        counts[kind] = out["global_steps"] - out["prefill_steps"]
        assert len(out["units"]) == 24
    assert counts["token_lm"] == 24  # one step per unit
    assert counts["lst_static"] == 6  # one per patch of 4


def test_asr_and_tts_clis_on_a_packed_model(tmp_path):
    import soundfile

    from lst.bin.asr_inference import main as asr_main
    from lst.bin.pack_model import main as pack_main
    from lst.bin.tts_inference import main as tts_main
    from lst.vocoder import UnitMelNet, UnitVocoder
    from lst.vocoder.unit_mel import MelConfig
    from test_pack import make_pretrained

    src = make_pretrained(tmp_path, "lst")
    packed = tmp_path / "lst.zip"
    assert pack_main(["--config", src["config"], "--model_file", src["model_file"], "--bpe_model", src["bpe_model"],
                      "--km_dir", src["km_dir"], "--unit_info", src["unit_info"], "--out", str(packed)]) == 0
    wav = (np.random.default_rng(0).normal(size=8000) * 0.1).astype(np.float32)
    soundfile.write(tmp_path / "a.wav", wav, 16000)
    (tmp_path / "wav.scp").write_text(f"utt1 {tmp_path / 'a.wav'}\n")
    (tmp_path / "text").write_text("utt1 THE CAT\n")
    assert asr_main(["--model", str(packed), "--wav_scp", str(tmp_path / "wav.scp"), "--output_dir",
                     str(tmp_path / "asr"), "--beam", "2", "--max_len", "5", "--ref_text", str(tmp_path / "text")]) == 0
    assert (tmp_path / "asr" / "text").read_text().startswith("utt1")
    assert (tmp_path / "asr" / "score.json").exists()
    cfg = MelConfig(unit_rate_hz=50)
    net_conf = dict(n_units=10, n_mels=cfg.n_mels, d=16, n_layers=1)
    UnitVocoder(UnitMelNet(**net_conf), cfg, net_conf, griffin_lim_iters=2).save(str(tmp_path / "voc.pth"))
    assert tts_main(["--model", str(packed), "--vocoder", str(tmp_path / "voc.pth"), "--text",
                     str(tmp_path / "text"), "--output_dir", str(tmp_path / "tts"), "--max_units", "12",
                     "--griffin_lim_iters", "2"]) == 0
    units = (tmp_path / "tts" / "units").read_text().split()
    assert units[0] == "utt1" and 5 <= len(units) - 1 <= 12
    audio, sr = soundfile.read(tmp_path / "tts" / "wav" / "utt1.wav")
    assert sr == 16000 and len(audio) > 0
