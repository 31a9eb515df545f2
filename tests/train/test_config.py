"""rnnkit.train.config: dataclass -> flags -> dataclass, and JSON, refusing what is wrong."""

import argparse
import json
from dataclasses import dataclass
from typing import Literal

import pytest

from rnnkit.train.config import (
    ConfigError,
    TrainConfig,
    add_config_args,
    config_from_args,
    config_from_dict,
    config_to_dict,
    option,
)


@dataclass
class Toy(TrainConfig):
    """A task config with one field of each kind."""

    hidden_size: int = option(8, "units")
    dropout: float = option(0.0, "dropout")
    layer_norm: bool = option(False, "layer norm")
    cell: Literal["lstm", "gru"] = option("lstm", "cell")
    name: str = option("", "a name")
    limit: int | None = option(None, "an optional int")


def parse(argv, cls=Toy):
    parser = argparse.ArgumentParser(exit_on_error=False)
    add_config_args(parser, cls)
    return parser.parse_args(argv)


def test_flags_from_fields():
    args = parse(
        "--hidden-size 32 --dropout 0.5 --layer-norm --cell gru --name x --limit 3 "
        "--max-time 1.5 --no-tensorboard".split()
    )
    cfg = config_from_args(Toy, args)
    assert (cfg.hidden_size, cfg.dropout, cfg.layer_norm, cfg.cell) == (32, 0.5, True, "gru")
    assert (cfg.name, cfg.limit, cfg.max_time, cfg.tensorboard) == ("x", 3, 1.5, False)
    assert config_from_args(Toy, parse(["--limit", "none"])).limit is None
    assert config_from_args(Toy, parse(["--no-layer-norm"])).layer_norm is False


def test_defaults_and_help_text():
    parser = argparse.ArgumentParser()
    add_config_args(parser, Toy)
    text = parser.format_help()
    assert "--hidden-size HIDDEN_SIZE" in text and "units (default: 8)" in text
    assert "--layer-norm, --no-layer-norm" in text
    assert "{lstm,gru}" in text
    assert config_from_args(Toy, parse([])) == Toy()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--hidden-size", "abc"], "expected int, got 'abc'"),
        (["--hidden-size", "1.5"], "expected int, got '1.5'"),
        (["--dropout", "x"], "expected float, got 'x'"),
        (["--cell", "rnn"], "invalid choice"),
    ],
)
def test_ill_typed_flags_are_refused(argv, message):
    with pytest.raises(argparse.ArgumentError, match=message):
        parse(argv)


def test_unknown_flags_are_refused(capsys):
    parser = argparse.ArgumentParser()
    add_config_args(parser, Toy)
    with pytest.raises(SystemExit) as exit_:
        parser.parse_args(["--hiden-size", "3"])
    assert exit_.value.code == 2
    assert "unrecognized arguments: --hiden-size" in capsys.readouterr().err


def test_only_given_flags_override_the_base():
    base = Toy(hidden_size=64, cell="gru")
    cfg = config_from_args(Toy, parse(["--dropout", "0.1"]), base=base)
    assert (cfg.hidden_size, cfg.cell, cfg.dropout) == (64, "gru", 0.1)


def test_json_round_trip():
    cfg = Toy(hidden_size=3, layer_norm=True, limit=4, lr=0.5)
    text = json.dumps(config_to_dict(cfg))
    assert config_from_dict(Toy, json.loads(text)) == cfg


@pytest.mark.parametrize(
    "values, message",
    [
        ({"hiden_size": 3}, "unknown config key"),
        ({"hidden_size": "3"}, "--hidden-size: expected int, got '3'"),
        ({"hidden_size": True}, "--hidden-size: expected int"),
        ({"layer_norm": 1}, "--layer-norm: expected bool"),
        ({"cell": "rnn"}, "--cell: expected one of 'lstm', 'gru'"),
        ({"lr": -1.0}, r"--lr: expected a number > 0, got -1.0"),
        ({"max_steps": 0, "max_time": 0.0}, "no training budget"),
    ],
)
def test_bad_values_are_refused(values, message):
    with pytest.raises(ConfigError, match=message):
        config_from_dict(Toy, values)


def test_int_is_accepted_for_float():
    assert config_from_dict(Toy, {"dropout": 0}).dropout == 0.0
