"""Errors a user can cause. Each message says what is wrong and how to fix it, on one line."""

from __future__ import annotations


class R8Error(Exception):
    """Base class: a user-facing problem with a one-line message naming the fix."""


class AssetNotFoundError(R8Error):
    """The model, data set or an index file could not be found or downloaded."""


class ModelError(R8Error):
    """The model file is missing, unreadable, not Keras, or not the MLPerf Tiny ResNet8."""


class DataError(R8Error):
    """The CIFAR-10 folder or an input array is missing, unreadable or malformed."""


class CacheError(R8Error):
    """The cache directory cannot be used."""


class CacheFullError(CacheError):
    """The disk holding the cache is full."""


class UsageError(R8Error):
    """A bad argument: unknown variant, out-of-range option, malformed spec."""


class FrameworkMissingError(R8Error):
    """An optional framework is not installed."""


class ConversionError(R8Error):
    """A conversion step failed."""


class CancelledError(R8Error):
    """The work was cancelled through its cancel event."""

    def __init__(self, message: str = "cancelled") -> None:
        super().__init__(message)


def require(module: str, pip_name: str | None = None):  # noqa: ANN201 - returns a module
    """Import a heavy framework or raise FrameworkMissingError naming the install command."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise FrameworkMissingError(
            f"{module} is not installed ({exc}); install it with: "
            f"pip install {pip_name or module} (or run `make setup`)"
        ) from None
