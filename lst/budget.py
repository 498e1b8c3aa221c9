"""Compute- and data-controlled training under two compute protocols (``--control``):

* ``flops``: every model gets the same total training FLOPs, measured by the model's own
  accounting, local encoder/decoder included (``--flop_budget``);
* ``steps`` (the paper's, spec 5): every model makes the same number of optimizer updates
  (``--step_budget``) with the same number of global positions per update, i.e. packed rows
  of ``pack_len`` positions (``--pack_len``/``--pack_rows``, lst/data/packing.py): baseline
  tokens = LST patches per update; local-model FLOPs are not counted, so LST sees more data;
* data-controlled (``--seq_budget``): the same number of training sequences (documents).

FLOPs of one update = sum over the batch's sequences of ``model.flops_per_sequence(seq,
seq_lengths, seg_start)`` (global + local encoder + local decoder; training = 3 x forward,
see ``lst/models/flops.py``). Two parts:

1. **Plan** (:func:`plan_training`; ``steps``: the update count is the budget itself): mean
   FLOPs per training sequence over the training corpus (for curriculum patching averaged over the whole schedule, i.e. each sampled
   batch is planned at a step spread uniformly over training) x batch size -> updates
   ``N = floor(budget / (mean_flops_per_seq * batch_size))`` (data-controlled:
   ``N = floor(seq_budget / batch_size)``). ESPnet's trainer gets ``--max_epoch E
   --num_iters_per_epoch ceil(N * (1 + slack) / E)`` (so the epochs end just after the
   budget) and curriculum models get ``curriculum_total_steps = N``.
2. **Stop hook** (:class:`BudgetIterFactory`, used by :class:`BudgetLSTTask`): wraps ESPnet's
   training iterator. Before handing a batch to the trainer it computes that batch's FLOPs
   with the model being trained (same step, same patching draw as the forward pass that
   follows) and ends the epoch if the batch would go over the budget. Hence, for spent
   FLOPs ``F``: ``F <= budget < F + FLOPs(next batch)``: training stops at the budget within
   one update. (Data-controlled: the same with sequences.) Once the budget is spent the next
   epoch is empty and ESPnet stops training ("all steps are invalid" is its wording for an
   epoch without updates). The running totals (FLOPs per part, updates, sequences, tokens,
   speech units) are kept per epoch in ``<output_dir>/budget_ledger.json``, so a resumed run
   continues from the totals of its last finished epoch.

The hook assumes ``accum_grad == 1`` (one batch = one update) and a single training
process; in distributed training it is off and the planned iteration count alone stops
training (every rank must run the same number of steps).

Command line: ``python -m lst.bin.budget plan|train ...`` (lst/bin/budget.py).
"""
import argparse
import copy
import json
import logging
import math
import os
import time
from pathlib import Path
from typing import Dict, Iterator, List, Optional

import numpy as np
import torch

from espnet2.iterators.abs_iter_factory import AbsIterFactory

from lst.data.batch import DocumentPreprocessor, collate_sequences
from lst.data.kaldi_dir import read_kaldi_map
from lst.data.packing import PositionCounter
from lst.tasks.lst import LSTTask, model_choices
from lst.vocab import SpeechTextVocab, read_token_list

LEDGER = "budget_ledger.json"
PROVISIONAL_TOTAL_STEPS = 3000  # curriculum schedule length used only to sample its mode mix


def batch_flops(model, batch: Dict[str, torch.Tensor]) -> Dict[str, float]:
    """Training FLOPs of one batch, per part, from the model's own accounting."""
    extra = {"doc_ids": batch["doc_ids"]} if batch.get("doc_ids") is not None else {}
    parts = model.flops_per_sequence(batch["seq"], batch["seq_lengths"], batch.get("seg_start"), **extra)
    return {k: float(v.double().sum()) for k, v in parts.items()}


# ------------------------------------------------------------------------- stop hook
class BudgetLedger:
    """Running totals per epoch in ``<output_dir>/budget_ledger.json``."""

    KEYS = ("flops", "updates", "sequences", "tokens", "units", "positions")

    def __init__(self, path: Path, flop_budget: Optional[float], seq_budget: Optional[int],
                 step_budget: Optional[int] = None):
        self.path = Path(path)
        self.data = {"flop_budget": flop_budget, "seq_budget": seq_budget, "step_budget": step_budget, "epochs": {}}
        if self.path.exists():
            old = json.loads(self.path.read_text())
            was = (old.get("flop_budget"), old.get("seq_budget"), old.get("step_budget"))
            if was != (flop_budget, seq_budget, step_budget):
                raise RuntimeError(f"{self.path}: written for budget flops/seqs/steps={was}, now "
                                   f"{(flop_budget, seq_budget, step_budget)}; use a new output_dir")
            self.data = old

    def totals_before(self, epoch: int) -> Dict:
        prev = [int(e) for e in self.data["epochs"] if int(e) < epoch]
        if prev:
            return copy.deepcopy(self.data["epochs"][str(max(prev))])
        return {k: 0 for k in self.KEYS} | {"flops_parts": {}, "stopped": False}

    @staticmethod
    def fill_missing(totals: Dict) -> Dict:
        for k in BudgetLedger.KEYS:
            totals.setdefault(k, 0)
        return totals

    def record(self, epoch: int, totals: Dict) -> None:
        self.data["epochs"][str(epoch)] = totals
        self.data["epochs"] = {k: v for k, v in self.data["epochs"].items() if int(k) <= epoch}
        self.data["final"] = totals
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(self.data, indent=1))
        os.replace(tmp, self.path)


def batch_sequences(keys: List[str], batch: Dict[str, torch.Tensor]) -> int:
    """Training sequences (documents) in a batch: packed rows name their documents 'a+b+c'."""
    if "doc_ids" in batch:
        return sum(len(k.split("+")) for k in keys)
    return len(keys)


def batch_positions(batch: Dict[str, torch.Tensor], count) -> int:
    """Global positions of a batch (lst.data.packing.PositionCounter per row)."""
    if count is None:
        return 0
    seq, seg, lens = batch["seq"].numpy(), batch.get("seg_start"), batch["seq_lengths"].tolist()
    seg = seg.numpy() if seg is not None else None
    return sum(count(seq[i, :n], seg[i, :n] if seg is not None else None) for i, n in enumerate(lens))


class BudgetIterFactory(AbsIterFactory):
    """Training iterator that ends when the next batch would exceed the FLOP / sequence / update
    budget."""

    def __init__(self, inner: AbsIterFactory, model, ledger: BudgetLedger, unit_offset: int, count=None):
        self.inner, self.model, self.ledger, self.unit_offset, self.count = inner, model, ledger, unit_offset, count

    def build_iter(self, epoch: int, shuffle: bool = None) -> Iterator:
        return self._iterate(epoch, self.inner.build_iter(epoch, shuffle))

    def _iterate(self, epoch: int, it) -> Iterator:
        t = BudgetLedger.fill_missing(self.ledger.totals_before(epoch))
        fb, sb = self.ledger.data["flop_budget"], self.ledger.data["seq_budget"]
        ub = self.ledger.data.get("step_budget")
        t0 = time.time()
        try:
            if t.get("stopped"):
                logging.info(f"budget: already spent at epoch {epoch - 1}; no more updates")
                return
            for keys, batch in it:
                parts = batch_flops(self.model, batch)
                f, n = sum(parts.values()), batch_sequences(keys, batch)
                if (fb is not None and t["flops"] + f > fb) or (sb is not None and t["sequences"] + n > sb) \
                        or (ub is not None and t["updates"] + 1 > ub):
                    t["stopped"] = True
                    t["next_batch_flops"], t["next_batch_sequences"] = f, n
                    logging.info(f"budget: stop before update {t['updates'] + 1}: spent {t['flops']:.4g} FLOPs, "
                                 f"{t['sequences']} sequences; the next batch ({f:.4g} FLOPs, {n} seqs) exceeds "
                                 f"the budget (flops {fb}, sequences {sb}, updates {ub})")
                    return
                t["flops"] += f
                for k, v in parts.items():
                    t["flops_parts"][k] = t["flops_parts"].get(k, 0.0) + v
                t["updates"] += 1
                t["sequences"] += n
                lens = batch["seq_lengths"]
                t["tokens"] += int(lens.sum())
                seq = batch["seq"]
                valid = torch.arange(seq.shape[1])[None] < lens[:, None]
                t["units"] += int(((seq >= self.unit_offset) & valid).sum())
                t["positions"] += batch_positions(batch, self.count)
                yield keys, batch
        finally:
            t["train_seconds"] = t.get("train_seconds", 0.0) + time.time() - t0
            self.ledger.record(epoch, t)


class BudgetLSTTask(LSTTask):
    """LSTTask whose training iterator stops at ``--flop_budget`` / ``--seq_budget`` / ``--step_budget``."""

    _model = None

    @classmethod
    def add_task_arguments(cls, parser: argparse.ArgumentParser):
        super().add_task_arguments(parser)
        group = parser.add_argument_group(description="Budget")
        group.add_argument("--flop_budget", type=float, default=None, help="training FLOPs (model accounting)")
        group.add_argument("--seq_budget", type=int, default=None, help="training sequences (data-controlled)")
        group.add_argument("--step_budget", type=int, default=None,
                           help="optimizer updates (the paper's compute control, with --pack_len/--pack_rows)")

    @classmethod
    def build_model(cls, args: argparse.Namespace):
        model = super().build_model(args)
        cls._model = model
        return model

    @classmethod
    def build_iter_factory(cls, args, distributed_option, mode: str, kwargs: Optional[dict] = None):
        factory = super().build_iter_factory(args, distributed_option, mode, kwargs)
        if mode != "train" or getattr(args, "collect_stats", False):
            return factory
        if args.flop_budget is None and args.seq_budget is None and args.step_budget is None:
            return factory
        if distributed_option.distributed:
            logging.warning("budget: distributed training -> the stop hook is off; the planned "
                            "max_epoch x num_iters_per_epoch alone bounds training")
            return factory
        if getattr(args, "accum_grad", 1) != 1:
            raise RuntimeError("budget: accum_grad must be 1 (one batch = one update)")
        vocab = SpeechTextVocab(cls._token_list(args))
        if args.step_budget is not None and not getattr(args, "pack_len", 0):
            logging.warning("budget: --step_budget without --pack_len: equal updates, but the global positions "
                            "per update are not fixed (the paper's protocol packs rows)")
        ledger = BudgetLedger(Path(args.output_dir) / LEDGER, args.flop_budget, args.seq_budget, args.step_budget)
        count = PositionCounter(args.model, getattr(args, "model_conf", None), vocab.unit_offset)
        return BudgetIterFactory(factory, cls._model, ledger, vocab.unit_offset, count)


# ------------------------------------------------------------------------- planning
def build_model_from_config(config: Dict, token_list: List[str]):
    vocab = SpeechTextVocab(token_list)
    conf = dict(config.get("model_conf") or {})
    if conf.get("patching") == "curriculum" and not conf.get("curriculum_steps") and not conf.get("curriculum_total_steps"):
        conf["curriculum_total_steps"] = PROVISIONAL_TOTAL_STEPS
    cls = model_choices.get_class(config.get("model", "token_lm"))
    return cls(vocab_size=len(vocab), unit_offset=vocab.unit_offset, n_units=vocab.n_units, **conf)


def mean_flops_per_sequence(model, corpus, token_list: List[str], max_seq_len: int = 0, max_seqs: int = 1000,
                            batch_size: int = 32, config: Optional[Dict] = None) -> Dict:
    """Mean training FLOPs per sequence (per part) over (an evenly spaced sample of) the corpus.
    The model is in training mode; batch i of n is evaluated at step (i + 0.5) / n of the
    curriculum schedule (if any), so a curriculum model gets its schedule-average cost. A docs
    corpus is drawn as in validation (epoch 0) with the config's stream_mix/interleave_conf."""
    lines = list(read_kaldi_map(corpus).items())
    if not lines:
        raise ValueError(f"{corpus}: empty corpus")
    if max_seqs and len(lines) > max_seqs:
        idx = np.linspace(0, len(lines) - 1, max_seqs).round().astype(int)
        lines = [lines[i] for i in idx]
    config = config or {}
    pre = DocumentPreprocessor(token_list, interleave_conf=config.get("interleave_conf"),
                               stream_mix=config.get("stream_mix", "paper"), seed=int(config.get("seed", 0)),
                               max_len=max_seq_len, where=f"{corpus}: ")
    count = PositionCounter(config.get("model", "token_lm"), config.get("model_conf"),
                            SpeechTextVocab(token_list).unit_offset)
    chunks = [lines[i : i + batch_size] for i in range(0, len(lines), batch_size)]
    total_steps = None
    patcher = getattr(model, "patcher", None)
    if patcher is not None and patcher.curriculum_steps is not None:
        total_steps = max(1, int(round(patcher.curriculum_steps[1] * 1.5)))  # end of the middle third
    sums, n_seq, n_tok, n_pos = {}, 0, 0, 0
    was = model.training
    model.train()
    try:
        for i, chunk in enumerate(chunks):
            if total_steps is not None and hasattr(model, "step"):
                model.step.fill_(int((i + 0.5) / len(chunks) * total_steps))
            _, batch = collate_sequences([(k, pre(k, {"seq": v})) for k, v in chunk])
            n_pos += batch_positions(batch, count)
            with torch.no_grad():
                for k, v in batch_flops(model, batch).items():
                    sums[k] = sums.get(k, 0.0) + v
            n_seq += len(chunk)
            n_tok += int(batch["seq_lengths"].sum())
    finally:
        if hasattr(model, "step"):
            model.step.zero_()
        model.train(was)
    parts = {k: v / n_seq for k, v in sums.items()}
    return {"flops_per_seq": sum(parts.values()), "parts": parts, "tokens_per_seq": n_tok / n_seq,
            "positions_per_seq": n_pos / n_seq, "sampled_sequences": n_seq}


def config_max_len(config: Dict) -> int:
    """The sequence length cap training applies: max_seq_len, else model_conf.max_len (0: none)."""
    return int(config.get("max_seq_len", 0) or (config.get("model_conf") or {}).get("max_len", 0) or 0)


def epochs_flop_budget(config: Dict, token_list: List[str], corpus, epochs: float, max_seqs: int = 1000) -> float:
    """FLOPs of ``epochs`` passes of ``config``'s model over ``corpus`` (mean FLOPs per sequence,
    as :func:`plan_training` estimates them, x the number of sequences): the ``flops`` budget
    "X epochs of the baseline"."""
    est = mean_flops_per_sequence(build_model_from_config(config, token_list), corpus, token_list,
                                  config_max_len(config), max_seqs, config=config)
    return epochs * est["flops_per_seq"] * len(read_kaldi_map(corpus))


def plan_training(config: Dict, token_list: List[str], corpus, flop_budget: Optional[float] = None,
                  seq_budget: Optional[int] = None, target_epochs: int = 4, slack: float = 0.05,
                  max_seqs: int = 1000, step_budget: Optional[int] = None) -> Dict:
    """-> plan dict: updates, max_epoch, num_iters_per_epoch, flops_per_seq, params, and the
    config overrides to pass to the trainer (incl. curriculum_total_steps). Exactly one budget:
    ``flop_budget`` (control flops), ``step_budget`` (control steps) or ``seq_budget`` (data).
    With packing (``pack_len`` in the config) an update is ``pack_rows`` rows of ``pack_len``
    global positions, i.e. about ``pack_rows * pack_len / positions_per_seq`` sequences."""
    if sum(b is not None for b in (flop_budget, seq_budget, step_budget)) != 1:
        raise ValueError("give exactly one of flop_budget / seq_budget / step_budget")
    model = build_model_from_config(config, token_list)
    est = mean_flops_per_sequence(model, corpus, token_list, config_max_len(config), max_seqs, config=config)
    if config.get("pack_len"):
        bs = int(config.get("pack_rows", 8)) * int(config["pack_len"]) / max(1e-9, est["positions_per_seq"])
    else:
        bs = int(config.get("batch_size", 20))
        if config.get("batch_type", "folded") not in ("sorted", "unsorted", "folded"):
            logging.warning(f"batch_type {config.get('batch_type')}: batches are not {bs} sequences; the plan "
                            "assumes they are (the stop hook is exact anyway)")
    per_update = est["flops_per_seq"] * bs
    if flop_budget is not None:
        updates = int(flop_budget // per_update)
    elif step_budget is not None:
        updates = int(step_budget)
    else:
        updates = int(seq_budget // bs)
    if updates < 1:
        raise ValueError(f"budget too small: one update costs {per_update:.3g} FLOPs / {bs:.3g} sequences")
    epochs = max(1, min(target_epochs, updates))
    iters = int(math.ceil(updates * (1 + slack) / epochs))
    overrides = {"max_epoch": epochs, "num_iters_per_epoch": iters}
    conf = dict(config.get("model_conf") or {})
    if conf.get("patching") == "curriculum" and not conf.get("curriculum_steps"):
        conf["curriculum_total_steps"] = updates
        overrides["model_conf"] = conf
    return {"updates": updates, "batch_size": bs, "max_epoch": epochs, "num_iters_per_epoch": iters,
            "flops_per_update": per_update, "planned_flops": updates * per_update,
            "params": sum(p.numel() for p in model.parameters()), "estimate": est,
            "flop_budget": flop_budget, "seq_budget": seq_budget, "step_budget": step_budget,
            "overrides": overrides}


def apply_overrides(config: Dict, overrides: Dict) -> Dict:
    out = dict(config)
    out.update(overrides)
    return out
