"""The decode-speed benchmark (issue 7's step and wall-time targets) at a tiny size: it must
count global steps exactly and report both models' figures and the ratios."""
import pytest

from lst.downstream.speed import run_decode_benchmark

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_decode_benchmark_counts_one_global_step_per_patch():
    r = run_decode_benchmark(d_model=32, n_layers=2, n_heads=2, patch_size=4, units=24, text_tokens=5, repeats=1)
    assert r["token_lm.tts_global_steps"] == 24  # one step per generated unit
    assert r["lst.tts_global_steps"] == 24 // 4  # one step per static patch of 4
    assert r["tts_step_ratio"] == 4.0 and r["target_tts_steps_3.5x"] == "PASS"
    # ASR: 24-unit prefix + 5 text tokens; token_lm steps every token, LST every patch/token
    assert r["asr_step_ratio"] > 1.0
    for key in ["token_lm.tts_s", "lst.tts_s", "tts_speedup", "asr_speedup"]:
        assert r[key] > 0
    assert r["target_tts_speedup_2.5x"] in ("PASS", "MISS")
