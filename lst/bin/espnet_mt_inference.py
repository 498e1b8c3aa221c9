"""ESPnet's MT decoder (espnet2.bin.mt_inference), made importable on this install.

    python -m lst.bin.espnet_mt_inference [--timing_out timing.json] --mt_train_config exp/x/config.yaml \\
        --mt_model_file exp/x/valid.acc.ave.pth --data_path_and_name_and_type dump/x/test/src_text,src_text,text \\
        --output_dir exp/x/decode_test --ngpu 0 --batch_size 1 --beam_size 10 --ctc_weight 0.3 ...

For ESPnet's discrete-unit ASR (``discrete_asr`` models) the beam search scores hypotheses
jointly with the CTC prefix scorer (``--ctc_weight``), which ends a hypothesis once the units
are spent: it cannot run away the way a free-running decoder-only LM can. Imports ESPnet's
decoder with placeholders for torchaudio and g2p_en (see lst/compat.py), then calls ESPnet's
own main. ``--timing_out`` (ours, removed before ESPnet parses the rest) times every
``Text2Text`` call (encoder + beam search, not model loading) and writes the decode seconds
and the number of utterances.
"""
import sys

from lst.compat import MT_TASK_PLACEHOLDERS, espnet_placeholders
from lst.downstream.espnet_timing import pop_option, timed_calls


def main(cmd=None):
    with espnet_placeholders(MT_TASK_PLACEHOLDERS):
        import espnet2.bin.mt_inference as mt_inference

    argv = list(sys.argv[1:] if cmd is None else cmd)
    timing_out, argv = pop_option(argv, "--timing_out")
    with timed_calls(mt_inference.Text2Text, timing_out):
        mt_inference.main(argv)


if __name__ == "__main__":
    main()
