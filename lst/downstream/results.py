"""RESULTS.md writers of the downstream recipes (command line: ``lst.bin.downstream_results``)."""
import json
from pathlib import Path
from typing import Dict, Optional

from lst.downstream.score import md_table


def _load(path) -> Optional[Dict]:
    p = Path(path)
    return json.loads(p.read_text()) if p.is_file() else None


def _train_seconds(exp: Path) -> Optional[float]:
    p = exp / "train_seconds"
    return float(p.read_text().strip()) if p.is_file() else None


def _param_count_from_espnet(exp: Path) -> Optional[int]:
    import torch

    for name in ("valid.acc.best.pth", "valid.loss.best.pth", "latest.pth"):
        p = exp / name
        if p.exists():
            sd = torch.load(p, map_location="cpu", weights_only=True)
            return int(sum(v.numel() for v in sd.values() if hasattr(v, "numel") and v.is_floating_point()))
    return None


def asr_lm(args):
    exp = Path(args.exp)
    rows = []
    for dset in args.sets.split():
        for mode in ("greedy", "beam"):
            d = exp / f"decode_{dset}_{mode}"
            s, info = _load(d / "score.json"), _load(d / "decode_info.json")
            if s is None or info is None:
                continue
            sm = info["summary"]
            rows.append([dset, mode, sm["beam"], s["n_utts"], s["n_words"], s["wer"], s["cer"], s["sub"], s["del"],
                         s["ins"], sm["global_steps"], sm["decode_seconds"], sm["rtf_decode"]])
    kind = rows and _load(exp / f"decode_{args.sets.split()[0]}_greedy" / "decode_info.json")["summary"]["model"]
    text = (f"# ASR fine-tuned from the pretrained `{kind}` backbone ({exp})\n\n"
            "s2t fine-tuning (speech prefix, then transcript); decoding by lst.bin.asr_inference from wav "
            "(package features + k-means -> units -> text). WER/CER in %, jiwer. `global steps` counts the "
            "global-model steps of all utterances (prefill + text tokens, all beam hypotheses); "
            "RTF = decode seconds / audio seconds (decode loop only, no feature extraction).\n\n")
    text += md_table(["set", "search", "beam", "utts", "words", "WER", "CER", "sub", "del", "ins", "global steps",
                      "decode s", "RTF"], rows)
    Path(args.out).write_text(text)
    print(text)


def asr_compare(args):
    expdir = Path(args.expdir)
    rows = []
    sets = args.sets.split()
    for m in args.models.split():
        exp = expdir / f"asr_{m}"
        for dset in sets:
            for mode in ("greedy", "beam"):
                d = exp / f"decode_{dset}_{mode}"
                s, info = _load(d / "score.json"), _load(d / "decode_info.json")
                if s is None or info is None:
                    continue
                sm = info["summary"]
                rows.append([f"{m} (fine-tuned LM)", dset, f"{mode} (beam {sm['beam']})", s["wer"], s["cer"],
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
    speed = _lm_speedups(expdir, sets)
    if speed:
        text += "\n## LST vs token baseline, ASR decoding\n\n" + speed
    text += _speed_sections(expdir)
    Path(args.out).write_text(text)
    print(text)


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


def tts(args):
    expdir = Path(args.expdir)
    rows, speed = [], {}
    for dset in args.sets.split():
        ref = _load(expdir / "tts_reference" / f"decode_{dset}" / "asr_score.json")
        if ref:
            rows.append(["reference units + vocoder", dset, ref["wer"], ref["cer"], 0.0, None, None, None, None, None])
        for m in args.models.split():
            d = expdir / f"tts_{m}" / f"decode_{dset}"
            info, asr, unit = _load(d / "decode_info.json"), _load(d / "asr_score.json"), _load(d / "score.json")
            if info is None:
                continue
            sm = info["summary"]
            speed[(dset, m)] = sm
            rows.append([f"{m}", dset, asr["wer"] if asr else None, asr["cer"] if asr else None,
                         unit["unit_error_rate"] if unit else None, sm["speech_seconds"], sm["speech_global_steps"],
                         sm["global_steps_per_speech_second"], sm["decode_seconds"],
                         sm["decode_seconds_per_speech_second"]])
    voc = _load(expdir / "vocoder" / "train_info.json")
    text = ("# TTS: text -> units (fine-tuned LM) -> unit vocoder -> waveform\n\n"
            "WER/CER (%) of the synthesized audio by the independent recognizer (ESPnet ASR baseline of "
            "the asr1 recipe); UER = unit error rate (%) of the generated units vs the reference units "
            "(editdistance). Global steps count only the speech part (after the text prompt); "
            "decode s excludes the vocoder. `reference units + vocoder` resynthesizes the reference "
            "units: the vocoder + recognizer floor.\n\n")
    text += md_table(["system", "set", "WER", "CER", "UER", "speech s", "global steps", "steps / speech s",
                      "decode s", "decode s / speech s"], rows)
    rows2 = []
    for dset in args.sets.split():
        a, b = speed.get((dset, "token_lm")), speed.get((dset, "lst"))
        if a and b:
            rows2.append([dset, a["global_steps_per_speech_second"], b["global_steps_per_speech_second"],
                          a["global_steps_per_speech_second"] / max(b["global_steps_per_speech_second"], 1e-9),
                          a["decode_seconds_per_speech_second"], b["decode_seconds_per_speech_second"],
                          a["decode_seconds_per_speech_second"] / max(b["decode_seconds_per_speech_second"], 1e-9)])
    if rows2:
        text += ("\n## LST vs token baseline, TTS generation\n\nReduction of global AR steps per second of speech and "
                 "decoding speed-up (wall time per second of generated speech); the speed targets are judged at "
                 "larger sizes by `python -m lst.bin.benchmark decode`.\n\n")
        text += md_table(["set", "token_lm steps/s", "lst steps/s", "step reduction", "token_lm dec s/s",
                          "lst dec s/s", "speed-up"], rows2)
    text += _speed_sections(expdir)
    if voc:
        text += (f"\nVocoder: unit->log-mel conv net ({voc['params']} params, {voc['steps']} steps, "
                 f"{voc['train_seconds']:.0f} s on {voc['n_utts']} utterances, final L1 {voc['final_l1']:.3f}) "
                 "+ Griffin-Lim (librosa).\n")
    Path(args.out).write_text(text)
    print(text)
