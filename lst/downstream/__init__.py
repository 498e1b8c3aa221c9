"""Downstream fine-tuning and decoding helpers (ASR: units -> text, TTS: text -> units)."""
