"""Patchers: how a speech span (a maximal run of units) is cut into patches.

Each patcher is a pure function of one span — its unit ids (0-based, i.e. joint id minus
unit_offset), its seg_start flags (1 where an alignment segment starts) and parameters —
returning a `Patches`: the patch lengths (summing to the span length) and, per patch,
whether it was closed *by length* ("forced"). A forced patch is known to be complete as
soon as its last unit is seen (the next unit, if any, must start a new patch), so the
local decoder may already condition on the global summary of it; any other patch is only
known to be complete once the next token arrives (that is what keeps LST causal).

Every cut depends only on the units and flags up to it (prefix only): `aligned` patches a
span by its alignment when the span's first unit carries seg_start = 1 (the parser marks
every span start so) and falls back to `static` when it carries 0 (a data producer's way to
mark an unaligned span; the decision is made at the span's first unit, never from later
flags). Log-likelihoods under aligned patching are conditional on the alignment flags.

Speech spans only: text tokens and markers (<t>, <s>, <sos/eos>) are 1-token patches of the
model (lst_model.py). Choice: `<s>` is its own patch under every patching (the paper's code
puts it into the first static patch; as its own patch the first units of a span are
predicted from a global state that has seen the modality switch, and static and aligned
patching agree on it).

`max_patch_len` (None = no cap): aligned words and silence runs are never split unless it is
set (the paper does not split them); when set, a longer segment is cut every
`max_patch_len` from its start and those pieces are "forced" (complete at once).
"""
from dataclasses import dataclass
from typing import List, Optional, Sequence

import numpy as np


@dataclass
class Patches:
    lengths: List[int]
    forced: List[bool]
    aligned: bool = False  # patched by the alignment flags (aligned mode, no fallback)


def _chunk(n: int, cap: Optional[int]) -> Patches:
    """n units cut every `cap` (None: one piece); all full chunks are forced, a shorter tail is not."""
    if cap is None:
        return Patches([n], [False]) if n else Patches([], [])
    full, rest = divmod(n, cap)
    return Patches([cap] * full + ([rest] if rest else []), [True] * full + ([False] if rest else []))


def _concat(parts: Sequence[Patches]) -> Patches:
    out = Patches([], [])
    for p in parts:
        out.lengths += p.lengths
        out.forced += p.forced
    return out


def static_patches(n_units: int, patch_size: int) -> Patches:
    """Every `patch_size` units from the span start (the last patch may be shorter)."""
    if n_units == 0:
        return Patches([], [])
    return _chunk(n_units, patch_size)


def aligned_patches(seg_start: Sequence[int], max_patch_len: Optional[int], patch_size: int,
                    allow_fallback: bool = True) -> Patches:
    """One patch per alignment segment (word or silence gap); with `max_patch_len` set, a
    longer segment is cut every `max_patch_len` from its start. A span whose first flag is 0
    is unaligned -> `static` (if allow_fallback; decided at the first unit, prefix only)."""
    n = len(seg_start)
    if n == 0:
        return Patches([], [])
    flags = np.asarray(seg_start)
    if allow_fallback and not flags[0]:
        return static_patches(n, patch_size)
    starts = np.flatnonzero(flags[1:]) + 1
    bounds = np.concatenate([[0], starts, [n]])
    out = _concat([_chunk(int(s), max_patch_len) for s in np.diff(bounds)])
    out.aligned = True
    return out


def silence_patches(units: Sequence[int], silence_units, patch_size: int, max_patch_len: Optional[int]) -> Patches:
    """A run of silence units is one patch (cut at `max_patch_len` if set); the other units are
    cut statically every `patch_size` within their runs."""
    n = len(units)
    if n == 0:
        return Patches([], [])
    is_sil = np.isin(np.asarray(units), np.asarray(sorted(silence_units), dtype=np.int64))
    change = np.flatnonzero(is_sil[1:] != is_sil[:-1]) + 1
    bounds = np.concatenate([[0], change, [n]])
    parts = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        parts.append(_chunk(int(b - a), max_patch_len if is_sil[a] else patch_size))
    return _concat(parts)


def curriculum_aligned_prob(step: int, start: int, end: int) -> float:
    """Probability of aligned patching: 1 before `start`, falling linearly to 0 at `end`,
    0 afterwards (paper: first third aligned, middle third mixed, last third static)."""
    if step < start:
        return 1.0
    if step >= end:
        return 0.0
    return 1.0 - (step - start) / max(1, end - start)


PATCHINGS = ("static", "aligned", "curriculum", "silence")


class Patcher:
    """Picks and applies the configured patching to one span. `mode` is the concrete
    patching for this span ("static", "aligned" or "silence"; curriculum resolves to one
    of the first two per sequence, see `resolve`)."""

    def __init__(self, patching: str = "static", patch_size: int = 4, max_patch_len: Optional[int] = None,
                 silence_units: Optional[Sequence[int]] = None,
                 curriculum_steps: Optional[Sequence[int]] = None, curriculum_total_steps: Optional[int] = None,
                 curriculum_fractions: Sequence[float] = (1 / 3, 2 / 3)):
        if patching not in PATCHINGS:
            raise ValueError(f"patching must be one of {PATCHINGS}, got {patching!r}")
        if patching == "silence" and not silence_units:
            raise ValueError("patching: silence needs a non-empty silence_units list")
        if patch_size < 1 or (max_patch_len is not None and max_patch_len < 1):
            raise ValueError("patch_size and max_patch_len must be >= 1 (max_patch_len: or null for no cap)")
        self.patching, self.patch_size, self.max_patch_len = patching, patch_size, max_patch_len
        self.silence_units = set(int(u) for u in (silence_units or []))
        if curriculum_steps is None and patching == "curriculum":
            if curriculum_total_steps is None:
                raise ValueError("patching: curriculum needs curriculum_steps [start, end] or curriculum_total_steps")
            curriculum_steps = [int(f * curriculum_total_steps) for f in curriculum_fractions]
        self.curriculum_steps = list(curriculum_steps) if curriculum_steps is not None else None

    @property
    def max_len(self) -> Optional[int]:
        """Longest possible patch (None: unbounded)."""
        if self.patching == "static":
            return self.patch_size
        return None if self.max_patch_len is None else max(self.patch_size, self.max_patch_len)

    def resolve(self, step: int, training: bool, rng: np.random.Generator) -> str:
        """The concrete patching of one sequence. Curriculum: aligned with probability
        `curriculum_aligned_prob(step)` during training; static at evaluation (the regime
        the model ends training in)."""
        if self.patching != "curriculum":
            return self.patching
        if not training:
            return "static"
        p = curriculum_aligned_prob(step, *self.curriculum_steps)
        return "aligned" if rng.random() < p else "static"

    def __call__(self, units: Sequence[int], seg_start: Sequence[int], mode: str,
                 allow_fallback: bool = True) -> Patches:
        if mode == "static":
            return static_patches(len(units), self.patch_size)
        if mode == "aligned":
            return aligned_patches(seg_start, self.max_patch_len, self.patch_size, allow_fallback)
        if mode == "silence":
            return silence_patches(units, self.silence_units, self.patch_size, self.max_patch_len)
        raise ValueError(mode)

    def starts_new_patch(self, mode: str, open_units: Sequence[int], unit: int, seg_flag: int) -> bool:
        """Incremental form (generation): does `unit` start a new patch after the open
        patch `open_units` (same span)? Must agree with __call__ on every prefix."""
        if not open_units:
            return True
        if mode == "static":
            return len(open_units) >= self.patch_size
        if mode == "aligned":
            return bool(seg_flag) or (self.max_patch_len is not None and len(open_units) >= self.max_patch_len)
        sil_prev, sil = open_units[-1] in self.silence_units, unit in self.silence_units
        cap = self.max_patch_len if sil_prev else self.patch_size
        return sil != sil_prev or (cap is not None and len(open_units) >= cap)

    def cap(self, mode: str, first_unit: int) -> Optional[int]:
        """Length at which a patch starting with `first_unit` is closed by force (None: never).
        For aligned mode the span's patching (alignment or static fallback) is the caller's."""
        if mode == "static":
            return self.patch_size
        if mode == "aligned":
            return self.max_patch_len
        return self.max_patch_len if first_unit in self.silence_units else self.patch_size
