"""Layer settings written into a variant's name, so several settings of one int8 variant
can stand side by side in one command (`r8 report --variant
torch-int8,torch-int8@bias-correction,torch-int8@float=average_pooling2d+conv2d_1`).

Each ``@PART`` after an int8 variant's name is ``bias-correction`` or ``float=L1+L2`` (the
units `--float-layers` takes, joined by ``+`` since commas separate variants); parts
combine (``torch-int8@float=dense@bias-correction``). ``@recommended`` (engine.recommend)
stands alone. The edge registers such a name once the workspace is open (`register`): a
QuantizedVariant built as its recipe with the command line's other quantization settings
(calibration, method, ...) and these layer settings instead of `--float-layers` /
`--bias-correction`. Settings are part of the variant's identity, hence of every cache key.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from engine import float_layers as FL
from engine import variants as V
from engine.errors import UsageError
from engine.layers import layer_map
from engine.types import QuantSettings
from engine.workspace import Workspace

BIAS = "bias-correction"
FLOAT = "float="
HELP = ("VARIANT@bias-correction, VARIANT@float=L1+L2, or both "
        "(e.g. torch-int8@float=dense@bias-correction)")


def is_named(name: str) -> bool:
    """Whether ``name`` carries layer settings (not ``@recommended``)."""
    base, sep, rest = name.partition("@")
    return bool(sep) and not name.endswith(V.RECOMMENDED)


def parse(name: str) -> tuple[str, dict[str, Any]]:
    """``VARIANT@PART...`` -> (VARIANT, {"float_layers": "L1,L2", "bias_correction": bool});
    a UsageError naming the accepted forms when a part is not one of them."""
    base, *parts = name.split("@")
    if base not in V.QUANT_VARIANTS:
        raise UsageError(f"layer settings in {name!r} need an int8 variant; use "
                         f"{' or '.join(V.QUANT_VARIANTS)} before the @")
    floats: list[str] = []
    bias = False
    for part in parts:
        if part == BIAS and not bias:
            bias = True
        elif part.startswith(FLOAT) and not floats and part[len(FLOAT):]:
            floats = [x for x in part[len(FLOAT):].split("+") if x]
        else:
            raise UsageError(f"cannot read {'@' + part!r} in {name!r}; write {HELP}")
    return base, {"float_layers": ",".join(floats), "bias_correction": bias}


def register(ws: Workspace, name: str, opts: V.VariantOptions) -> V.Variant:
    """Register ``name`` (see the module doc) as an int8 variant with its own layer settings,
    checked against the model (an unknown layer lists the valid ones)."""
    base, layer = parse(name)
    FL.check_names(layer_map(ws, opts.opset), FL.parse_names(layer["float_layers"]),
                   f"@float= in {name!r}")
    built = V.get(base)
    assert isinstance(built, V.QuantizedVariant)
    quant = QuantSettings.parse({**opts.quant.to_mapping(), **layer}, opts.quant.cpu)
    return V.register(replace(built, name=name, recipe=base, quant=quant), replace=True)
