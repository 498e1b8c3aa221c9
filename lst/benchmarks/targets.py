"""The targets of the benchmarks, as data, and the one function that judges a result.

Each target names the issue that set it, the measured key it reads and the bound. A result
that lacks the key is an error (a renamed measurement must not turn a target into a silent
PASS or MISS).
"""
from dataclasses import dataclass
from typing import Dict, List, Mapping

PASS, MISS = "PASS", "MISS"


@dataclass(frozen=True)
class Target:
    name: str  # the row printed: target.<name>
    key: str  # the measured value it reads from the benchmark's result
    minimum: float  # PASS when value >= minimum
    issue: str  # where the target was set

    def judge(self, value: float) -> str:
        return PASS if value >= self.minimum else MISS


TARGETS: Dict[str, List[Target]] = {
    "units": [Target("units_x_realtime_200", "x_realtime", 200.0, "issue 3")],
    "train": [
        Target("speech_units_per_s_3x", "speech_units_per_s_ratio", 3.0, "issue 4"),
        Target("lst_40pct_of_matmul_peak", "lst.frac_of_peak", 0.4, "issue 4"),
        Target("token_lm_40pct_of_matmul_peak", "token_lm.frac_of_peak", 0.4, "issue 4"),
    ],
    "decode": [
        Target("tts_global_steps_3.5x", "tts_step_ratio", 3.5, "issue 7"),
        Target("tts_speedup_2.5x", "tts_speedup", 2.5, "issue 7"),
        Target("asr_speedup_1.5x", "asr_speedup", 1.5, "issue 7"),
    ],
}


def judge(benchmark: str, result: Mapping[str, float], prefix: str = "") -> Dict[str, str]:
    """``{"target.<name>": "PASS" | "MISS"}`` for every target of ``benchmark``; ``prefix``
    selects a sub-result (e.g. ``"d1024."`` for the decode benchmark's second size)."""
    if benchmark not in TARGETS:
        raise KeyError(f"no targets for benchmark {benchmark!r} (known: {sorted(TARGETS)})")
    out = {}
    for t in TARGETS[benchmark]:
        key = prefix + t.key
        if key not in result:
            raise KeyError(f"benchmark {benchmark}: result has no {key!r}, which target {t.name} ({t.issue}) reads")
        out[f"{prefix}target.{t.name}"] = t.judge(float(result[key]))
    return out
