"""`python -m t5repro <stage> ...`, the same as the `t5repro` console script."""

import sys

from t5repro.cli import main

sys.exit(main())
