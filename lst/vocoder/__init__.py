"""Unit vocoder: discrete speech units -> waveform (see unit_mel.py for the choice made)."""
from lst.vocoder.unit_mel import (MelConfig, UnitMelNet, UnitVocoder, VocoderInputError, log_mel,  # noqa: F401
                                  train_vocoder)
