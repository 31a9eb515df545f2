"""The one training stack: config <-> CLI (config.py), the loop (trainer.py) and its engines
(torch_engine.py, numpy_engine.py), the schedule (schedule.py), training state and checkpoints
(state.py, checkpoint.py), run directories (run.py), metrics and progress (logging.py).

Names are imported on first use, so that ``rnnkit.train.checkpoint`` and ``rnnkit.train.config``
work without torch (the NumPy engine uses them).
"""

import importlib

_EXPORTS = {
    "rnnkit.train.checkpoint": (
        "CheckpointError",
        "load_checkpoint",
        "resolve_checkpoint",
        "save_checkpoint",
        "strip_prefix",
        "with_prefix",
    ),
    "rnnkit.train.config": (
        "ConfigError",
        "TrainConfig",
        "add_config_args",
        "add_train_parser",
        "config_from_args",
        "config_from_dict",
        "config_to_dict",
        "flag_name",
        "flags_given",
        "load_config_file",
        "option",
        "require",
        "train_values",
    ),
    "rnnkit.train.trainer": ("Trainer", "TrainingDiverged"),
    "rnnkit.train.guard": ("DivergenceGuard",),
    "rnnkit.train.torch_engine": ("TorchEngine", "build_optimizer"),
    "rnnkit.train.numpy_engine": ("NumpyEngine",),
    "rnnkit.train.schedule": ("Plateau", "learning_rate"),
    "rnnkit.train.runtime": ("resolve_device", "resolve_threads", "seed_everything"),
    "rnnkit.train.run": (
        "check_output_file",
        "check_run_dir",
        "open_run",
        "run_config",
    ),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_MODULE_OF)


def __getattr__(name: str):
    if name not in _MODULE_OF:
        raise AttributeError(f"module 'rnnkit.train' has no attribute {name!r}")
    return getattr(importlib.import_module(_MODULE_OF[name]), name)
