"""RESULTS.md writers of the downstream recipes (command line: ``lst.bin.downstream_results``); the TTS
writer also writes RESULTS.json beside its RESULTS.md, and so does the ASR comparison (the fine-tuned LMs' rows)."""
import json
import os
import re
from pathlib import Path
from typing import Dict, List, Optional

from lst.downstream.score import md_table


def _load(path) -> Optional[Dict]:
    p = Path(path)
    return json.loads(p.read_text()) if p.is_file() else None


def _train_seconds(exp: Path) -> Optional[float]:
    """Wall seconds in ``train_seconds``: one line per finished training call, summed."""
    p = exp / "train_seconds"
    return sum(float(x) for x in p.read_text().split()) if p.is_file() else None


def _param_count_from_espnet(exp: Path) -> Optional[int]:
    import torch

    for name in ("valid.acc.best.pth", "valid.loss.best.pth", "latest.pth"):
        p = exp / name
        if p.exists():
            sd = torch.load(p, map_location="cpu", weights_only=True)
            return int(sum(v.numel() for v in sd.values() if hasattr(v, "numel") and v.is_floating_point()))
    return None


DECODE_MODES = ("greedy", "beam", "ctc", "joint")  # asr.sh stage 5's decode_<set>_<mode> dirs
# stage 10's decode_<set>_<mode>_ep<N> (the epoch picked on the validation set) and decode_<set>_<mode>_ave<N>
# (the average of the N best epochs there, asr.sh --pick_average N), with _ln<norm>_lb<bonus> before the tag
# for beam searches with stage 10's length settings (--pick_length_bonuses, --pick_length_norm), then _pbctc
# for joint searches whose candidates come from the CTC prefix scores (--pick_pre_beam ctc)
PICKED_DIR = re.compile(r"^decode_.+?((?:_ln[0-9.]+_lb-?[0-9.]+)?(?:_pbctc)?)_(ep|ave)(\d+)$")


def _decode_dirs(exp: Path, dset: str, mode: str):
    """[(dir, picked tag)]: stage 5's decode_<set>_<mode> of the run's chosen checkpoint (tag None), then
    stage 10's decodes of the epoch picked on the validation set (tag 'ep<N>') or of the average of the
    N best epochs there ('ave<N>'), epochs first, each in number order."""
    picked = []
    for d in exp.glob(f"decode_{dset}_{mode}_*"):
        match = PICKED_DIR.match(d.name)
        if match and d.name == f"decode_{dset}_{mode}{match.group(1) or ''}_{match.group(2)}{match.group(3)}":
            picked.append((d, match.group(2), int(match.group(3))))
    picked.sort(key=lambda d_kind_n: (d_kind_n[1] != "ep", d_kind_n[2], d_kind_n[0].name))
    return [(exp / f"decode_{dset}_{mode}", None)] + [(d, f"{kind}{n}") for d, kind, n in picked]


def averaged_epochs(exp: Path, tag: str) -> Optional[List[int]]:
    """The epochs behind stage 10's ave<N> decodes (<exp>/ave<N>best.json), None when it is unreadable."""
    return (_load(exp / f"{tag}best.json") or {}).get("epochs")


def picked_label(exp: Path, tag: str) -> str:
    """'epoch 28' for tag ep28; 'average of epochs 28 29 25' for ave3 (from <exp>/ave3best.json)."""
    if tag.startswith("ep"):
        return f"epoch {tag[2:]}"
    return f"average of epochs {' '.join(map(str, averaged_epochs(exp, tag) or ['?']))}"


def asr_lm(args):
    exp = Path(args.exp)
    rows, kind = [], None
    for dset in args.sets.split():
        for mode in DECODE_MODES:
            for d, tag in _decode_dirs(exp, dset, mode):
                s, info = _load(d / "score.json"), _load(d / "decode_info.json")
                if s is None or info is None:
                    continue
                sm = info["summary"]
                kind = kind or sm["model"]
                search = mode
                if tag is not None:  # the picked epoch (or average), and the joint search's CTC weight
                    search = f"{mode}, {picked_label(exp, tag)}" + (f", CTC {sm.get('ctc_weight')}" if mode == "joint" else "")
                    search += length_label(sm)
                rows.append([dset, search, sm["beam"], s["n_utts"], s["n_words"], s["wer"], s["cer"], s["sub"],
                             s["del"], s["ins"], sm["global_steps"], sm["decode_seconds"], sm["rtf_decode"]])
    text = (f"# ASR fine-tuned from the pretrained `{kind}` backbone ({exp})\n\n"
            "s2t fine-tuning (speech prefix, then transcript); decoding by lst.bin.asr_inference from wav "
            "(package features + k-means -> units -> text). WER/CER in %, jiwer. `global steps` counts the "
            "global-model steps of all utterances (prefill + text tokens, all beam hypotheses; ctc: the "
            "one forward over the units); "
            "RTF = decode seconds / audio seconds (decode loop only, no feature extraction).\n\n")
    text += md_table(["set", "search", "beam", "utts", "words", "WER", "CER", "sub", "del", "ins", "global steps",
                      "decode s", "RTF"], rows)
    Path(args.out).write_text(text)
    print(text)


def asr_compare(args):
    expdir = Path(args.expdir)
    rows = []
    sets = args.sets.split()
    for m, exp, dset, mode, s, sm, tag in _lm_decodes(expdir, args.models.split(), sets):
        search = decode_name(sm) if sm.get("ctc") or sm.get("ctc_weight") else f"{mode} (beam {sm['beam']})"
        if tag is not None:
            search += f", {picked_label(exp, tag)}"
        rows.append([f"{m} (fine-tuned LM)", dset, search,
                     s["wer"], s["cer"],
                     sm["params"], _train_seconds(exp), sm["rtf_decode"], sm["global_steps"]])
    es = expdir / "asr_espnet"
    if es.is_dir():
        params = _param_count_from_espnet(es)
        for dset in sets:
            d = es / f"decode_{dset}"
            s, t = _load(d / "score.json"), _load(d / "timing.json")
            if s is None:
                continue
            rows.append(["ESPnet ASR (fbank, CTC/attention)", dset, "beam (ESPnet)", s["wer"], s["cer"], params,
                         _train_seconds(es), t["rtf"] if t else None, None])
    text = ("# ASR: fine-tuned speech-text LMs vs ESPnet's own ASR, same split\n\n"
            "WER/CER in % (jiwer); params = model parameters; train s = wall seconds of the (fine-)tuning run "
            "(pretraining not included); RTF = decoding seconds / audio seconds (decode call only: LM "
            "models exclude unit extraction, ESPnet includes its fbank frontend); global steps: all utterances, "
            "all hypotheses.\n\n")
    text += md_table(["system", "set", "search", "WER", "CER", "params", "train s", "RTF", "global steps"], rows)
    json_rows = asr_lm_rows(expdir, args.models.split(), sets)
    if json_rows:
        Path(args.out).with_suffix(".json").write_text(json.dumps(json_rows, indent=1) + "\n")
        text += (f"\n{Path(args.out).with_suffix('.json').name}: the fine-tuned LMs' rows ({', '.join(ASR_JSON_KEYS)}; "
                 "train_s = the epochs' train + valid time, rtf = whole decode incl. unit extraction / audio s, "
                 "updates = optimizer updates of the run, best_epoch = the decoded checkpoint's epoch)\n")
    speed = _lm_speedups(expdir, sets)
    if speed:
        text += "\n## LST vs token baseline, ASR decoding\n\n" + speed
    text += _speed_sections(expdir)
    Path(args.out).write_text(text)
    print(text)


ASR_JSON_KEYS = ("system", "decode", "set", "wer", "cer", "params_m", "train_s", "rtf", "rtf_decode", "epochs",
                 "updates", "best_epoch", "global_steps")


def finetune_run_info(exp: Path) -> Dict:
    """Epochs run, optimizer updates, the dev-picked checkpoint's epoch (valid.loss.best.pth)
    and the training seconds (sum of the trainer's per-epoch train + valid times from the
    reporter in checkpoint.pth, so an interrupted and resumed run counts every epoch once;
    else the ``train_seconds`` file) of an lst_train run: the one summary of a fine-tuning or
    units -> text run for every results table. None where the run does not tell."""
    import torch

    from lst.downstream.curve import CurveError, epoch_checkpoints, updates_per_epoch

    info = {"epochs": None, "updates": None, "best_epoch": None, "train_s": _train_seconds(exp)}
    ckpt = exp / "checkpoint.pth"
    if ckpt.is_file():
        rep = torch.load(ckpt, map_location="cpu", weights_only=False).get("reporter", {})
        stats = rep.get("stats", {})
        info["epochs"] = rep.get("epoch")
        secs = [st[ph]["time"].total_seconds() for st in stats.values() for ph in ("train", "valid")
                if ph in st and hasattr(st[ph].get("time"), "total_seconds")]
        if secs:
            info["train_s"] = round(sum(secs), 1)
    best = exp / "valid.loss.best.pth"
    if best.is_symlink():
        name = Path(os.readlink(best)).name
        if name.endswith("epoch.pth") and name[:-len("epoch.pth")].isdigit():
            info["best_epoch"] = int(name[:-len("epoch.pth")])
    if info["epochs"] is None and epoch_checkpoints(exp):
        info["epochs"] = epoch_checkpoints(exp)[-1][0]
    try:
        if info["epochs"] is not None:
            info["updates"] = info["epochs"] * updates_per_epoch(exp)
    except CurveError:
        pass
    return info


def asr_lm_rows(expdir: Path, models, sets):
    """RESULTS.json rows (ASR_JSON_KEYS) of the fine-tuned LMs' stage-5 decodes, and of stage 10's decodes
    of the epoch picked on the validation set (decode name + ``_ep<N>``, best_epoch N) or of the average
    of the N best epochs there (decode name + ``_ave<N>``, best_epoch None, averaged_epochs: the list)."""
    rows, runs = [], {}
    for m, exp, dset, mode, s, sm, tag in _lm_decodes(expdir, models, sets):
        if m not in runs:  # one summary per run, read once
            runs[m] = finetune_run_info(exp)
        run, extra = runs[m], {}
        if tag is not None and tag.startswith("ep"):  # stage 10: the epoch picked on the validation set
            run = dict(run, best_epoch=int(tag[2:]))
        elif tag is not None:  # stage 10 --pick_average: no single epoch
            run = dict(run, best_epoch=None)
            extra = {"averaged_epochs": averaged_epochs(exp, tag)}
        rows.append({"system": m, "decode": decode_name(sm) + ("" if tag is None else f"_{tag}"),
                     "set": dset, "wer": round(s["wer"], 2), "cer": round(s["cer"], 2),
                     "params_m": round(sm["params"] / 1e6, 2), "train_s": run["train_s"],
                     "rtf": _r(sm.get("rtf_total")), "rtf_decode": _r(sm.get("rtf_decode")),
                     "epochs": run["epochs"], "updates": run["updates"], "best_epoch": run["best_epoch"],
                     "global_steps": sm["global_steps"], **extra})
    return rows


def length_settings(summary: Dict):
    """(length norm, length bonus) of a beam search's decode_info.json summary when they are not the
    defaults (1, 0), else None (also for greedy and CTC decodes, and decodes from before the options)."""
    if summary.get("ctc") or summary.get("beam", 1) <= 1:
        return None
    norm, bonus = summary.get("length_penalty", 1.0), summary.get("length_bonus", 0.0)
    return None if norm == 1 and bonus == 0 else (norm, bonus)


def ctc_pre_beam(summary: Dict) -> bool:
    """Whether a joint search took its candidates from the CTC prefix scores (asr_inference --pre_beam ctc)."""
    return bool(summary.get("ctc_weight")) and summary.get("pre_beam", "lm") == "ctc"


def length_label(summary: Dict) -> str:
    """', length norm 0, bonus 1.5' for a beam search with stage 10's length settings, else ''; then
    ', CTC pre-beam' for a joint search whose candidates came from the CTC prefix scores."""
    ls = length_settings(summary)
    return ("" if ls is None else f", length norm {ls[0]:g}, bonus {ls[1]:g}") + (
        ", CTC pre-beam" if ctc_pre_beam(summary) else "")


def decode_name(summary: Dict) -> str:
    """greedy, beam<N>, ctc or beam<N>_ctc<w> (joint), from a decode_info.json summary; a beam search
    with other length settings than the defaults ends in _ln<norm>_lb<bonus>, a joint search with
    the CTC pre-beam in _pbctc."""
    if summary.get("ctc"):
        return "ctc"
    ls = length_settings(summary)
    suffix = "" if ls is None else f"_ln{ls[0]:g}_lb{ls[1]:g}"
    if summary.get("ctc_weight"):
        return f"beam{summary['beam']}_ctc{summary['ctc_weight']:g}{suffix}{'_pbctc' if ctc_pre_beam(summary) else ''}"
    return "greedy" if summary["beam"] == 1 else f"beam{summary['beam']}{suffix}"


def _lm_decodes(expdir, models, sets):
    """(model, its exp dir, set, mode, score, decode summary, stage 10's tag ep<N> / ave<N> or None) of
    every scored stage-5 and stage-10 decode."""
    for m in models:
        exp = Path(expdir) / f"asr_{m}"
        for dset in sets:
            for mode in DECODE_MODES:
                for d, tag in _decode_dirs(exp, dset, mode):
                    s, info = _load(d / "score.json"), _load(d / "decode_info.json")
                    if s is not None and info is not None:
                        yield m, exp, dset, mode, s, info["summary"], tag


def _lm_speedups(expdir: Path, sets) -> str:
    rows = []
    for dset in sets:
        for mode in ("greedy", "beam"):
            a = _load(expdir / "asr_token_lm" / f"decode_{dset}_{mode}" / "decode_info.json")
            b = _load(expdir / "asr_lst" / f"decode_{dset}_{mode}" / "decode_info.json")
            if a and b:
                sa, sb = a["summary"], b["summary"]
                rows.append([dset, mode, sa["decode_seconds"], sb["decode_seconds"],
                             sa["decode_seconds"] / max(sb["decode_seconds"], 1e-9), sa["global_steps"],
                             sb["global_steps"], sa["global_steps"] / max(sb["global_steps"], 1)])
    if not rows:
        return ""
    return ("Wall-time speed-up of LST over the token baseline. At the recipes' small sizes a global step costs "
            "about as much as the Python and the local layers around it, and the time also follows hypothesis "
            "length (a model that stops early decodes faster): the synthetic benchmark "
            "(`python -m lst.bin.benchmark decode`) isolates the model cost at larger sizes and judges it against "
            "the speed targets.\n\n"
            + md_table(["set", "search", "token_lm s", "lst s", "speed-up", "token_lm steps", "lst steps",
                        "step ratio"], rows))


def _speed_sections(expdir: Path) -> str:
    out = ""
    for f in sorted(expdir.glob("speed_*.md")):
        out += (f"\n## Decoding speed, synthetic benchmark ({f.name}: lst.bin.decode_speed, random weights)\n\n"
                + f.read_text())
    return out


TTS_SYSTEMS_BEFORE = ("original", "reference")  # the test set's own audio; reference units + vocoder
TTS_JSON_KEYS = ["system", "set", "wer", "cer", "asr_wer", "asr_cer", "uer", "speech_s", "global_steps",
                 "global_steps_per_speech_s", "decode_s", "decode_s_per_speech_s", "n_utts", "recognizer_rtf"]


def _r(x, nd=4):
    return round(x, nd) if isinstance(x, float) else x


def tts_rows(expdir: Path, models, sets):
    """One row per (system, set) with any score: ``original`` (the test set's own audio),
    ``reference`` (reference units + vocoder) and each TTS system. ``wer``/``cer``: the
    independent recognizer (``<decode dir>/pocketsphinx/score.json``, lst.bin.recognize);
    ``asr_wer``/``asr_cer``: the recipe's ESPnet ASR (``asr_score.json``), None when not run."""
    rows = []
    for dset in sets:
        for system in [*TTS_SYSTEMS_BEFORE, *models]:
            d = expdir / f"tts_{system}" / f"decode_{dset}"
            ps, asr = _load(d / "pocketsphinx" / "score.json"), _load(d / "asr_score.json")
            info, unit = _load(d / "decode_info.json"), _load(d / "score.json")
            if ps is None and asr is None and info is None:
                continue
            sm = info["summary"] if info else {}
            uer = 0.0 if system == "reference" else (unit or {}).get("unit_error_rate")
            rows.append({
                "system": system, "set": dset,
                "wer": _r(ps["wer"]) if ps else None, "cer": _r(ps["cer"]) if ps else None,
                "asr_wer": _r(asr["wer"]) if asr else None, "asr_cer": _r(asr["cer"]) if asr else None,
                "uer": _r(uer), "speech_s": _r(sm.get("speech_seconds", (ps or {}).get("audio_seconds"))),
                "global_steps": sm.get("speech_global_steps"),
                "global_steps_per_speech_s": _r(sm.get("global_steps_per_speech_second")),
                "decode_s": _r(sm.get("decode_seconds")),
                "decode_s_per_speech_s": _r(sm.get("decode_seconds_per_speech_second")),
                "n_utts": (ps or asr or {}).get("n_utts", sm.get("n_utts")),
                "recognizer_rtf": _r(ps["rtf"]) if ps and "rtf" in ps else None,
            })
    return rows


def tts(args):
    """exp/RESULTS.md (table) and exp/RESULTS.json (the same rows, TTS_JSON_KEYS) of tts.sh."""
    expdir = Path(args.expdir)
    sets, models = args.sets.split(), args.models.split()
    rows = tts_rows(expdir, models, sets)
    with_asr = any(r["asr_wer"] is not None for r in rows)
    cols = [("system", "system"), ("set", "set"), ("wer", "WER"), ("cer", "CER")]
    if with_asr:
        cols += [("asr_wer", "ESPnet-ASR WER"), ("asr_cer", "ESPnet-ASR CER")]
    cols += [("uer", "UER"), ("speech_s", "speech s"), ("global_steps", "global steps"),
             ("global_steps_per_speech_s", "steps / speech s"), ("decode_s", "decode s"),
             ("decode_s_per_speech_s", "decode s / speech s")]
    text = ("# TTS: text -> units (fine-tuned LM) -> unit vocoder -> waveform\n\n"
            "WER/CER (%): the independent recognizer (pocketsphinx en-us: the wheel's acoustic model, LM and "
            "dictionary; lst.bin.recognize), jiwer after lst.downstream.recognizer.normalize_text on both sides"
            + ("; ESPnet-ASR WER/CER: the recipe's ESPnet ASR baseline (--asr_exp), same normaliser" if with_asr
               else "") +
            ". `original` = the test set's own audio, `reference` = the reference units resynthesized by the "
            "recipe's unit vocoder (the vocoder floor), then each TTS system. UER = unit error rate (%) of the "
            "generated units vs the reference units (editdistance). Global steps count only the speech part "
            "(after the text prompt); decode s excludes the vocoder.\n\n")
    text += md_table([c[1] for c in cols], [["-" if r[k] is None else r[k] for k, _ in cols] for r in rows])
    speed = {(r["set"], r["system"]): r for r in rows if r["global_steps_per_speech_s"] is not None}
    rows2 = []
    for dset in sets:
        a, b = speed.get((dset, "token_lm")), speed.get((dset, "lst"))
        if a and b:
            rows2.append([dset, a["global_steps_per_speech_s"], b["global_steps_per_speech_s"],
                          a["global_steps_per_speech_s"] / max(b["global_steps_per_speech_s"], 1e-9),
                          a["decode_s_per_speech_s"], b["decode_s_per_speech_s"],
                          a["decode_s_per_speech_s"] / max(b["decode_s_per_speech_s"], 1e-9)])
    if rows2:
        text += ("\n## LST vs token baseline, TTS generation\n\nReduction of global AR steps per second of speech and "
                 "decoding speed-up (wall time per second of generated speech); the speed targets are judged at "
                 "larger sizes by `python -m lst.bin.benchmark decode`.\n\n")
        text += md_table(["set", "token_lm steps/s", "lst steps/s", "step reduction", "token_lm dec s/s",
                          "lst dec s/s", "speed-up"], rows2)
    text += _speed_sections(expdir)
    voc = _load(expdir / "vocoder" / "train_info.json")
    if voc:
        text += (f"\nVocoder: unit->log-mel conv net ({voc['params']} params, {voc['steps']} steps, "
                 f"{voc['train_seconds']:.0f} s on {voc['n_utts']} utterances, final L1 {voc['final_l1']:.3f}) "
                 "+ Griffin-Lim (librosa).\n")
    out = Path(args.out)
    out.write_text(text)
    out.with_suffix(".json").write_text(json.dumps(rows, indent=1) + "\n")
    print(text)
