"""The speech-text LM task for ESPnet's trainer: data, preprocessing, collation, model choice.

``--model token_lm`` is the token-level baseline (every speech unit one autoregressive step);
``--model lst`` is the Latent Speech-Text Transformer (speech units grouped into patches).
Both read the same corpus and the same joint token list, so switching is one YAML key.
"""
import argparse
from typing import Callable, Collection, Dict, List, Optional, Tuple

import numpy as np
import torch

from lst.compat import ensure_espnet_importable

ensure_espnet_importable()

from espnet2.tasks.abs_task import AbsTask  # noqa: E402
from espnet2.train.abs_espnet_model import AbsESPnetModel  # noqa: E402
from espnet2.train.class_choices import ClassChoices  # noqa: E402
from espnet2.utils.types import str_or_none  # noqa: E402

from lst.data.batch import SequencePreprocessor, collate_sequences  # noqa: E402
from lst.models.lst_model import LSTModel  # noqa: E402
from lst.models.token_lm import TokenLM  # noqa: E402
from lst.train.config_check import check_model_conf  # noqa: E402
from lst.train.trainer import LSTTrainer  # noqa: E402
from lst.vocab import SpeechTextVocab, read_token_list  # noqa: E402

model_choices = ClassChoices(
    "model",
    classes=dict(token_lm=TokenLM, lst=LSTModel),
    type_check=AbsESPnetModel,
    default="token_lm",
)


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
            help="Cut longer sequences (0: no limit); each cut is logged",
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
        return SequencePreprocessor(cls._token_list(args), max_seq_len=args.max_seq_len)

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
