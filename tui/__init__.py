"""The `r8-tui` Textual app (the `r8` command line is the sibling package `cli`)."""
