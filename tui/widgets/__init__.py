"""Widgets: each renders data it is given and never calls the engine."""
