"""Preprocessing (corpus line -> arrays) and collation (arrays -> padded batch) for the task.

ESPnet's dataset reads ``corpus/<set>/seqs`` or ``corpus/<set>/docs`` as type ``text``
(``{"seq": str}``). A ``seqs`` line is a pre-built sequence (``lst/data/sequence_format.py``),
parsed by :class:`SequencePreprocessor`; a ``docs`` line is a word-level document
(``lst/data/documents.py``) from which :class:`DocumentPreprocessor` draws a sequence anew
every epoch (stream kind and interleaving spans, spec 4.3). The collate function pads.
"""
import logging
from typing import Collection, Dict, List, Optional, Tuple

import numpy as np
import torch

from lst.data.documents import DocumentError, is_document_line, parse_document, split_document
from lst.data.interleave import PaperInterleaveConfig, draw_kind, draw_rng, draw_spans, parse_stream_mix
from lst.data.sequence_format import Span, parse_sequence
from lst.vocab import BLANK_ID, SOS_EOS_ID, SPEECH_MARK_ID, TEXT_MARK_ID, SpeechTextVocab


class SequencePreprocessor:
    """``(seq_id, {"seq": line}) -> {"seq": ids, "seg_start": flags}``.

    Sequences longer than ``max_seq_len`` are cut (keeping the start) and logged, so one
    very long utterance cannot exhaust memory and the cut is visible in the log.
    """

    def __init__(self, token_list, max_seq_len: int = 0, where: str = ""):
        self.vocab = token_list if isinstance(token_list, SpeechTextVocab) else SpeechTextVocab(token_list)
        self.max_seq_len = max_seq_len
        self.where = where

    def __call__(self, seq_id: str, data: Dict) -> Dict[str, np.ndarray]:
        line = data["seq"]
        ids, seg_start = parse_sequence(line, self.vocab, where=f"{self.where}{seq_id}")
        if self.max_seq_len and len(ids) > self.max_seq_len:
            logging.warning(f"{seq_id}: {len(ids)} tokens, cut to max_seq_len={self.max_seq_len}")
            ids, seg_start = ids[: self.max_seq_len], seg_start[: self.max_seq_len]
        return {"seq": ids, "seg_start": seg_start}


def spans_to_ids(spans: List[Span], vocab: SpeechTextVocab, where: str = "") -> Tuple[np.ndarray, np.ndarray]:
    """Spans -> (ids, seg_start) framed by <sos/eos>: the same arrays ``parse_sequence`` gives
    for ``format_sequence(spans)`` (a segment starts at each speech span and each segment)."""
    ids, seg = [SOS_EOS_ID], [0]
    for span in spans:
        if span.modality == "text":
            ids.append(TEXT_MARK_ID)
            ids += [vocab.piece_id(p) for p in span.items]
            seg += [0] * (len(span.items) + 1)
            continue
        ids.append(SPEECH_MARK_ID)
        seg.append(0)
        for n in span.segments or [len(span.items)]:
            seg += [1] + [0] * (n - 1)
        units = np.asarray(span.items, dtype=np.int64)
        bad = units[(units < 0) | (units >= vocab.n_units)]
        if bad.size:
            raise DocumentError(f"{where}: unit id {int(bad[0])} out of range [0, {vocab.n_units})")
        ids += (units + vocab.unit_offset).tolist()
    ids.append(SOS_EOS_ID)
    seg.append(0)
    return np.asarray(ids, dtype=np.int64), np.asarray(seg, dtype=np.int64)


class DocumentPreprocessor:
    """``(doc_id, {"seq": line}) -> {"seq": ids, "seg_start": flags}``, drawing from documents.

    A ``docs`` line (JSON) gives a sequence drawn with ``draw_rng(seed, epoch, doc_id)``: its
    stream kind from ``stream_mix`` and, for an interleaved one, its spans by the paper's rules
    (``interleave_conf``). :meth:`set_epoch` (called by the task's iterator factory before each
    epoch's DataLoader is made, so worker processes get it too) changes the draw; epoch 0 is
    the fixed draw of validation and collect-stats. A pre-built ``seqs`` line is passed to
    :class:`SequencePreprocessor` unchanged, so both corpora work with the same task.

    Long sequences: a document whose worst case exceeds ``max_len`` tokens is cut at a word
    boundary (the leading part that fits is drawn; ``lst.bin.build_corpus --max_len`` splits
    documents so that this does not happen); each cut is counted (``n_cut``) and logged with
    the document id.
    """

    def __init__(self, token_list, interleave_conf: Optional[Dict] = None, stream_mix="paper", seed: int = 0,
                 max_len: int = 0, where: str = ""):
        self.vocab = token_list if isinstance(token_list, SpeechTextVocab) else SpeechTextVocab(token_list)
        self.cfg = interleave_conf if isinstance(interleave_conf, PaperInterleaveConfig) else \
            PaperInterleaveConfig.from_dict(interleave_conf)
        self.mix = parse_stream_mix(stream_mix)
        self.seed, self.max_len, self.where = int(seed), int(max_len or 0), where
        self.epoch, self.sub = 0, 0
        self.n_cut = 0
        self.sequences = SequencePreprocessor(self.vocab, max_seq_len=self.max_len, where=where)

    def set_epoch(self, epoch: int, sub: int = 0) -> None:
        self.epoch, self.sub = int(epoch), int(sub)

    def draw(self, doc, rng=None):
        """-> (kind, spans) of ``doc`` in the current epoch."""
        rng = rng or draw_rng(self.seed, self.epoch, doc.doc_id, self.sub)
        kind = draw_kind(doc, self.mix, rng)
        return kind, draw_spans(doc, kind, self.cfg, rng)

    def __call__(self, seq_id: str, data: Dict) -> Dict[str, np.ndarray]:
        line = data["seq"]
        if not is_document_line(line):
            return self.sequences(seq_id, data)
        doc = parse_document(seq_id, line, where=f"{self.where}{seq_id}")
        if self.max_len and doc.worst_case_tokens() > self.max_len:
            doc = split_document(doc, self.max_len)[0]
            self.n_cut += 1
            logging.warning(f"{self.where}{seq_id}: longer than max_len={self.max_len} tokens in the worst case; "
                            f"only its first {len(doc.words)} words are drawn ({self.n_cut} documents cut so far; "
                            "build the corpus with --max_len to split documents instead)")
        _, spans = self.draw(doc)
        ids, seg_start = spans_to_ids(spans, self.vocab, where=f"{self.where}{seq_id}")
        return {"seq": ids, "seg_start": seg_start}


def collate_sequences(
    batch: Collection[Tuple[str, Dict[str, np.ndarray]]],
) -> Tuple[List[str], Dict[str, torch.Tensor]]:
    """Pads ``seq`` with <blank> (0) and ``seg_start`` with 0; adds ``seq_lengths``."""
    ids = [seq_id for seq_id, _ in batch]
    lengths = torch.tensor([len(d["seq"]) for _, d in batch], dtype=torch.long)
    max_len = int(lengths.max())
    seq = torch.full((len(batch), max_len), BLANK_ID, dtype=torch.long)
    seg_start = torch.zeros((len(batch), max_len), dtype=torch.long)
    for i, (_, d) in enumerate(batch):
        seq[i, : lengths[i]] = torch.as_tensor(d["seq"])
        seg_start[i, : lengths[i]] = torch.as_tensor(d["seg_start"])
    return ids, {"seq": seq, "seq_lengths": lengths, "seg_start": seg_start}
