"""`python -m tui`: the `r8-tui` explorer."""

import sys

from tui.tui_main import main

sys.exit(main())
