"""Quantization settings written into a variant's name: the one place that writes such names
(`format`) and reads them (`parse`, `register`), for the command line (`r8 --variant`,
`r8-tui --variants`) and the TUI's repair dialog alike, so a variant made in the TUI can be
typed on the command line and several settings of one int8 variant stand side by side
(`r8 report --variant torch-int8,torch-int8@bias-correction,torch-int8@float=add+conv2d_1`).

A name is an int8 recipe (onnx-int8, onnx-uint8, torch-int8), then ``@PART``s, each a setting
that differs from the command's own quantization flags (``--calib`` ...), in any order, each
at most once; `format` writes them in the order below. Comma-free: commas separate variants.

==========================  =================================================================
``@float=L1+L2``            these units kept float (`--float-layers L1,L2`); ``@float=none``:
                            none, where the command's flags keep some float
``@bias-correction``        empirical bias correction on (`--bias-correction`);
``@no-bias-correction``     off
``@calib=SPEC``             calibration set ``train:N``, ``random:N`` or ``mlperf`` (`--calib`)
``@seed=N``                 seed of the calibration draw (`--calib-seed`)
``@method=M``               calibration method: minmax, entropy, percentile (onnx), histogram
                            (torch) (`--calib-method`)
``@per-tensor``             one weight scale per tensor (`--per-tensor`); ``@per-channel``
``@full-range``             8-bit activations (`--no-reduce-range`); ``@reduce-range``: 7-bit
==========================  =================================================================

``@recommended`` (engine.recommend) stands alone. The edge registers a name once the
workspace is open (`register`): a QuantizedVariant built as its recipe with these settings
over the command's; the settings are part of the variant's identity, hence of every cache key.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from engine import variants as V
from engine.errors import UsageError
from engine.types import QuantSettings
from engine.workspace import Workspace

FLOAT = "float"
BIAS, NO_BIAS = "bias-correction", "no-bias-correction"
CALIB, SEED, METHOD = "calib", "seed", "method"
PER_TENSOR, PER_CHANNEL = "per-tensor", "per-channel"
FULL_RANGE, REDUCE_RANGE = "full-range", "reduce-range"
NONE = "none"
"""``@float=none``: no unit kept float."""

FLAGS: dict[str, tuple[str, bool]] = {
    BIAS: ("bias_correction", True), NO_BIAS: ("bias_correction", False),
    PER_TENSOR: ("per_channel", False), PER_CHANNEL: ("per_channel", True),
    FULL_RANGE: ("reduce_range", False), REDUCE_RANGE: ("reduce_range", True),
}
"""Parts without a value: the setting each one sets, and to what."""
VALUES = {FLOAT: "float_layers", CALIB: "calib", SEED: "calib_seed", METHOD: "method"}
"""Parts ``NAME=VALUE``: the setting each one sets."""
HELP = ("VARIANT@PART..., each PART one of float=L1+L2, float=none, bias-correction, "
        "no-bias-correction, calib=train:N, seed=N, method=M, per-tensor, per-channel, "
        "full-range, reduce-range (e.g. torch-int8@float=dense@bias-correction)")


def is_named(name: str) -> bool:
    """Whether ``name`` carries settings (not ``@recommended``)."""
    _, sep, _ = name.partition("@")
    return bool(sep) and not name.endswith(V.RECOMMENDED)


def format(recipe: str, quant: QuantSettings, base: QuantSettings | None = None) -> str:
    """The name of int8 variant ``recipe`` built with ``quant``: the recipe, then each setting
    that differs from ``base`` (the command's settings; default: r8's) as the module doc
    writes it; the recipe itself when nothing differs. Settings are compared as ``recipe``
    resolves them (engine.quantize.settings), so a method equal to the backend's default or a
    reduce_range equal to the automatic choice is no change, and one model has one name."""
    from engine import quantize

    if recipe not in V.QUANT_VARIANTS:
        raise UsageError(f"{recipe!r} is not an int8 recipe; use one of "
                         f"{', '.join(V.QUANT_VARIANTS)}")
    mine, theirs = quantize.settings(recipe, quant), quantize.settings(recipe, base or QuantSettings())
    parts = []
    if mine.float_layers != theirs.float_layers:
        parts.append(f"{FLOAT}={'+'.join(mine.float_layers) or NONE}")
    if mine.bias_correction != theirs.bias_correction:
        parts.append(BIAS if mine.bias_correction else NO_BIAS)
    if mine.calib != theirs.calib:
        parts.append(f"{CALIB}={mine.calib}")
    if mine.calib_seed != theirs.calib_seed:
        parts.append(f"{SEED}={mine.calib_seed}")
    if mine.method != theirs.method:
        parts.append(f"{METHOD}={mine.method}")
    if mine.per_channel != theirs.per_channel:
        parts.append(PER_CHANNEL if mine.per_channel else PER_TENSOR)
    if mine.reduce_range != theirs.reduce_range:
        parts.append(REDUCE_RANGE if mine.reduce_range else FULL_RANGE)
    return "@".join([recipe, *parts])


def parts(name: str) -> tuple[str, dict[str, Any]]:
    """``VARIANT@PART...`` -> (VARIANT, the settings its parts set, as QuantSettings.parse
    reads them); a UsageError naming the accepted forms for a part that is not one of them
    or a setting given twice."""
    recipe, *rest = name.split("@")
    if recipe not in V.QUANT_VARIANTS:
        raise UsageError(f"settings in {name!r} need an int8 variant; use "
                         f"{' or '.join(V.QUANT_VARIANTS)} before the @")
    found: dict[str, Any] = {}
    for part in rest:
        key, eq, value = part.partition("=")
        if part in FLAGS:
            setting, flag = FLAGS[part]
        elif eq and key in VALUES and value:
            setting = VALUES[key]
            flag = _value(setting, value, name)
        else:
            raise UsageError(f"cannot read {'@' + part!r} in {name!r}; write {HELP}")
        if setting in found:
            raise UsageError(f"{'@' + part!r} in {name!r} sets {setting} a second time; "
                             f"give each setting once")
        found[setting] = flag
    return recipe, found


def _value(setting: str, value: str, name: str) -> Any:
    if setting == "float_layers":
        return () if value == NONE else tuple(x for x in value.split("+") if x)
    if setting == "calib_seed" and not value.isdigit():
        raise UsageError(f"seed {value!r} in {name!r} is not a whole number; write @seed=N")
    return value


def parse(name: str, base: QuantSettings | None = None) -> tuple[str, QuantSettings]:
    """``VARIANT@PART...`` -> (VARIANT, ``base`` with the parts' settings), checked (a bad
    calibration spec or a method the recipe lacks is a UsageError naming the fix); the
    inverse of `format`: ``parse(format(r, q, base), base)`` builds the model ``q`` builds."""
    from engine import quantize

    base = base or QuantSettings()
    recipe, found = parts(name)
    quant = QuantSettings.parse({**base.to_mapping(), **found}, base.cpu)
    quantize.settings(recipe, quant)  # refuses a method of the other backend
    return recipe, quant


def register_settings(recipe: str, quant: QuantSettings, name: str | None = None,
                      base: QuantSettings | None = None) -> V.Variant:
    """Register int8 variant ``recipe`` built with ``quant`` under ``name`` (default: the
    name `format` writes against ``base``); the built-in variant itself when that name is the
    recipe. Registering again replaces, so the CLI and the TUI agree on one variant per name."""
    built = V.get(recipe)
    assert isinstance(built, V.QuantizedVariant) and not built.recipe
    name = name or format(recipe, quant, base)
    if name == recipe:
        return built
    return V.register(replace(built, name=name, recipe=recipe, quant=quant), replace=True)


def register(ws: Workspace, name: str, opts: V.VariantOptions) -> V.Variant:
    """Register ``name`` (see the module doc) as an int8 variant with its settings over
    ``opts.quant``, its float layers checked against the model (an unknown layer lists the
    valid ones)."""
    from engine import float_layers as FL
    from engine.layers import layer_map

    recipe, quant = parse(name, opts.quant)
    FL.check_names(layer_map(ws, opts.opset), quant.float_layers, f"@float= in {name!r}")
    return register_settings(recipe, quant, name)
