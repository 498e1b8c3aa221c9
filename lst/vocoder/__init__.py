"""Unit vocoder: discrete speech units -> waveform (see unit_mel.py for the choice made)."""
from lst.vocoder.unit_mel import (MEL_POSTFILTERS, MelConfig, UnitMelNet, UnitVocoder,  # noqa: F401
                                  VocoderInputError, default_frames_per_unit, gv_postfilter, knn_match, log_mel,
                                  train_vocoder)
