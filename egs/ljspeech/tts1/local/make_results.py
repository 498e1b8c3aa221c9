#!/usr/bin/env python3
"""TTS table with the independent recognizer: exp/RESULTS_pocketsphinx.md + exp/RESULTS.json.

    python3 local/make_results.py --expdir exp --models "token_lm lst" --sets test

One row per (system, set): ``original`` (the recordings), ``reference`` (reference units +
vocoder) and each TTS system. Columns: pocketsphinx WER/CER (%), unit error rate (%),
speech seconds, global AR steps per second of speech, decode seconds per second of speech
(from tts_inference's decode_info.json) and the vocoder's training time.
"""
import argparse
import json
from pathlib import Path

from lst.downstream.score import md_table

COLUMNS = ["system", "set", "wer", "cer", "uer", "speech_s", "global_steps_per_speech_s",
           "decode_s_per_speech_s", "n_utts"]


def load(path: Path):
    return json.loads(path.read_text()) if path.is_file() else None


def rows_for(expdir: Path, models, sets):
    rows = []
    for dset in sets:
        for system in ["original", "reference", *models]:
            d = expdir / f"tts_{system}" / f"decode_{dset}"
            ps = load(d / "pocketsphinx" / "score.json")
            if ps is None:
                continue
            info, unit = load(d / "decode_info.json"), load(d / "score.json")
            sm = info["summary"] if info else {}
            rows.append({
                "system": system, "set": dset, "wer": round(ps["wer"], 2), "cer": round(ps["cer"], 2),
                "uer": round(unit["unit_error_rate"], 2) if unit and "unit_error_rate" in unit else None,
                "speech_s": round(sm.get("speech_seconds", ps["audio_seconds"]), 2),
                "global_steps_per_speech_s": sm.get("global_steps_per_speech_second"),
                "decode_s_per_speech_s": sm.get("decode_seconds_per_speech_second"),
                "n_utts": ps["n_utts"],
            })
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--expdir", default="exp", type=Path)
    p.add_argument("--models", default="token_lm lst")
    p.add_argument("--sets", default="test")
    args = p.parse_args()
    rows = rows_for(args.expdir, args.models.split(), args.sets.split())
    (args.expdir / "RESULTS.json").write_text(json.dumps(rows, indent=1) + "\n")
    text = ("# LJ Speech TTS scored by the independent recognizer (pocketsphinx en-us)\n\n"
            "WER/CER (%): pocketsphinx (wheel's en-us acoustic model, LM and dictionary) through jiwer after "
            "lst.downstream.recognizer.normalize_text; `original` = the recordings, `reference` = reference "
            "units resynthesized by the recipe's unit vocoder (the vocoder floor); UER = unit error rate of "
            "the generated units; steps and decode seconds per second of generated speech.\n\n")
    text += md_table(COLUMNS, [[r[c] if r[c] is not None else "-" for c in COLUMNS] for r in rows])
    voc = load(args.expdir / "vocoder" / "train_info.json")
    if voc:
        text += (f"\nVocoder: {voc['params']} params, {voc['steps']} steps, {voc['train_seconds']:.0f} s on "
                 f"{voc['n_utts']} utterances, final L1 {voc['final_l1']:.3f}.\n")
    (args.expdir / "RESULTS_pocketsphinx.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
