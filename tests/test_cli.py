"""The `rnnkit` console script: --version, --help, task listing, refusal of unknown input."""

import subprocess
import sys

import pytest

from rnnkit import __version__
from rnnkit.cli import TASKS, main


def test_version_and_help_from_the_installed_script():
    version = subprocess.run(
        [sys.executable, "-m", "rnnkit.cli", "--version"], capture_output=True, text=True
    )
    assert version.returncode == 0
    assert version.stdout.strip() == f"rnnkit {__version__}"
    shown = subprocess.run(
        [sys.executable, "-m", "rnnkit.cli", "--help"], capture_output=True, text=True
    )
    assert shown.returncode == 0
    for task in ("charlm", "forecast", "classify"):
        assert task in shown.stdout


@pytest.mark.parametrize("task", list(TASKS))
def test_each_task_lists_its_verbs(task, capsys):
    assert main([task]) == 0  # a task without a verb prints its help
    assert "train" in capsys.readouterr().out


def test_unknown_task_and_flag_are_refused(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["nosuchtask"])
    assert stop.value.code == 2
    with pytest.raises(SystemExit) as stop:
        main(["charlm", "train", "--no-such-flag"])
    assert stop.value.code == 2
    assert "--no-such-flag" in capsys.readouterr().err
