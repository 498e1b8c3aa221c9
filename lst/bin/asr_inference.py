r"""Speech recognition with a packed speech-text LM (token baseline or LST, fine-tuned on s2t).

    python -m lst.bin.asr_inference --model exp/asr_lst/packed.zip --wav_scp dump/raw/test/wav.scp \
        --output_dir exp/asr_lst/decode_test_greedy [--beam 4] [--ref_text data/test/text]

wav -> units with the package's own features + k-means -> prompt ``<sos/eos> <s> units <t>``
-> text tokens until <sos/eos> (greedy, or beam search over text tokens; see
lst/downstream/decode.py); ``--ctc``: greedy CTC with the CTC head of a model fine-tuned with
``ctc_weight`` > 0 (one forward over the units, no text steps); ``--beam N --ctc_weight w``:
ESPnet's joint CTC/attention beam search with that head. ``--units`` reads unit sequences instead of audio (the units the
recipe already dumped with the same package). ``--model_file`` decodes other weights of the
same architecture (an epoch checkpoint) with the package's vocabulary and units. Writes ``text`` (kaldi style), ``units`` (the
units decoded from), ``decode_info.json`` (per utterance: global steps, seconds, audio
seconds) and, with ``--ref_text``, ``score.json`` (WER/CER via jiwer).

An utterance that cannot be decoded (unreadable audio, no units, a unit id outside the
model's range in ``--units``, a prompt longer than the model's ``max_len``) is logged with its
id and reason, listed under ``failed`` in ``decode_info.json``, and the batch goes on; the
exit status is 1 only when no utterance was decoded. Output files are renamed into place
when complete.
"""
import argparse
import json
import logging
import sys
import time
from pathlib import Path

import torch

from lst.audio import AudioError, load_audio
from lst.data.kaldi_dir import DataDirError, read_kaldi_map


def get_parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="packed model (.zip/.tar.gz or unpacked directory)")
    p.add_argument("--model_file", default=None,
                   help="weights to decode instead of the package's (e.g. an epoch checkpoint of the same "
                        "fine-tuning run, <N>epoch.pth): same architecture, everything else from --model")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--wav_scp")
    src.add_argument("--units", help="kaldi-style 'utt u u u' from the same package's k-means")
    p.add_argument("--output_dir", required=True)
    p.add_argument("--beam", type=int, default=1, help="1 = greedy")
    p.add_argument("--ctc", action="store_true",
                   help="decode with the model's CTC head (greedy CTC over the units; a model fine-tuned with "
                        "model_conf ctc_weight > 0) instead of the LM's text decoding")
    p.add_argument("--ctc_weight", type=float, default=0.0,
                   help="> 0 with --beam > 1: joint CTC/attention beam search (ESPnet's), scores "
                        "(1 - w) * LM + w * CTC prefix, with the model's CTC head")
    p.add_argument("--length_penalty", type=float, default=1.0,
                   help="beam search: finished hypotheses ranked by score / (tokens + 1) ** this (0: ESPnet's raw score)")
    p.add_argument("--length_bonus", type=float, default=0.0,
                   help="beam search: added to the score per token (ESPnet's --penalty); > 0 counters dropped final "
                        "words; a non-zero bonus stops the search by ESPnet's end detection")
    p.add_argument("--pre_beam", choices=("lm", "ctc"), default="lm",
                   help="joint search: each hypothesis's 1.5 x beam candidates are the LM's best tokens (ESPnet's "
                        "pre-beam) or the best CTC prefix scores over every text token (ESPnet's full CTC scoring)")
    p.add_argument("--max_len", type=int, default=64, help="max text tokens per utterance")
    p.add_argument("--no_cache", action="store_true", help="recompute the full prefix every step (reference)")
    p.add_argument("--ref_text", default=None)
    p.add_argument("--threads", type=int, default=1)
    return p


CTC_MODULES = ("ctc_head", "ctc_adapter")


def load_weights_maybe_without_ctc_head(model, state) -> bool:
    """Load ``state`` into ``model`` strictly, except that a state without the CTC head and
    adapter (the backbone before fine-tuning: asr.sh stage 9's epoch 0) loads into a model with
    them; the model then has no CTC head, so a CTC decode is refused rather than run on the head's
    random initialisation. Returns whether the head was dropped."""
    missing, unexpected = model.load_state_dict(state, strict=False)
    head = [k for k in missing if k.split(".")[0] in CTC_MODULES]
    partial = any(k.split(".")[0] in CTC_MODULES for k in state)  # a head without its adapter, say
    if unexpected or len(head) != len(missing) or (head and partial):
        raise RuntimeError(f"missing keys {sorted(missing)[:8]}, unexpected keys {sorted(unexpected)[:8]}")
    if head:
        for name in CTC_MODULES:
            setattr(model, name, None)
    return bool(head)


def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    if args.beam < 1 or args.max_len < 1 or args.threads < 1:
        get_parser().error("--beam, --max_len and --threads must be >= 1")
    if not 0.0 <= args.ctc_weight <= 1.0 or args.ctc_weight > 0 and (args.beam < 2 or args.ctc):
        get_parser().error("--ctc_weight must be in [0, 1] and, when > 0, go with --beam > 1 (not --ctc)")
    if args.pre_beam == "ctc" and args.ctc_weight == 0:
        get_parser().error("--pre_beam ctc ranks candidates by the CTC head: it needs --ctc_weight > 0")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (asr_inference) %(levelname)s: %(message)s")
    torch.set_num_threads(args.threads)
    from lst.downstream.decode import recognize
    from lst.pack import PackError, load_packed

    from lst.stage_io import atomic_write_file, io_error_message

    src = args.wav_scp or args.units
    try:
        items = read_kaldi_map(src, allow_empty_value=bool(args.units))
    except DataDirError as e:
        logging.error(str(e))
        return 1
    try:
        pk = load_packed(args.model)
    except PackError as e:
        logging.error(str(e))
        return 1
    if args.model_file:
        try:
            state = torch.load(args.model_file, map_location="cpu", weights_only=True)
            load_weights_maybe_without_ctc_head(pk.model, state)
        except (OSError, RuntimeError, KeyError) as e:
            logging.error(f"--model_file {args.model_file} does not fit {args.model}: "
                          f"{type(e).__name__}: {' '.join(str(e).split())[:300]}")
            pk.close()
            return 1
        pk.model.eval()
    if (args.ctc or args.ctc_weight > 0) and getattr(pk.model, "ctc_head", None) is None:
        logging.error(f"--ctc/--ctc_weight: {args.model_file or args.model} has no CTC head (fine-tune with model_conf ctc_weight > 0)")
        pk.close()
        return 1
    if args.units:
        from lst.stage_io import lineage_conflicts, lineage_of

        bad = lineage_conflicts(pk.meta.get("lineage") or {}, lineage_of(args.units))
        if bad:
            logging.error(f"{args.units} was dumped with another {bad[0]} output than {args.model} was trained on; "
                          f"dump the units with the package's k-means (or give --wav_scp)")
            pk.close()
            return 1
    out = Path(args.output_dir)
    info, hyps, failed, unit_lines = {}, {}, {}, {}

    def fail(utt, reason):
        failed[utt] = reason
        logging.warning(f"{src}: {utt}: {reason}; skipped")

    t_all = time.perf_counter()
    for utt, value in items.items():
        t0 = time.perf_counter()
        if args.wav_scp:
            try:
                wav = load_audio(value)
            except AudioError as e:
                fail(utt, f"{e.reason}: {e.path}: {e.detail}")
                continue
            try:
                units = pk.wav_to_units(wav).tolist()
            except Exception as e:  # noqa: BLE001 - one utterance's features must not end the batch
                fail(utt, f"features: {type(e).__name__}: {e}")
                continue
            audio_s = len(wav) / 16000.0
        else:
            try:
                units = [int(u) for u in value.split()]
            except ValueError:
                fail(utt, "non-integer unit id")
                continue
            bad = [u for u in units if not 0 <= u < pk.vocab.n_units]
            if bad:
                fail(utt, f"unit ids {bad[:5]} outside [0, {pk.vocab.n_units}) of {args.model}")
                continue
            audio_s = len(units) / pk.unit_rate_hz
        if not units:
            fail(utt, "no units")
            continue
        t1 = time.perf_counter()
        try:
            res = recognize(pk.model, pk.vocab, units, beam=args.beam, max_len=args.max_len,
                            use_cache=not args.no_cache, length_penalty=args.length_penalty, ctc=args.ctc,
                            ctc_weight=args.ctc_weight, length_bonus=args.length_bonus, pre_beam_by=args.pre_beam)
        except (ValueError, RuntimeError, IndexError) as e:  # e.g. longer than the model's max_len
            fail(utt, f"{len(units)} units: {type(e).__name__}: {' '.join(str(e).split())[:200]}")
            continue
        hyp = pk.ids_to_text(res["tokens"])
        hyps[utt] = hyp
        unit_lines[utt] = " ".join(map(str, units))
        info[utt] = {"global_steps": res["global_steps"], "prefill_steps": res["prefill_steps"],
                     "decode_seconds": res["seconds"], "total_seconds": time.perf_counter() - t0,
                     "units_seconds": t1 - t0, "audio_seconds": audio_s, "n_units": len(units),
                     "n_tokens": len(res["tokens"])}
    audio = sum(v["audio_seconds"] for v in info.values())
    dec = sum(v["decode_seconds"] for v in info.values())
    summary = {"model": pk.model_kind, "model_file": args.model_file, "beam": args.beam, "ctc": args.ctc,
               "ctc_weight": args.ctc_weight, "length_penalty": args.length_penalty, "length_bonus": args.length_bonus,
               "pre_beam": args.pre_beam, "use_cache": not args.no_cache, "n_utts": len(info),
               "audio_seconds": audio, "decode_seconds": dec, "rtf_decode": dec / max(audio, 1e-9),
               "rtf_total": (time.perf_counter() - t_all) / max(audio, 1e-9),
               "global_steps": sum((v["global_steps"] or 0) for v in info.values()),
               "params": sum(p.numel() for p in pk.model.parameters()), "n_failed": len(failed)}
    try:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_file(out / "text", lambda f: f.writelines(f"{u} {h}\n" for u, h in hyps.items()),
                          encoding="utf-8")
        atomic_write_file(out / "units", lambda f: f.writelines(f"{u} {x}\n" for u, x in unit_lines.items()))
        atomic_write_file(out / "decode_info.json", lambda f: f.write(
            json.dumps({"summary": summary, "utts": info, "failed": failed}, indent=2)))
    except OSError as e:
        logging.error(io_error_message(out, e))
        return 1
    if not info:
        first = next(iter(failed.items()), ("-", "no input utterances"))
        logging.error(f"{src}: none of {len(items)} utterances was decoded; first: {first[0]}: {first[1]}")
        pk.close()
        return 1
    if failed:
        logging.warning(f"{src}: {len(failed)} of {len(items)} utterances not decoded (listed in "
                        f"{out / 'decode_info.json'} under 'failed')")
    if args.ref_text:
        from lst.downstream.score import wer_cer

        try:
            refs = read_kaldi_map(args.ref_text, allow_empty_value=True)
        except DataDirError as e:
            logging.error(f"--ref_text: {e}")
            pk.close()
            return 1
        refs = {u: r for u, r in refs.items() if u in items}
        score = wer_cer(refs, hyps)
        (out / "score.json").write_text(json.dumps(score, indent=2))
        logging.info(f"WER {score['wer']:.2f} CER {score['cer']:.2f} on {score['n_utts']} utterances")
    logging.info(f"{out}: {summary}")
    pk.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
