"""Training reliability: crash-safe checkpoints and resume (``LSTTrainer``), config checks."""
from lst.train.config_check import ConfigError, check_model_conf
from lst.train.trainer import LSTTrainer, atomic_torch_save, checkpoint_problem

__all__ = ["ConfigError", "LSTTrainer", "atomic_torch_save", "check_model_conf", "checkpoint_problem"]
