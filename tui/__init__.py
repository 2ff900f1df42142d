"""r8 user interfaces: the `r8` command line (tui.cli) and the `r8-tui` Textual app."""
