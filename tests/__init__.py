"""The test suite: a package, so that tests/tui is imported as tests.tui and never shadows tui."""
