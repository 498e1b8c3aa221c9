"""The decode-speed benchmark (issue 7's step and wall-time targets) at a tiny size: it must
count global steps exactly, report both models' figures and the ratios, and be judged by the
targets in lst.benchmarks.targets (checked with known values, so every verdict can fail)."""
import pytest

from lst.benchmarks.decode import run_decode_benchmark
from lst.benchmarks.targets import MISS, PASS, TARGETS, judge

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_decode_benchmark_counts_one_global_step_per_patch():
    r = run_decode_benchmark(d_model=32, n_layers=2, n_heads=2, patch_size=4, units=24, text_tokens=5, repeats=1)
    assert r["token_lm.tts_global_steps"] == 24  # one step per generated unit
    assert r["lst.tts_global_steps"] == 24 // 4  # one step per static patch of 4
    assert r["tts_step_ratio"] == 4.0
    # ASR: 24-unit prefix + 5 text tokens; token_lm steps every token, LST every patch/token
    assert r["asr_step_ratio"] > 1.0
    for key in ["token_lm.tts_s", "lst.tts_s", "token_lm.asr_s", "lst.asr_s"]:
        assert r[key] > 0
    assert r["tts_speedup"] == r["token_lm.tts_s"] / r["lst.tts_s"]
    assert r["asr_speedup"] == r["token_lm.asr_s"] / r["lst.asr_s"]
    assert not [k for k in r if "target" in k or r[k] in (PASS, MISS)]  # measurements only
    verdict = judge("decode", r)
    assert verdict["target.tts_global_steps_3.5x"] == PASS  # 4.0 >= 3.5: an exact count, not a timing
    assert set(verdict) == {f"target.{t.name}" for t in TARGETS["decode"]}


def test_judge_with_known_values():
    r = {"tts_step_ratio": 3.5, "tts_speedup": 2.49, "asr_speedup": 1.7}
    assert judge("decode", r) == {"target.tts_global_steps_3.5x": PASS, "target.tts_speedup_2.5x": MISS,
                                  "target.asr_speedup_1.5x": PASS}
    big = {"d1024.tts_step_ratio": 3.4, "d1024.tts_speedup": 2.5, "d1024.asr_speedup": 1.2}
    assert judge("decode", big, prefix="d1024.") == {
        "d1024.target.tts_global_steps_3.5x": MISS, "d1024.target.tts_speedup_2.5x": PASS,
        "d1024.target.asr_speedup_1.5x": MISS}
    assert judge("units", {"x_realtime": 199.9}) == {"target.units_x_realtime_200": MISS}


def test_judge_refuses_a_result_without_the_measured_key():
    with pytest.raises(KeyError, match="no 'tts_speedup', which target tts_speedup_2.5x"):
        judge("decode", {"tts_step_ratio": 4.0, "asr_speedup": 2.0})
    with pytest.raises(KeyError, match="no targets for benchmark 'nope'"):
        judge("nope", {})
