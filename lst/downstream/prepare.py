"""Helpers the downstream (ASR / TTS) recipe stages call (command line: ``lst.bin.prepare_downstream``).

``units`` labels audio with the *package's* features + k-means, so the fine-tuning data and
inference see exactly the units the backbone was pretrained on (deduplicated ones with a
``durations`` file beside them, as ``lst.bin.dump_units`` writes). ``finetune_config`` takes
the model architecture and the token list from the package's config and everything about
optimisation from the fine-tuning conf (a key present in both comes from the fine-tuning
conf, except model/model_conf/token_list, which must match the weights).
``espnet_token_list`` writes the token list ESPnet's ASR task expects for the same BPE model
(``<blank> <unk> pieces... <sos/eos>``), so the ESPnet baseline and the LM share the text units.
"""
import json
import logging
from contextlib import ExitStack
from pathlib import Path

import yaml

from lst.audio import AudioError, load_audio
from lst.data.kaldi_dir import read_kaldi_map
from lst.pack import load_packed, unpack

ARCH_KEYS = ("model", "model_conf", "token_list")


def cmd_unpack(args):
    meta = unpack(args.model, args.out_dir)
    logging.info(f"{args.model} -> {args.out_dir}: model={meta['model']}")


def cmd_units(args):
    pk = load_packed(args.model, load_model=False)
    wavs = read_kaldi_map(args.wav_scp)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    n_ok = 0
    dedup = bool(pk.unit_info.get("dedup"))
    # deduplicated units: also each unit's frames, as dump_units writes them (the vocoder trains on them)
    (out / "durations").unlink(missing_ok=True)
    with ExitStack() as stack:
        f = stack.enter_context(open(out / "units", "w"))
        nf = stack.enter_context(open(out / "utt2num_frames", "w"))
        df = stack.enter_context(open(out / "durations", "w")) if dedup else None
        for utt, path in wavs.items():
            try:
                units, durations = pk.wav_to_units_and_durations(load_audio(path))
            except AudioError as e:
                logging.warning(f"{utt}: {e}; skipped")
                continue
            f.write(f"{utt} {' '.join(map(str, units.tolist()))}\n")
            nf.write(f"{utt} {int(durations.sum())}\n")  # frames before dedup, as dump_units
            if df is not None:
                df.write(f"{utt} {' '.join(map(str, durations.tolist()))}\n")
            n_ok += 1
    info = dict(pk.unit_info)
    info["from_package"] = str(Path(args.model).resolve())
    (out / "unit_info.json").write_text(json.dumps(info, indent=2))
    logging.info(f"{args.wav_scp}: {n_ok}/{len(wavs)} utterances -> {out / 'units'}")
    if n_ok == 0:
        raise SystemExit(1)


def cmd_finetune_config(args):
    pre = yaml.safe_load(Path(args.model, "config.yaml").read_text(encoding="utf-8"))
    ft = yaml.safe_load(Path(args.conf).read_text(encoding="utf-8")) or {}
    for k in ARCH_KEYS:
        if k in ft and ft[k] != pre.get(k) and k != "model_conf":
            raise SystemExit(f"{args.conf}: '{k}' must come from the pretrained model, not the fine-tuning conf")
    merged = dict(ft)
    merged["model"] = pre["model"]
    conf = dict(pre.get("model_conf") or {})
    conf.update((ft.get("model_conf") or {}))  # e.g. dropout for fine-tuning
    merged["model_conf"] = conf
    merged["token_list"] = pre["token_list"]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(yaml.safe_dump(merged, allow_unicode=True, sort_keys=False), encoding="utf-8")
    logging.info(f"{args.out}: model={merged['model']} + {args.conf}")


def cmd_espnet_token_list(args):
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=args.bpe_model)
    pieces = [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
    pieces = [p for p in pieces if p not in ("<unk>", "<s>", "</s>", "<pad>")]
    tokens = ["<blank>", "<unk>"] + pieces + ["<sos/eos>"]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("".join(t + "\n" for t in tokens), encoding="utf-8")
    logging.info(f"{args.out}: {len(tokens)} tokens")
