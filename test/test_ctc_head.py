"""The CTC head for ASR fine-tuning (lst/models/ctc.py, model_conf ctc_weight): which
positions it reads and predicts, the mixed loss of both models, greedy CTC decoding, a
backbone without the head loading into a model with it, and asr_inference --ctc."""
import argparse
import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import yaml

from lst.models.ctc import ctc_greedy, ctc_log_probs, ctc_loss, gather_rows, s2t_masks
from lst.models.lst_model import LSTModel
from lst.models.token_lm import TokenLM

V, OFF, K = 40, 20, 20  # 5 specials + 15 text pieces + 20 units

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# s2t: <sos> <s> units <t> text <eos>; t2s: <sos> <t> text <s> units <eos>; padded with 0
S2T = [2, 4, OFF + 3, OFF + 5, OFF + 5, OFF + 1, OFF + 7, OFF + 7, 3, 7, 9, 2]
T2S = [2, 3, 8, 6, 4, OFF + 2, OFF + 2, OFF + 9, OFF + 4, 2, 0, 0]


def batch():
    return torch.tensor([S2T, T2S]), torch.tensor([12, 10])


def build(kind, w=0.3, seed=0, adapter=0):
    torch.manual_seed(seed)
    common = dict(d_model=32, n_layers=2, n_heads=2, max_len=128, prompt_loss_weight=0.0, ctc_weight=w,
                  ctc_adapter_layers=adapter)
    if kind == "token_lm":
        return TokenLM(V, OFF, K, **common)
    return LSTModel(V, OFF, K, **common, local_d_model=16, local_heads=2, window=8, patching="static", patch_size=2)


def test_masks_pick_the_units_before_and_the_text_after_the_last_text_marker():
    seq, lens = batch()
    speech, text = s2t_masks(seq, lens, OFF)
    assert speech[0].nonzero().flatten().tolist() == [2, 3, 4, 5, 6, 7]
    assert text[0].nonzero().flatten().tolist() == [9, 10]  # not <eos>
    # the t2s row has its units after the marker: not an s2t sequence, no CTC
    assert not speech[1].any() and not text[1].any()


def test_gather_rows_left_aligns_and_counts():
    x = torch.arange(12).view(2, 6)
    mask = torch.tensor([[0, 1, 0, 1, 1, 0], [1, 0, 0, 0, 0, 0]], dtype=torch.bool)
    out, n = gather_rows(x, mask)
    assert out.tolist() == [[1, 3, 4], [6, 0, 0]] and n.tolist() == [3, 1]


def test_ctc_loss_is_torch_ctc_per_target_token_and_flags_transcripts_too_long():
    seq, lens = batch()
    torch.manual_seed(0)
    head = torch.nn.Linear(8, OFF)
    states = torch.randn(2, seq.shape[1], 8)
    loss, stats = ctc_loss(head, states, seq, lens, OFF)
    logp = ctc_log_probs(head, states[0, 2:8])  # the 6 unit positions of the s2t row
    ref = F.ctc_loss(logp[:, None], torch.tensor([[7, 9]]), torch.tensor([6]), torch.tensor([2]),
                     blank=0, reduction="sum") / 2
    torch.testing.assert_close(loss, ref)
    assert float(stats["ctc_infeasible"]) == 0
    # 2 units cannot carry a repeated 2-piece transcript (needs 3 frames: a, blank, a)
    short = torch.tensor([[2, 4, OFF + 1, OFF + 2, 3, 7, 7, 2]])
    loss, stats = ctc_loss(head, torch.randn(1, 8, 8), short, torch.tensor([8]), OFF)
    assert float(stats["ctc_infeasible"]) == 1 and torch.isfinite(loss)
    # no s2t row: no loss
    none, _ = ctc_loss(head, states[1:], seq[1:], lens[1:], OFF)
    assert none is None


def test_log_probs_never_put_mass_on_the_special_ids_but_blank():
    torch.manual_seed(0)
    lp = ctc_log_probs(torch.nn.Linear(4, OFF), torch.randn(3, 4))
    assert torch.allclose(lp.exp().sum(-1), torch.ones(3))
    assert (lp[:, 1:5] < -1e3).all() and (lp[:, 0] > -1e3).all()


def test_ctc_greedy_merges_repeats_and_drops_blanks():
    ids = [0, 7, 7, 0, 7, 9, 9, 0]
    lp = torch.full((len(ids), OFF), -10.0)
    lp[torch.arange(len(ids)), torch.tensor(ids)] = 0.0
    assert ctc_greedy(lp) == [7, 7, 9]


@pytest.mark.parametrize("kind", ["token_lm", "lst"])
def test_forward_mixes_attention_and_ctc_as_espnet(kind):
    seq, lens = batch()
    model = build(kind).eval()
    loss, stats, _ = model(seq=seq, seq_lengths=lens)
    torch.testing.assert_close(loss.detach(), 0.7 * stats["loss_att"] + 0.3 * stats["loss_ctc"])
    assert stats["loss"] == loss.detach()
    # without the head the loss is the attention loss alone, the same number
    plain = build(kind, 0.0).eval()
    assert plain.ctc_head is None
    plain.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("ctc_head")})
    loss0, stats0, _ = plain(seq=seq, seq_lengths=lens)
    torch.testing.assert_close(loss0.detach(), stats["loss_att"])
    assert "loss_ctc" not in stats0
    # the head learns: a few steps on the one s2t row lower the CTC loss
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = None
    for _ in range(30):
        loss, stats, _ = model(seq=seq[:1], seq_lengths=lens[:1])
        first = first if first is not None else float(stats["loss_ctc"])
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(stats["loss_ctc"]) < 0.5 * first


@pytest.mark.parametrize("kind", ["token_lm", "lst"])
def test_ctc_log_probs_are_causal_states_of_the_forward(kind):
    """ctc_logprobs (decoding) reads the states the training loss read: equal for a prefix."""
    seq, lens = batch()
    model = build(kind).eval()
    full = model.ctc_logprobs(seq[:1, :8])
    part = model.ctc_logprobs(seq[:1, :6])
    if kind == "token_lm":  # every position causal
        torch.testing.assert_close(full[:, :6], part)
    else:  # LST: positions of complete patches before the cut see the same context
        torch.testing.assert_close(full[:, :4], part[:, :4])
    with pytest.raises(ValueError, match="no CTC head"):
        build(kind, 0.0).ctc_logprobs(seq[:1])


@pytest.mark.parametrize("kind", ["token_lm", "lst"])
def test_bidirectional_adapter_sees_later_units_and_decoding_reads_what_training_read(kind):
    """ctc_adapter_layers > 0: the CTC scores of a unit depend on the units after it (the
    causal head's do not), and the decoding path (ctc_logprobs over the ASR prompt) gives the
    loss the training path computed on the s2t row."""
    seq, lens = batch()
    prompt = seq[:1, :8]  # <sos> <s> u1 .. u6 (the <t> marker and the text follow)
    later = prompt.clone()
    later[0, 7] = OFF + 11  # change the last unit only
    for layers in (0, 1):
        model = build(kind, adapter=layers).eval()
        assert (model.ctc_adapter is None) == (layers == 0)
        a, b = model.ctc_logprobs(prompt), model.ctc_logprobs(later)
        moved = (a[0, 2:4] - b[0, 2:4]).abs().max()  # the first two units, before the changed one
        if layers:
            assert moved > 1e-4
        else:
            assert moved < 1e-6
    model = build(kind, adapter=1).eval()
    with torch.no_grad():
        _, stats, _ = model(seq=seq[:1], seq_lengths=lens[:1])
    logp = model.ctc_logprobs(prompt)[0, 2:]  # (6, C) at the unit positions
    ref = F.ctc_loss(logp[:, None], torch.tensor([[7, 9]]), torch.tensor([6]), torch.tensor([2]), blank=0,
                     reduction="sum") / 2
    torch.testing.assert_close(stats["loss_ctc"], ref)
    # a backbone without the adapter (or the head) loads into the fine-tuning model the ESPnet way
    plain = build(kind, 0.0).state_dict()
    state = model.state_dict()
    state.update(plain)
    model.load_state_dict(state)


def test_ctc_weight_out_of_range_is_a_config_error():
    from lst.train.config_check import ConfigError, check_model_conf

    with pytest.raises(ConfigError, match="ctc_weight"):
        check_model_conf("token_lm", TokenLM, {"ctc_weight": 1.5})


def test_asr_inference_ctc_decodes_with_the_head_and_refuses_a_model_without_one(tmp_path, caplog):
    """A packed model with a CTC head decodes --ctc (text, steps = the prompt's positions);
    the backbone's weights without the head load into it (ESPnet's --init_param path keeps the
    new head's init); a model without a head is refused in one line."""
    from test_pack import make_pretrained

    from lst.bin.asr_inference import main
    from lst.bin.pack_model import main as pack_main
    from lst.tasks.lst import LSTTask

    src = make_pretrained(tmp_path, "token_lm")
    cfg = yaml.safe_load(Path(src["config"]).read_text())
    backbone = LSTTask.build_model(argparse.Namespace(**cfg)).state_dict()
    cfg["model_conf"]["ctc_weight"] = 0.3
    Path(src["config"]).write_text(yaml.safe_dump(cfg, allow_unicode=True))
    model = LSTTask.build_model(argparse.Namespace(**cfg))
    missing, unexpected = model.load_state_dict(backbone, strict=False)
    assert sorted(missing) == ["ctc_head.bias", "ctc_head.weight"] and not unexpected
    with torch.no_grad():  # a head that always says piece 7 then blank: "7" once per utterance
        model.ctc_head.weight.zero_()
        model.ctc_head.bias.fill_(-5.0)
        model.ctc_head.bias[7] = 5.0
    torch.save(model.state_dict(), src["model_file"])
    packed = tmp_path / "ctc.zip"
    assert pack_main(["--config", src["config"], "--model_file", src["model_file"], "--bpe_model", src["bpe_model"],
                      "--km_dir", src["km_dir"], "--unit_info", src["unit_info"], "--out", str(packed)]) == 0
    units = tmp_path / "units"
    units.write_text("u1 1 2 3 4\nu2 5 5\n")
    out = tmp_path / "dec"
    assert main(["--model", str(packed), "--units", str(units), "--output_dir", str(out), "--ctc"]) == 0
    info = json.loads((out / "decode_info.json").read_text())
    assert info["summary"]["ctc"] is True and info["summary"]["n_utts"] == 2
    assert info["utts"]["u1"]["global_steps"] == 2 + 4  # <sos/eos> <s> + 4 units, one forward
    assert info["utts"]["u1"]["n_tokens"] == 1 and info["utts"]["u2"]["n_tokens"] == 1
    # --pre_beam ctc: the joint search ranks candidates by the head (recorded); without a CTC weight it is refused
    assert main(["--model", str(packed), "--units", str(units), "--output_dir", str(tmp_path / "pb"), "--beam", "2",
                 "--ctc_weight", "0.9", "--pre_beam", "ctc", "--max_len", "3"]) == 0
    assert json.loads((tmp_path / "pb" / "decode_info.json").read_text())["summary"]["pre_beam"] == "ctc"
    with pytest.raises(SystemExit):
        main(["--model", str(packed), "--units", str(units), "--output_dir", str(tmp_path / "pb0"), "--beam", "2",
              "--pre_beam", "ctc"])
    # --model_file with the backbone's weights (asr.sh stage 9's epoch 0): greedy LM decoding runs,
    # a CTC decode is refused (the head would be its random init); a foreign state is refused
    bb = tmp_path / "backbone.pth"
    torch.save(backbone, bb)
    assert main(["--model", str(packed), "--model_file", str(bb), "--units", str(units), "--output_dir",
                 str(tmp_path / "ep0"), "--max_len", "3"]) == 0
    assert json.loads((tmp_path / "ep0" / "decode_info.json").read_text())["summary"]["n_utts"] == 2
    caplog.clear()
    assert main(["--model", str(packed), "--model_file", str(bb), "--units", str(units), "--output_dir",
                 str(tmp_path / "ep0c"), "--ctc"]) == 1
    assert any("no CTC head" in r.getMessage() for r in caplog.records)
    head_only = dict(backbone, **{k: v for k, v in model.state_dict().items() if k.startswith("ctc_head.")})
    del head_only[next(iter(backbone))]
    torch.save(head_only, bb)
    caplog.clear()
    assert main(["--model", str(packed), "--model_file", str(bb), "--units", str(units), "--output_dir",
                 str(tmp_path / "ep0d")]) == 1
    assert any("does not fit" in r.getMessage() and "missing keys" in r.getMessage() for r in caplog.records)
    # the plain backbone has no head
    cfg["model_conf"].pop("ctc_weight")
    Path(src["config"]).write_text(yaml.safe_dump(cfg, allow_unicode=True))
    torch.save(backbone, src["model_file"])
    plain = tmp_path / "plain.zip"
    assert pack_main(["--config", src["config"], "--model_file", src["model_file"], "--bpe_model", src["bpe_model"],
                      "--km_dir", src["km_dir"], "--unit_info", src["unit_info"], "--out", str(plain)]) == 0
    assert main(["--model", str(plain), "--units", str(units), "--output_dir", str(tmp_path / "d2"), "--ctc"]) == 1
    assert any("no CTC head" in r.getMessage() for r in caplog.records)


def test_results_and_curve_name_ctc_decodes(tmp_path):
    """asr.sh stage 5's decode_<set>_ctc dirs become 'ctc' rows; stage 9's CTC decodes label the
    curve 'ctc' (read from decode_info.json), plain ones 'greedy'."""
    from test_asr_curve import fake_run

    from lst.downstream.curve import curve_markdown, make_curve
    from lst.downstream.results import _lm_decodes, decode_name, length_label

    assert decode_name({"beam": 1, "ctc": True}) == "ctc"
    assert decode_name({"beam": 1}) == "greedy" and decode_name({"beam": 4, "ctc": False}) == "beam4"
    # beam searches with stage 10's length settings (--pick_length_norm, --pick_length_bonuses) say so
    joint = {"beam": 4, "ctc_weight": 0.5, "length_penalty": 0.0, "length_bonus": 1.5}
    assert decode_name(joint) == "beam4_ctc0.5_ln0_lb1.5"
    assert decode_name({**joint, "length_penalty": 1.0, "length_bonus": 0.0}) == "beam4_ctc0.5"
    assert decode_name({"beam": 1, "length_penalty": 0.0, "length_bonus": 1.0}) == "greedy"
    # a joint search with the CTC pre-beam (--pick_pre_beam ctc) says so too; the LM's is the default
    pb = {"beam": 4, "ctc_weight": 0.9, "pre_beam": "ctc"}
    assert decode_name(pb) == "beam4_ctc0.9_pbctc" and decode_name({**joint, "pre_beam": "ctc"}) == \
        "beam4_ctc0.5_ln0_lb1.5_pbctc"
    assert decode_name({**pb, "pre_beam": "lm"}) == "beam4_ctc0.9"
    assert length_label(pb) == ", CTC pre-beam" and length_label({"beam": 4, "ctc_weight": 0.9}) == ""
    exp = tmp_path / "asr_m"
    for name, summary in [("greedy", {"beam": 1, "ctc": False}), ("ctc", {"beam": 1, "ctc": True}),
                          ("joint_ep3", {"beam": 4, "ctc_weight": 0.5}), ("joint_ln0_lb1.5_ep3", joint),
                          ("joint_pbctc_ep3", pb), ("joint_ln0_lb1.5_pbctc_ep3", {**joint, "pre_beam": "ctc"}),
                          ("joint_lnx_ep3", joint), ("joint_pbctc_ln0_lb1.5_ep3", joint)]:  # (the last two: not
        # names stage 10 writes, so not read)
        d = exp / f"decode_test_{name}"
        d.mkdir(parents=True)
        (d / "score.json").write_text(json.dumps({"wer": 50.0, "cer": 20.0}))
        (d / "decode_info.json").write_text(json.dumps({"summary": summary}))
    assert [(mode, decode_name(sm), tag) for _, _, _, mode, _, sm, tag in _lm_decodes(tmp_path, ["m"], ["test"])] == \
        [("greedy", "greedy", None), ("ctc", "ctc", None), ("joint", "beam4_ctc0.5", "ep3"),
         ("joint", "beam4_ctc0.5_ln0_lb1.5", "ep3"), ("joint", "beam4_ctc0.5_ln0_lb1.5_pbctc", "ep3"),
         ("joint", "beam4_ctc0.9_pbctc", "ep3")]
    run = fake_run(tmp_path, "asr_ctc", [60.0, 50.0])
    for d in (run / "curve").iterdir():
        (d / "decode_info.json").write_text(json.dumps({"summary": {"beam": 1, "ctc": True}}))
    curve = make_curve([str(run)], ["m_ctc"], ["test"])
    assert {r["decode"] for r in curve["rows"]} == {"ctc"}
    assert curve_markdown(curve).startswith("# WER against fine-tuning updates (ctc)")
    plain = make_curve([str(fake_run(tmp_path, "asr_plain", [60.0]))], ["m"], ["test"])
    assert plain["rows"][0]["decode"] == "greedy"


@pytest.mark.parametrize("kind", ["token_lm", "lst"])
def test_joint_ctc_attention_beam_search(kind):
    """ctc_weight 0 is the plain beam search; a confident CTC head (piece 7 on every unit, the
    rest blank) pulls the joint search to its transcript, which the untrained LM alone does not
    give; CTC caps the length at the number of units."""
    from lst.downstream.decode import recognize
    from lst.vocab import SpeechTextVocab, build_token_list

    vocab = SpeechTextVocab(build_token_list([f"p{i}" for i in range(OFF - 5)], K))
    model = build(kind).eval()
    units = [3, 5, 5, 1, 7, 7, 2, 2] * 2
    plain = recognize(model, vocab, units, beam=3, max_len=8)  # (max_len < units: no CTC length cap)
    same = recognize(model, vocab, units, beam=3, max_len=8, ctc_weight=1e-12)
    assert same["tokens"] == plain["tokens"] and set(plain["tokens"]) != {7}
    with torch.no_grad():
        model.ctc_head.weight.zero_()
        model.ctc_head.bias.fill_(-5.0)
        model.ctc_head.bias[0] = 5.0  # blank
        model.ctc_head.bias[7] = 4.0
    # greedy CTC reads all blank, but the prefix probability of "7 ..." beats the empty one
    # (beam 12: the 1.5 x beam LM pre-beam holds all 16 allowed ids, so the untrained LM's
    # ranking cannot hide piece 7 or the end)
    joint = recognize(model, vocab, units[:6], beam=12, max_len=12, ctc_weight=0.9)
    assert 1 <= len(joint["tokens"]) <= 6 and set(joint["tokens"]) == {7}
    with pytest.raises(ValueError, match="beam"):
        recognize(model, vocab, units, beam=1, ctc_weight=0.3)


def test_joint_decode_counts_the_ctc_forward():
    """The joint search's global steps include the CTC head's forward over the prompt."""
    from lst.downstream.decode import beam_decode, recognize, unit_ctc_log_probs
    from lst.downstream.decode import allowed_mask, asr_prompt
    from lst.vocab import SpeechTextVocab, build_token_list

    vocab = SpeechTextVocab(build_token_list([f"p{i}" for i in range(OFF - 5)], K))
    model = build("token_lm").train()
    units = [3, 5, 5, 1, 7, 7]
    lp, steps = unit_ctc_log_probs(model, vocab, units)
    assert model.training and steps == 2 + len(units) and lp.shape == (len(units), OFF)
    joint = recognize(model, vocab, units, beam=2, max_len=4, ctc_weight=0.5)
    search = beam_decode(model.eval(), asr_prompt(vocab, units), allowed_mask(vocab, "text"), 4, 2,
                         ctc_log_probs=lp, ctc_weight=0.5)
    assert joint["tokens"] == search["tokens"] and joint["global_steps"] == search["global_steps"] + steps


def test_length_bonus_lengthens_the_joint_search_and_stops_by_espnet_end_detection():
    """ESPnet's --penalty (length_bonus, per token) with raw scores (length_penalty 0): a bonus
    buys more of the CTC head's tokens than a negative one, bonus 0 is the default search, and the
    search stops by ESPnet's end detection (ended_far_below_best)."""
    from lst.downstream.decode import ended_far_below_best, recognize
    from lst.vocab import SpeechTextVocab, build_token_list

    vocab = SpeechTextVocab(build_token_list([f"p{i}" for i in range(OFF - 5)], K))
    model = build("token_lm").eval()
    with torch.no_grad():
        model.ctc_head.weight.zero_()
        model.ctc_head.bias.fill_(-5.0)
        model.ctc_head.bias[0] = 5.0  # blank
        model.ctc_head.bias[7] = 4.0
    units = [3, 5, 5, 1, 7, 7, 2, 2]
    args = dict(beam=12, max_len=12, ctc_weight=0.9, length_penalty=0.0)
    short = recognize(model, vocab, units, length_bonus=-5.0, **args)
    long = recognize(model, vocab, units, length_bonus=5.0, **args)
    assert set(long["tokens"]) == {7} and len(short["tokens"]) < len(long["tokens"]) <= len(units) // 2
    default = recognize(model, vocab, units, beam=3, max_len=8, ctc_weight=0.5)
    assert recognize(model, vocab, units, beam=3, max_len=8, ctc_weight=0.5, length_bonus=0.0) == \
        {**default, "seconds": pytest.approx(default["seconds"], abs=10)}
    with pytest.raises(ValueError, match="length_penalty"):
        recognize(model, vocab, units, beam=3, length_penalty=-1.0)
    # ended_far_below_best: (ranked score, score, tokens); a hypothesis of k tokens ended at step k
    ended = [(0.0, -1.0, [5]), (0.0, -20.0, [5, 6]), (0.0, -30.0, [5, 6, 7]), (0.0, -12.0, [5, 6, 7, 8])]
    assert ended_far_below_best(ended, 4)            # steps 4, 3, 2: all more than 10 below -1
    assert not ended_far_below_best(ended, 5)        # nothing ended at step 5: go on
    assert not ended_far_below_best(ended[:1] + [(0.0, -5.0, [5, 6])] + ended[2:], 4)  # step 2 within 10
    assert not ended_far_below_best([], 3)


@pytest.mark.parametrize("kind", ["token_lm", "lst"])
def test_ctc_pre_beam_keeps_the_token_an_lm_would_prune(kind):
    """--pre_beam ctc: the joint search's candidates come from the CTC prefix scores of every text
    token, so a token that the LM ranks last (out of its 1.5 x beam pre-beam) but the CTC head is
    sure of is still found; the LM pre-beam (ESPnet's, the default) never lets it in first."""
    from lst.downstream.decode import allowed_mask, asr_prompt, make_stream, recognize
    from lst.vocab import SpeechTextVocab, build_token_list

    vocab = SpeechTextVocab(build_token_list([f"p{i}" for i in range(OFF - 5)], K))
    model = build(kind).eval()
    units = [3, 5, 5, 1, 7, 7, 2, 2]
    allowed = allowed_mask(vocab, "text")
    with torch.no_grad():
        first = make_stream(model, True).prefill(asr_prompt(vocab, units)).float()
    tok = int(torch.where(allowed, first, torch.tensor(float("inf"))).argmin())  # the LM's last choice
    assert tok >= vocab.text_offset
    with torch.no_grad():
        model.ctc_head.weight.zero_()
        model.ctc_head.bias.fill_(-5.0)
        model.ctc_head.bias[0] = 5.0  # blank
        model.ctc_head.bias[tok] = 4.0
    args = dict(beam=2, max_len=8, ctc_weight=0.9)
    by_lm = recognize(model, vocab, units, **args)
    by_ctc = recognize(model, vocab, units, pre_beam_by="ctc", **args)
    assert by_lm["tokens"][:1] != [tok]
    assert by_ctc["tokens"] and set(by_ctc["tokens"]) == {tok} and len(by_ctc["tokens"]) <= len(units)
    assert recognize(model, vocab, units, pre_beam_by="lm", **args)["tokens"] == by_lm["tokens"]
    with pytest.raises(ValueError, match="pre_beam_by"):
        recognize(model, vocab, units, pre_beam_by="att", **args)
