"""`python -m openr1_data.cli COMMAND ...`: the same as the `openr1-data` console script."""

import sys

from openr1_data.cli import main

sys.exit(main())
