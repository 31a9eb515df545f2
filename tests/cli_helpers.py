"""Helpers the task tests share (on sys.path through pytest's ``pythonpath``)."""

from rnnkit.cli import main

# a small corpus and a tiny, fast charlm configuration
TEXT = "".join(
    f"{w} " for _ in range(60) for w in "the quick brown fox jumps over a lazy dog".split()
)
CHARLM_TINY = (
    "--hidden-size 16 --embedding-size 8 --batch-size 4 --seq-length 16 --max-steps 12 "
    "--max-time 0 --eval-every 5 --log-every 1 --sample-every 6 --sample-length 20 "
    "--warmup-steps 2 --no-tensorboard"
).split()


def fails(argv, capsys, message):
    """Assert that ``rnnkit ARGV`` exits 2 with ``message`` on one line of stderr; return it."""
    try:
        code = main(argv)
    except SystemExit as e:  # argparse exits by itself on a bad flag
        code = e.code
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    return err
