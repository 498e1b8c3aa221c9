r"""Speech synthesis with a packed speech-text LM (fine-tuned on t2s) and a unit vocoder.

    python -m lst.bin.tts_inference --model exp/tts_lst/packed.zip --vocoder exp/vocoder/vocoder.pth \
        --text data/test/text --output_dir exp/tts_lst/decode_test [--ref_units dump/units/test/units]

Text -> BPE -> prompt ``<sos/eos> <t> pieces <s>`` -> speech units until <sos/eos>
(greedy by default; ``--sample`` with ``--temperature``/``--top_k``). LST generates with one
global step per patch; the token baseline one per unit. Writes ``wav/<utt>.wav`` (16 kHz),
``wav.scp``, ``units``, and ``decode_info.json`` (per utterance: global steps, units,
seconds of speech, decode seconds). ``--ref_units`` adds the unit error rate
(editdistance) to ``score.json``. Without ``--vocoder`` only units are written.

A model on deduplicated units (SpiritLM style: its package says ``dedup``) needs a vocoder
trained on them (``lst.bin.train_vocoder`` on deduplicated units keeps a duration model): the
vocoder's predicted durations give the frames, and the seconds of speech in
``decode_info.json`` count those frames.

The unit budget is ``--max_units_per_token`` x BPE tokens (and at most ``--max_units``), so
a model that never emits <sos/eos> stops at a bounded length; ``--min_units`` keeps it from
stopping at once.

An utterance that cannot be synthesized (empty transcript, a prompt or output longer than the
model's ``max_len``, units the vocoder refuses) is logged with its id and reason, listed under
``failed`` in ``decode_info.json``, and the batch goes on; the exit status is 1 only when
nothing was produced. Wav names are the ids percent-escaped (lst.data.kaldi_dir.utt_file_name),
so ids with ``/`` work and never collide; list files are renamed into place when complete.
"""
import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
import torch

from lst.data.kaldi_dir import DataDirError, read_kaldi_map, utt_file_name


def get_parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="packed model (.zip/.tar.gz or unpacked directory)")
    p.add_argument("--vocoder", default=None, help="vocoder.pth from lst.bin.train_vocoder")
    p.add_argument("--text", required=True, help="kaldi-style 'utt transcript'")
    p.add_argument("--output_dir", required=True)
    p.add_argument("--max_units_per_token", type=float, default=40.0)
    p.add_argument("--max_units", type=int, default=1500)
    p.add_argument("--min_units", type=int, default=5)
    p.add_argument("--sample", action="store_true")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--top_k", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no_cache", action="store_true")
    p.add_argument("--ref_units", default=None)
    p.add_argument("--griffin_lim_iters", type=int, default=32)
    p.add_argument("--threads", type=int, default=1)
    return p


def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    if args.max_units < 1 or args.min_units < 0 or args.max_units_per_token <= 0 or args.threads < 1:
        get_parser().error("--max_units and --threads must be >= 1, --min_units >= 0, --max_units_per_token > 0")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (tts_inference) %(levelname)s: %(message)s")
    torch.set_num_threads(args.threads)
    import soundfile

    from lst.downstream.decode import synthesize_units
    from lst.pack import PackError, load_packed
    from lst.vocoder import UnitVocoder, VocoderInputError

    from lst.stage_io import atomic_write_file, io_error_message

    try:
        texts = read_kaldi_map(args.text, allow_empty_value=True)
    except DataDirError as e:
        logging.error(str(e))
        return 1
    try:
        pk = load_packed(args.model)
    except PackError as e:
        logging.error(str(e))
        return 1
    vocoder = None
    if args.vocoder:
        try:
            vocoder = UnitVocoder.load(args.vocoder, args.griffin_lim_iters)
        except Exception as e:  # noqa: BLE001 - a damaged vocoder file: one line naming it
            logging.error(f"{args.vocoder}: cannot be loaded ({type(e).__name__}: {' '.join(str(e).split())[:200]})")
            return 1
        if vocoder.n_units != pk.vocab.n_units or abs(vocoder.cfg.unit_rate_hz - pk.unit_rate_hz) > 1e-6:
            logging.error(f"{args.vocoder}: trained on {vocoder.n_units} units at {vocoder.cfg.unit_rate_hz} Hz, "
                          f"{args.model} has {pk.vocab.n_units} at {pk.unit_rate_hz} Hz")
            return 1
    dedup = bool(pk.unit_info.get("dedup"))
    if dedup and (vocoder is None or not vocoder.deduplicated):
        logging.error(f"{args.model}: its units are deduplicated; give --vocoder trained on deduplicated units "
                      f"(it has the duration model that sets each unit's frames)"
                      + (f", not {args.vocoder} (one unit per frame)" if vocoder is not None else ""))
        return 1
    if vocoder is not None and vocoder.deduplicated and not dedup:
        logging.error(f"{args.vocoder}: trained on deduplicated units; {args.model} generates one unit per frame")
        return 1
    out = Path(args.output_dir)
    (out / "wav").mkdir(parents=True, exist_ok=True)
    info, gen_units, failed, wav_lines = {}, {}, {}, {}

    def fail(utt, reason):
        failed[utt] = reason
        logging.warning(f"{args.text}: {utt}: {reason}; skipped")

    for utt, text in texts.items():
        ids = pk.text_to_ids(text)
        if not ids:
            fail(utt, "empty transcript")
            continue
        budget = int(min(args.max_units, max(args.min_units + 1, args.max_units_per_token * len(ids))))
        try:
            res = synthesize_units(pk.model, pk.vocab, ids, budget, args.min_units, not args.no_cache,
                                   args.sample, args.temperature, args.top_k, args.seed)
        except (ValueError, RuntimeError, IndexError) as e:  # e.g. longer than the model's max_len
            fail(utt, f"{len(ids)} text tokens: {type(e).__name__}: {' '.join(str(e).split())[:200]}")
            continue
        units = res["units"]
        rec = {"n_text_tokens": len(ids), "n_units": len(units), "speech_seconds": len(units) / pk.unit_rate_hz,
               "global_steps": res["global_steps"], "prefill_steps": res["prefill_steps"],
               "speech_global_steps": (res["global_steps"] - res["prefill_steps"])
               if res["global_steps"] is not None else None,
               "decode_seconds": res["seconds"], "hit_budget": len(units) >= budget}
        if vocoder is not None and units:
            t0 = time.perf_counter()
            try:
                frames = vocoder.expand_units(units, utt)  # deduplicated: the duration model's frames
                wav = vocoder.mel_to_wav(vocoder.units_to_mel(frames, utt))
            except VocoderInputError as e:
                fail(utt, f"vocoder: {e}")
                continue
            rec["speech_seconds"] = len(frames) / pk.unit_rate_hz
            rec["vocoder_seconds"] = time.perf_counter() - t0
            path = (out / "wav" / f"{utt_file_name(utt)}.wav").resolve()
            try:
                soundfile.write(str(path), wav, vocoder.cfg.sample_rate, subtype="PCM_16")
            except OSError as e:
                logging.error(io_error_message(path, e))
                return 1
            wav_lines[utt] = str(path)
        gen_units[utt] = units
        info[utt] = rec
    n = max(1, len(info))
    speech = sum(v["speech_seconds"] for v in info.values())
    steps = sum((v["speech_global_steps"] or 0) for v in info.values())
    summary = {"model": pk.model_kind, "n_utts": len(info), "speech_seconds": speech, "units": sum(
        v["n_units"] for v in info.values()), "speech_global_steps": steps,
        "global_steps_per_speech_second": steps / max(speech, 1e-9),
        "decode_seconds": sum(v["decode_seconds"] for v in info.values()),
        "hit_budget": sum(v["hit_budget"] for v in info.values()), "mean_units": sum(v["n_units"] for v in info.values()) / n,
        "params": sum(p.numel() for p in pk.model.parameters())}
    summary["decode_seconds_per_speech_second"] = summary["decode_seconds"] / max(speech, 1e-9)
    summary["n_failed"] = len(failed)
    result = {"summary": summary, "utts": info, "failed": failed}
    if args.ref_units:
        from lst.downstream.score import unit_error_rate

        from lst.stage_io import lineage_conflicts, lineage_of

        bad = lineage_conflicts(pk.meta.get("lineage") or {}, lineage_of(args.ref_units))
        if bad:
            logging.error(f"--ref_units {args.ref_units} was dumped with another {bad[0]} output than {args.model}: "
                          "its unit ids are not comparable")
            pk.close()
            return 1
        try:
            refs = {u: [int(x) for x in v.split()] for u, v in read_kaldi_map(args.ref_units, True).items()
                    if u in texts}
        except (DataDirError, ValueError) as e:
            logging.error(f"--ref_units {args.ref_units}: {e}")
            pk.close()
            return 1
        score = {"unit_error_rate": unit_error_rate(refs, gen_units), "n_utts": len(refs)}
        (out / "score.json").write_text(json.dumps(score, indent=2))
        summary["unit_error_rate"] = score["unit_error_rate"]
    try:
        atomic_write_file(out / "units", lambda f: f.writelines(
            f"{u} {' '.join(map(str, x))}\n" for u, x in gen_units.items()))
        atomic_write_file(out / "wav.scp", lambda f: f.writelines(f"{u} {p}\n" for u, p in wav_lines.items()))
        atomic_write_file(out / "decode_info.json", lambda f: f.write(json.dumps(result, indent=2)))
    except OSError as e:
        logging.error(io_error_message(out, e))
        return 1
    if not info:
        first = next(iter(failed.items()), ("-", "no input utterances"))
        logging.error(f"{args.text}: nothing synthesized from {len(texts)} utterances; first: {first[0]}: {first[1]}")
        pk.close()
        return 1
    if failed:
        logging.warning(f"{args.text}: {len(failed)} of {len(texts)} utterances not synthesized (listed in "
                        f"{out / 'decode_info.json'} under 'failed')")
    logging.info(f"{out}: {summary}")
    pk.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
