"""``python -m rnnkit TASK VERB ...`` (and ``torchrun -m rnnkit ...``): the ``rnnkit`` command."""

import sys

from rnnkit.cli import main

sys.exit(main())
