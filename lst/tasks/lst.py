"""The speech-text LM task for ESPnet's trainer: data, preprocessing, collation, model choice.

``--model token_lm`` is the token-level baseline (every speech unit one autoregressive step);
``--model lst`` is the Latent Speech-Text Transformer (speech units grouped into patches).
Both read the same corpus and the same joint token list, so switching is one YAML key.

Data (``lst/data``): the corpus file may hold pre-built sequences (``corpus/<set>/seqs``) or
word-level documents (``corpus/<set>/docs``, the paper's path), from which a sequence is drawn
anew every training epoch: ``--stream_mix paper|spiritlm|{inter: .., text: .., speech: ..}``
picks each document's stream, ``--interleave_conf {ratio: "1:2", ...}`` the interleaving
spans (``lst.data.interleave.PaperInterleaveConfig``). The training iterator tells the
preprocessor the epoch (:class:`EpochIterFactory`); validation uses the fixed epoch-0 draw.
``--pack_len L --pack_rows R`` packs training documents into R rows of L global positions per
batch (``lst/data/packing.py``; the batch then carries ``doc_ids``). No sequence longer than
the model's ``max_len`` (or ``--max_seq_len`` when smaller) reaches the model.
"""
import argparse
import inspect
import logging
from typing import Callable, Collection, Dict, List, Optional, Tuple

import numpy as np
import torch

from espnet2.iterators.abs_iter_factory import AbsIterFactory
from espnet2.train.abs_espnet_model import AbsESPnetModel
from espnet2.train.class_choices import ClassChoices
from espnet2.utils.nested_dict_action import NestedDictAction
from espnet2.utils.types import str_or_none

from lst.compat import ABS_TASK_PLACEHOLDERS, espnet_placeholders
from lst.data.batch import DocumentPreprocessor, collate_sequences
from lst.data.documents import is_document_line
from lst.data.interleave import PaperInterleaveConfig, parse_stream_mix
from lst.data.packing import PackedIterFactory, PositionCounter
from lst.models.lst_model import LSTModel
from lst.models.token_lm import TokenLM
from lst.train.config_check import check_model_conf
from lst.train.trainer import LSTTrainer
from lst.vocab import SpeechTextVocab, read_token_list

with espnet_placeholders(ABS_TASK_PLACEHOLDERS):  # torchaudio, for this one import only
    from espnet2.tasks.abs_task import AbsTask

model_choices = ClassChoices(
    "model",
    classes=dict(token_lm=TokenLM, lst=LSTModel),
    type_check=AbsESPnetModel,
    default="token_lm",
)


def str_or_mix(value):
    """--stream_mix: a name (paper, spiritlm), 'inter=1,text=2', or a YAML/JSON dict."""
    if isinstance(value, str) and value.strip().startswith("{"):
        import yaml

        return yaml.safe_load(value)
    return value


class EpochIterFactory(AbsIterFactory):
    """Wraps ESPnet's training iterator factory: tells the dataset's preprocessor the epoch
    before each epoch's DataLoader (and its worker processes) is made."""

    def __init__(self, inner: AbsIterFactory):
        self.inner = inner

    def build_iter(self, epoch: int, shuffle: bool = None):
        pre = getattr(getattr(self.inner, "dataset", None), "preprocess", None)
        if hasattr(pre, "set_epoch"):
            pre.set_epoch(epoch)
        return self.inner.build_iter(epoch, shuffle)


def model_max_len(args: argparse.Namespace) -> int:
    """The longest sequence (tokens) the configured model accepts: model_conf.max_len or the
    model class's default; ``--max_seq_len`` when set and smaller."""
    conf = getattr(args, "model_conf", None) or {}
    limit = conf.get("max_len")
    if limit is None:
        try:
            limit = inspect.signature(model_choices.get_class(args.model)).parameters["max_len"].default
        except (KeyError, ValueError, TypeError, AttributeError):
            limit = 0
    limit = int(limit or 0)
    if getattr(args, "max_seq_len", 0):
        limit = min(limit, args.max_seq_len) if limit else args.max_seq_len
    return limit


class LSTTask(AbsTask):
    num_optimizers: int = 1
    class_choices_list = [model_choices]
    trainer = LSTTrainer

    @classmethod
    def add_task_arguments(cls, parser: argparse.ArgumentParser):
        group = parser.add_argument_group(description="Task related")
        required = parser.get_default("required")
        required += ["token_list"]
        group.add_argument(
            "--token_list", type=str_or_none, default=None,
            help="Joint speech-text token list (lst/vocab.py layout)",
        )
        group.add_argument(
            "--max_seq_len", type=int, default=0,
            help="Cut longer sequences (0: the model's max_len); each cut is logged",
        )
        group.add_argument(
            "--interleave_conf", action=NestedDictAction, default=dict(),
            help="Paper interleaving of docs corpora: ratio ('1:2'), first, max_span, min_span, span_frac, min_final",
        )
        group.add_argument(
            "--stream_mix", type=str_or_mix, default="paper",
            help="Streams drawn from docs: paper (1/3 interleaved, 2/3 text), spiritlm (1/3 each with "
                 "speech-only), 'inter=1,text=2' or a dict",
        )
        group.add_argument(
            "--pack_len", type=int, default=0,
            help="Pack training documents into rows of this many global positions (0: no packing)",
        )
        group.add_argument("--pack_rows", type=int, default=8, help="Rows per packed batch")
        group.add_argument(
            "--pack_sort_window", type=int, default=1000,
            help="Pack documents in windows of this many, each sorted by length, batches shuffled within the "
                 "window (0: plain first-come packing). Packed rows run as their documents padded to the "
                 "batch's longest, so similar lengths keep padding low",
        )
        group.add_argument(
            "--train_corpus", type=str, default="seqs", choices=["seqs", "docs"],
            help="Which corpus file the recipe trains on (lst.sh reads this key): seqs (pre-built sequences) "
                 "or docs (word-level documents, paper-style sequences drawn every epoch)",
        )
        for class_choices in cls.class_choices_list:
            class_choices.add_arguments(group)

    @classmethod
    def build_collate_fn(
        cls, args: argparse.Namespace, train: bool
    ) -> Callable[[Collection[Tuple[str, Dict[str, np.ndarray]]]], Tuple[List[str], Dict[str, torch.Tensor]]]:
        return collate_sequences

    @classmethod
    def build_preprocess_fn(
        cls, args: argparse.Namespace, train: bool
    ) -> Optional[Callable[[str, Dict[str, np.ndarray]], Dict[str, np.ndarray]]]:
        return DocumentPreprocessor(
            cls._token_list(args), interleave_conf=PaperInterleaveConfig.from_dict(getattr(args, "interleave_conf", None)),
            stream_mix=parse_stream_mix(getattr(args, "stream_mix", "paper")), seed=getattr(args, "seed", 0),
            max_len=model_max_len(args),
        )

    @classmethod
    def build_iter_factory(cls, args: argparse.Namespace, distributed_option, mode: str,
                           kwargs: Optional[dict] = None) -> AbsIterFactory:
        if mode == "train" and getattr(args, "pack_len", 0):
            return cls.build_packed_iter_factory(args, distributed_option, kwargs)
        cls._check_corpus_kind(args, mode)
        factory = super().build_iter_factory(args, distributed_option, mode, kwargs)
        return EpochIterFactory(factory) if mode == "train" else factory

    @staticmethod
    def _check_corpus_kind(args, mode: str) -> None:
        """Log (once per mode) when the data file is not the kind --train_corpus names."""
        paths = getattr(args, f"{mode}_data_path_and_name_and_type", None) or []
        want = getattr(args, "train_corpus", "seqs")
        for path, _, _ in paths[:1]:
            try:
                with open(path, encoding="utf-8") as f:
                    first = f.readline().split(maxsplit=1)
            except OSError:
                return
            if len(first) == 2 and is_document_line(first[1]) != (want == "docs"):
                logging.warning(f"{path}: holds {'documents' if want == 'seqs' else 'pre-built sequences'} but "
                                f"train_corpus is {want} (the recipe chooses the file from that key)")

    @classmethod
    def build_packed_iter_factory(cls, args, distributed_option, kwargs=None) -> AbsIterFactory:
        if distributed_option.distributed:
            raise RuntimeError("--pack_len: packing is not implemented for distributed training; use one process")
        iter_options = cls.build_iter_options(args, distributed_option, "train")
        for k, v in (kwargs or {}).items():
            setattr(iter_options, k, v)
        dataset = cls.build_dataset(args, iter_options)
        keys = list(next(iter(dataset.loader_dict.values())).keys())
        vocab = SpeechTextVocab(cls._token_list(args))
        counter = PositionCounter(args.model, getattr(args, "model_conf", None), vocab.unit_offset)
        logging.info(f"[train] packing {len(keys)} documents into {args.pack_rows} rows x {args.pack_len} global "
                     f"positions per batch ({args.model} positions)")
        return PackedIterFactory(dataset, keys, args.pack_len, args.pack_rows, counter, seed=args.seed,
                                 shuffle=True, num_workers=args.num_workers, pin_memory=args.ngpu > 0,
                                 num_iters_per_epoch=iter_options.num_iters_per_epoch,
                                 sort_window=getattr(args, "pack_sort_window", 0))

    @classmethod
    def required_data_names(cls, train: bool = True, inference: bool = False) -> Tuple[str, ...]:
        return ("seq",)

    @classmethod
    def optional_data_names(cls, train: bool = True, inference: bool = False) -> Tuple[str, ...]:
        return ()

    @classmethod
    def build_model(cls, args: argparse.Namespace) -> AbsESPnetModel:
        token_list = cls._token_list(args)
        # config.yaml keeps the list itself so a trained model is portable (ESPnet does the same)
        args.token_list = list(token_list)
        vocab = SpeechTextVocab(token_list)
        model_class = model_choices.get_class(args.model)
        check_model_conf(args.model, model_class, args.model_conf)
        return model_class(
            vocab_size=len(vocab), unit_offset=vocab.unit_offset, n_units=vocab.n_units, **args.model_conf
        )

    @staticmethod
    def _token_list(args: argparse.Namespace) -> List[str]:
        if isinstance(args.token_list, str):
            return read_token_list(args.token_list)
        if isinstance(args.token_list, (list, tuple)):
            return list(args.token_list)
        raise RuntimeError("--token_list is required (a file or a list of tokens)")
