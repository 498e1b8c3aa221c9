r"""Average the n epoch checkpoints with the lowest validation WER (asr.sh stage 10, ``--pick_average N``).

    python -m lst.bin.average_checkpoints --picked exp/asr_x/picked_checkpoint.json --nbest 5 \
        --out exp/asr_x/ave5best.pth

``--picked`` is stage 9's ``picked_checkpoint.json`` (lst.bin.asr_curve ``--pick_set``), whose
``ranking`` lists every fine-tuned epoch by its validation WER. Writes the averaged state dict
(lst.downstream.average, ESPnet's rule) to ``--out`` and, beside it, ``<out stem>.json`` with the
averaged epochs, their WERs and the validation set; prints the epochs. Fewer kept epochs than
``--nbest`` is an error, not a smaller average.
"""
import argparse
import json
import sys


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--picked", required=True, help="picked_checkpoint.json of asr.sh stage 9")
    p.add_argument("--nbest", type=int, required=True, help="how many of the best epochs to average (>= 2)")
    p.add_argument("--out", required=True, help="averaged checkpoint written (.pth)")
    args = p.parse_args(argv)
    from pathlib import Path

    import torch

    from lst.downstream.average import AverageError, average_checkpoints
    from lst.stage_io import atomic_write_file, write_json_atomic

    if args.nbest < 2:
        p.error(f"--nbest must be at least 2 (1 is the picked epoch itself), got {args.nbest}")
    picked = Path(args.picked)
    try:
        info = json.loads(picked.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        print(f"average_checkpoints: {picked}: cannot read ({e}); asr.sh stage 9 with --pick_decode_modes writes it",
              file=sys.stderr)
        return 1
    ranking = info.get("ranking")
    if not ranking:
        print(f"average_checkpoints: {picked}: no 'ranking' of epochs (written before --pick_average existed; "
              "re-run asr.sh stage 9)", file=sys.stderr)
        return 1
    if len(ranking) < args.nbest:
        print(f"average_checkpoints: {picked}: {len(ranking)} epochs decoded on {info.get('set')}, fewer than "
              f"--nbest {args.nbest}", file=sys.stderr)
        return 1
    chosen = ranking[:args.nbest]
    try:
        state = average_checkpoints([Path(r["checkpoint"]) for r in chosen])
    except AverageError as e:
        print(f"average_checkpoints: {e}", file=sys.stderr)
        return 1
    out = Path(args.out)
    # a stopped run leaves no half-written checkpoint under the real name
    atomic_write_file(out, lambda f: torch.save(state, f), mode="wb")
    epochs = [int(r["epoch"]) for r in chosen]
    write_json_atomic(out.with_suffix(".json"), {
        "set": info.get("set"), "nbest": args.nbest, "epochs": epochs, "wers": [r["wer"] for r in chosen],
        "checkpoint": str(out), "rule": f"average of the {args.nbest} epochs with the lowest WER on "
                                        f"{info.get('set')} (stage 9); float tensors averaged, integer ones floor-divided"})
    print(" ".join(map(str, epochs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
