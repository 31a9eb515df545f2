"""rnnkit.train.config: dataclass -> flags -> dataclass, and JSON, refusing what is wrong."""

import argparse
import json
import sys
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
    load_config_file,
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


@pytest.mark.parametrize("name", ["auto", "cpu", "cuda", "cuda:1", "mps"])
def test_device_names(name):
    assert Toy(device=name).device == name


@pytest.mark.parametrize("name", ["gpu", "CPU", "cuda:", "cuda:x", "cuda:0:1", ""])
def test_bad_device_names_are_refused(name):
    with pytest.raises(ConfigError, match=r"--device: expected auto .*, cpu, cuda, cuda:N or mps"):
        Toy(device=name)


# --- config files: a run's config.json, JSON or TOML ---------------------------------------------


def test_config_file_json_toml_and_a_run_directory(tmp_path):
    (tmp_path / "c.toml").write_text('hidden_size = 4\ncell = "gru"\ndropout = 0\n')
    assert load_config_file(tmp_path / "c.toml", Toy) == {
        "hidden_size": 4, "cell": "gru", "dropout": 0.0,
    }  # fmt: skip
    cfg = Toy(hidden_size=3, limit=2, lr=0.5)
    (tmp_path / "config.json").write_text(json.dumps(config_to_dict(cfg)))
    for path in (tmp_path / "config.json", tmp_path):  # the file, or the run directory
        assert config_from_dict(Toy, load_config_file(path, Toy)) == cfg


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("c.json", '{"hiden_size": 3}', "unknown config key(s) hiden_size"),
        ("c.json", '{"hidden_size": "3"}', "--hidden-size: expected int, got '3'"),
        ("c.json", '{"hidden_size": 3,}', "not valid JSON"),
        ("c.json", "[1, 2]", "expected an object of config values"),
        ("c.toml", "hidden_size = ", "not valid TOML"),
        ("c.toml", "[charlm]\nhidden_size = 3", "unknown config key(s) charlm"),
        ("none.json", None, "cannot read it (No such file or directory)"),
    ],
)
def test_bad_config_files_are_refused_naming_the_file(tmp_path, name, text, message):
    if text is not None:
        (tmp_path / name).write_text(text)
    with pytest.raises(ConfigError) as e:
        load_config_file(tmp_path / name, Toy)
    assert str(e.value).startswith(f"--config {tmp_path / name}: ") and message in str(e.value)


def test_toml_without_tomllib_says_what_to_do(tmp_path, monkeypatch):
    (tmp_path / "c.toml").write_text("hidden_size = 4\n")
    monkeypatch.setitem(sys.modules, "tomllib", None)  # as on Python 3.10
    with pytest.raises(ConfigError, match=r"TOML needs Python >= 3.11 .*write the values as JSON"):
        load_config_file(tmp_path / "c.toml", Toy)
