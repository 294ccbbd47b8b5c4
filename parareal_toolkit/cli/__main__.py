"""``python -m parareal_toolkit.cli`` (what ``torchrun -m`` runs): the ``parareal`` command."""

import sys

from . import main

sys.exit(main())
