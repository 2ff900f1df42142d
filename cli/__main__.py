"""`python -m cli`: the `r8` command line."""

import sys

from cli import main

sys.exit(main())
