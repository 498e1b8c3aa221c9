"""Unit vocoder: discrete speech units -> waveform (see unit_mel.py for the choice made)."""
from lst.vocoder.unit_mel import (MelConfig, UnitMelNet, UnitVocoder, VocoderInputError,  # noqa: F401
                                  default_frames_per_unit, log_mel, train_vocoder)
