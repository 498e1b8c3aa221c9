"""Preprocessing (corpus line -> arrays) and collation (arrays -> padded batch) for the task.

ESPnet's dataset reads ``corpus/<set>/seqs`` as type ``text`` (``{"seq": str}``); the
preprocessor parses it with the joint vocabulary, the collate function pads.
"""
import logging
from typing import Collection, Dict, List, Tuple

import numpy as np
import torch

from lst.data.sequence_format import parse_sequence
from lst.vocab import BLANK_ID, SpeechTextVocab


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
