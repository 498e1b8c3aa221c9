"""Packing sequences into rows of a fixed number of *global positions* (spec 4.4).

A global position is one step of the global transformer: for the token baseline every token;
for LST every non-unit token (text piece, marker, ``<sos/eos>``) and every speech patch, counted
as the model patches (:class:`PositionCounter`, using ``lst.patching``). Each row holds at
most ``pack_len`` positions; documents are never split across rows (a document longer than a
row is skipped, counted and logged with its id; optionally a row also holds at most
``max_tokens`` tokens; the models run each document of a row on its own, so only documents,
not rows, must fit the model's ``max_len``); ``lst.bin.build_corpus --max_len`` keeps
documents shorter than the model's ``max_len``). Rows are filled greedily in the (per-epoch
shuffled) document order; a batch is ``pack_rows`` rows, so every update sees the same number
of global positions (``pack_rows x pack_len`` capacity; the fill rate is logged per epoch).

Batch interface agreed with the models: besides ``seq`` (R, T), ``seq_lengths`` (R,) and
``seg_start`` (R, T), the collate adds ``doc_ids`` (R, T) long = index of the document of each
position within its row (0, 1, 2, ... ; padding carries the last document's index). Positions
of different documents must not attend to each other, and the first token of each document
(its ``<sos/eos>``) is not a prediction target; the models enforce that.
"""
import inspect
import logging
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
from espnet2.iterators.abs_iter_factory import AbsIterFactory

from lst.patching import Patcher, aligned_patches, silence_patches, static_patches
from lst.vocab import BLANK_ID

Item = Tuple[str, Dict[str, np.ndarray]]


def _default_max_patch_len():
    return inspect.signature(Patcher.__init__).parameters["max_patch_len"].default


class PositionCounter:
    """Global positions of one sequence (ids, seg_start) for a model configuration.

    token_lm: its length. LST: non-unit tokens + patches of every speech span, with the
    configured patching (``curriculum``: the larger of its static and aligned counts, so a
    row never exceeds ``pack_len`` whichever mode the model draws)."""

    def __init__(self, model: str, model_conf: Optional[Dict], unit_offset: int):
        self.model, self.unit_offset = model, unit_offset
        conf = dict(model_conf or {})
        self.patching = conf.get("patching", "static")
        self.patch_size = int(conf.get("patch_size", 4))
        self.max_patch_len = conf.get("max_patch_len", _default_max_patch_len())
        self.silence_units = conf.get("silence_units") or []

    def _patches(self, units: np.ndarray, flags: np.ndarray) -> int:
        modes = {"curriculum": ("static", "aligned")}.get(self.patching, (self.patching,))
        counts = []
        for mode in modes:
            if mode == "static":
                counts.append(len(static_patches(len(units), self.patch_size).lengths))
            elif mode == "aligned":
                counts.append(len(aligned_patches(flags, self.max_patch_len, self.patch_size).lengths))
            else:
                counts.append(len(silence_patches(units, self.silence_units, self.patch_size,
                                                  self.max_patch_len).lengths))
        return max(counts)

    def __call__(self, ids: np.ndarray, seg_start: Optional[np.ndarray] = None) -> int:
        ids = np.asarray(ids)
        if self.model != "lst":
            return int(len(ids))
        is_unit = ids >= self.unit_offset
        n = int((~is_unit).sum())
        upos = np.flatnonzero(is_unit)
        if not len(upos):
            return n
        flags = np.asarray(seg_start)[upos] if seg_start is not None else np.zeros(len(upos), dtype=np.int64)
        edges = np.concatenate([[0], np.flatnonzero(np.diff(upos) != 1) + 1, [len(upos)]])
        for a, b in zip(edges[:-1], edges[1:]):
            n += self._patches(ids[upos[a:b]] - self.unit_offset, flags[a:b])
        return n


class Packer:
    """Greedy first-come packing of whole documents into rows of ``pack_len`` positions."""

    def __init__(self, pack_len: int, count: Callable[[np.ndarray, np.ndarray], int], max_tokens: int = 0):
        if pack_len < 2:
            raise ValueError(f"pack_len must be >= 2, got {pack_len}")
        self.pack_len, self.count, self.max_tokens = pack_len, count, max_tokens
        self.skipped: List[str] = []
        self.used = self.rows = 0

    def rows_of(self, items: Iterator[Item]) -> Iterator[List[Item]]:
        row: List[Item] = []
        fill = tokens = 0
        cap = self.max_tokens or float("inf")
        for key, d in items:
            n, t = self.count(d["seq"], d.get("seg_start")), len(d["seq"])
            if n > self.pack_len or t > cap:
                self.skipped.append(key)
                logging.warning(f"packing: {key}: {n} global positions / {t} tokens > pack_len={self.pack_len} / "
                                f"max_len={self.max_tokens}; skipped ({len(self.skipped)} so far)")
                continue
            if fill + n > self.pack_len or tokens + t > cap:
                self.rows += 1
                self.used += fill
                yield row
                row, fill, tokens = [], 0, 0
            row.append((key, d))
            fill += n
            tokens += t
        if row:
            self.rows += 1
            self.used += fill
            yield row

    @property
    def fill_rate(self) -> float:
        return self.used / max(1, self.rows * self.pack_len)


def collate_packed(rows: Sequence[List[Item]]) -> Tuple[List[str], Dict[str, torch.Tensor]]:
    """Rows of documents -> (row ids, batch with seq, seq_lengths, seg_start, doc_ids)."""
    keys = ["+".join(k for k, _ in row) for row in rows]
    seqs = [np.concatenate([d["seq"] for _, d in row]) for row in rows]
    segs = [np.concatenate([d["seg_start"] for _, d in row]) for row in rows]
    docs = [np.concatenate([np.full(len(d["seq"]), i, dtype=np.int64) for i, (_, d) in enumerate(row)])
            for row in rows]
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)
    T = int(lengths.max())
    seq = torch.full((len(rows), T), BLANK_ID, dtype=torch.long)
    seg_start = torch.zeros((len(rows), T), dtype=torch.long)
    doc_ids = torch.zeros((len(rows), T), dtype=torch.long)
    for i, (s, g, d) in enumerate(zip(seqs, segs, docs)):
        n = len(s)
        seq[i, :n] = torch.as_tensor(s)
        seg_start[i, :n] = torch.as_tensor(g)
        doc_ids[i, :n] = torch.as_tensor(d)
        doc_ids[i, n:] = int(d[-1])
    return keys, {"seq": seq, "seq_lengths": lengths, "seg_start": seg_start, "doc_ids": doc_ids}


def _identity(x):
    return x


class _Ordered(torch.utils.data.Dataset):
    def __init__(self, dataset, keys: Sequence[str]):
        self.dataset, self.keys = dataset, list(keys)

    def __len__(self):
        return len(self.keys)

    def __getitem__(self, i):
        return self.dataset[self.keys[i]]


class PackedIterFactory(AbsIterFactory):
    """ESPnet iterator factory (``build_iter(epoch)``) yielding packed batches.

    Epoch ``e``: the documents in an order shuffled by ``seed + e`` and drawn by the
    preprocessor at epoch ``e`` (set before the DataLoader is made, so worker processes see
    it), packed into rows, ``pack_rows`` rows per batch. With ``num_iters_per_epoch`` the epoch
    is exactly that many batches: further passes over the data follow (pass ``j`` reshuffled
    and redrawn with sub-epoch ``j``); without it, one pass (a last incomplete batch is
    dropped, so every update has the same capacity). Everything is a function of
    (seed, epoch), so a resumed run sees the same batches."""

    def __init__(self, dataset, keys: Sequence[str], pack_len: int, pack_rows: int,
                 count: Callable, seed: int = 0, shuffle: bool = True, num_workers: int = 0,
                 num_iters_per_epoch: Optional[int] = None, pin_memory: bool = False, max_tokens: int = 0,
                 sort_window: int = 0):
        if pack_rows < 1:
            raise ValueError(f"pack_rows must be >= 1, got {pack_rows}")
        if sort_window < 0:
            raise ValueError(f"sort_window must be >= 0, got {sort_window}")
        # sort_window > 0: documents are packed in windows of that many (in the shuffled order),
        # each window sorted by length first, and the window's batches are shuffled. The models
        # run a packed row as its documents padded to the longest one of the batch
        # (lst/models/documents.py), so mixing 40-token texts with 600-unit speech documents in
        # one batch pads ~5x; similar lengths in a batch make packing cost what it saves.
        self.sort_window = sort_window
        self.dataset, self.keys = dataset, sorted(keys)
        self.pack_len, self.pack_rows, self.count = pack_len, pack_rows, count
        self.seed, self.shuffle, self.num_workers = seed, shuffle, num_workers
        self.num_iters_per_epoch, self.pin_memory, self.max_tokens = num_iters_per_epoch, pin_memory, max_tokens

    def _pass(self, epoch: int, sub: int) -> Iterator[Item]:
        pre = getattr(self.dataset, "preprocess", None)
        if hasattr(pre, "set_epoch"):
            pre.set_epoch(epoch, sub)
        keys = list(self.keys)
        if self.shuffle:
            np.random.RandomState([self.seed, epoch, sub]).shuffle(keys)
        loader = torch.utils.data.DataLoader(_Ordered(self.dataset, keys), batch_size=None, shuffle=False,
                                             num_workers=self.num_workers, collate_fn=_identity,
                                             pin_memory=self.pin_memory)
        yield from loader

    def _batches(self, epoch: int) -> Iterator[Tuple[List[str], Dict[str, torch.Tensor]]]:
        n_batches, sub = 0, 0
        while True:
            packer = Packer(self.pack_len, self.count, self.max_tokens)
            rows: List[List[Item]] = []
            made = 0
            for row in self._rows(packer, self._pass(epoch, sub), epoch, sub):
                rows.append(row)
                if len(rows) == self.pack_rows:
                    keys, batch = collate_packed(rows)
                    rows = []
                    made += 1
                    n_batches += 1
                    yield keys, batch
                    if self.num_iters_per_epoch and n_batches >= self.num_iters_per_epoch:
                        self._log(epoch, sub, packer)
                        return
            self._log(epoch, sub, packer, dropped=len(rows))
            if made == 0:
                raise RuntimeError(f"packing: one pass over {len(self.keys)} documents fills fewer than "
                                   f"pack_rows={self.pack_rows} rows of {self.pack_len} positions; "
                                   "lower pack_len or pack_rows")
            if not self.num_iters_per_epoch:
                return
            sub += 1

    def _rows(self, packer: Packer, items: Iterator[Item], epoch: int, sub: int) -> Iterator[List[Item]]:
        """Rows in batch order. Without sort_window: greedy rows in the shuffled document order.
        With it: per window of documents, rows packed from the length-sorted window and emitted
        as whole batches (pack_rows consecutive rows) in a shuffled order, seeded by
        (seed, epoch, sub, window); rows short of a batch carry over to the next window."""
        if not self.sort_window:
            yield from packer.rows_of(items)
            return
        carry: List[List[Item]] = []
        window: List[Item] = []
        w = 0

        def flush(last: bool):
            nonlocal carry, w
            window.sort(key=lambda it: len(it[1]["seq"]))
            rows = carry + list(packer.rows_of(iter(window)))
            n = len(rows) // self.pack_rows * self.pack_rows
            batches = [rows[i:i + self.pack_rows] for i in range(0, n, self.pack_rows)]
            if self.shuffle:
                np.random.RandomState([self.seed, epoch, sub, w]).shuffle(batches)
            carry = rows[n:]
            window.clear()
            w += 1
            out = [row for b in batches for row in b]
            return out + (carry if last else [])

        for it in items:
            window.append(it)
            if len(window) >= self.sort_window:
                yield from flush(False)
        yield from flush(True)

    def _log(self, epoch, sub, packer: Packer, dropped: int = 0) -> None:
        logging.info(f"packing: epoch {epoch} pass {sub}: {packer.rows} rows of {self.pack_len} positions, "
                     f"fill {100 * packer.fill_rate:.1f} %, {len(packer.skipped)} documents skipped (too long), "
                     f"{dropped} rows left over (less than a batch of {self.pack_rows})")

    def build_iter(self, epoch: int, shuffle: Optional[bool] = None):
        if shuffle is not None:
            self.shuffle = shuffle
        return self._batches(epoch)
