"""Packed batches: several documents in one row, marked by ``doc_ids``.

The collate function may add ``doc_ids`` (B, T) long: the index of the document each
position belongs to (absent: one document per row). Both models accept it and behave as
if every document were its own row: no attention of any kind crosses a document boundary,
positions (RoPE, and LST's patch index) restart at each document, and the first token of
each document is not a prediction target.

They get this exactly by construction: `split_documents` cuts each row into its documents
(maximal runs of one doc id within the row's length), the model runs on those rows, and
`DocumentSplit.merge` puts per-position results back in the packed layout. The cost is the
padding of the unpacked rows (documents of a packed row are usually similar in length); a
fused block-diagonal kernel would avoid it and is not needed for exactness.
"""
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np
import torch


@dataclass
class DocumentSplit:
    B: int
    T: int
    row: torch.Tensor  # (R,) packed row of each document
    start: torch.Tensor  # (R,) its first position there
    length: torch.Tensor  # (R,)

    def merge(self, x: torch.Tensor, fill: float = 0.0) -> torch.Tensor:
        """(R, T2, ...) per-document values -> (B, T, ...) in the packed layout."""
        out = x.new_full((self.B, self.T) + tuple(x.shape[2:]), fill)
        T2 = x.shape[1]
        t = torch.arange(T2, device=x.device)[None]  # (1, T2)
        valid = t < self.length[:, None].to(x.device)  # (R, T2)
        b = self.row[:, None].expand_as(valid)[valid]
        pos = (self.start[:, None].to(x.device) + t).expand_as(valid)[valid]
        out[b, pos] = x[valid]
        return out


def split_documents(seq: torch.Tensor, seq_lengths: torch.Tensor, seg_start: Optional[torch.Tensor],
                    doc_ids: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, Optional[torch.Tensor], DocumentSplit]:
    """Packed (B, T) -> one row per document: (seq (R, T2), lengths (R,), seg_start, split)."""
    B, T = seq.shape
    ids = doc_ids.detach().cpu().numpy()
    lens = seq_lengths.detach().cpu().numpy()
    rows, starts, lengths = [], [], []
    for b in range(B):
        n = int(lens[b])
        if n == 0:
            continue
        d = ids[b, :n]
        cuts = np.concatenate([[0], np.flatnonzero(d[1:] != d[:-1]) + 1, [n]])
        for s, e in zip(cuts[:-1], cuts[1:]):
            rows.append(b)
            starts.append(int(s))
            lengths.append(int(e - s))
    split = DocumentSplit(B, T, torch.tensor(rows, dtype=torch.long), torch.tensor(starts, dtype=torch.long),
                          torch.tensor(lengths, dtype=torch.long))
    T2 = max(lengths) if lengths else 1
    t = torch.arange(T2)[None]
    valid = t < split.length[:, None]
    src = (split.start[:, None] + t).clamp(max=T - 1)
    gather = lambda x: torch.where(valid.to(x.device), x[split.row[:, None].to(x.device), src.to(x.device)],  # noqa
                                   torch.zeros((), dtype=x.dtype, device=x.device))
    out_seg = gather(seg_start) if seg_start is not None else None
    return gather(seq), split.length.to(seq_lengths.device), out_seg, split
