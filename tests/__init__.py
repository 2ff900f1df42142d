"""The test suite (a package, so pytest puts the repo root, not tests/, on sys.path and
`tui` is this checkout's app rather than tests/tui)."""
