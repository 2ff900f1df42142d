"""The model's layers as a tree grouped by block, with an optional coloured metric cell."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

SHORT_KIND = {
    "BatchNormalization": "BatchNorm",
    "AveragePooling2D": "AvgPool2D",
    "InputLayer": "Input",
}
NAME_WIDTH = 21
KIND_WIDTH = 10
METRIC_COLOURS = ("green", "yellow", "dark_orange", "red")
"""Metric cell colours from the lowest to the highest quarter of the range."""


def shape_text(shape: Sequence[int]) -> str:
    return "x".join(str(d) for d in shape) if shape else "-"


def metric_cell(value: float | None, lo: float, hi: float) -> Text:
    if value is None or not math.isfinite(value):
        return Text("   -   ", style="dim")
    frac = 0.0 if hi <= lo else (value - lo) / (hi - lo)
    colour = METRIC_COLOURS[min(len(METRIC_COLOURS) - 1, int(frac * len(METRIC_COLOURS)))]
    return Text.assemble(("■", colour), f"{value:>6.3g}")


def layer_label(layer: Any, metric: Text | None = None) -> Text:
    kind = SHORT_KIND.get(layer.kind, layer.kind)
    label = Text.assemble(
        (f"{layer.name:<{NAME_WIDTH}} ", "bold"),
        (f"{kind:<{KIND_WIDTH}} ", "cyan"),
        (shape_text(layer.output_shape), "dim"),
    )
    if metric is not None:
        label = Text.assemble(metric, " ", label)
    return label


class LayerTree(Tree[Any]):
    """Root -> blocks -> layers; each layer node's data is its engine LayerInfo."""

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
        Binding("h", "collapse", "Collapse", show=False),
        Binding("l", "expand", "Expand", show=False),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("ResNet8", **kwargs)
        self.show_root = False
        self.guide_depth = 2
        self._layer_nodes: dict[str, TreeNode[Any]] = {}
        self._blocks: dict[str, TreeNode[Any]] = {}
        self._layers: tuple[Any, ...] = ()

    def show_layers(self, layers: Sequence[Any], metric: Mapping[str, float] | None = None,
                    metric_name: str = "") -> None:
        """Show engine LayerInfos (built once, then relabelled in place)."""
        layers = tuple(layers)
        if layers != self._layers:
            self._build_nodes(layers)
        values = [v for v in (metric or {}).values() if v is not None and math.isfinite(v)]
        lo, hi = (min(values), max(values)) if values else (0.0, 0.0)
        for block, node in self._blocks.items():
            node.set_label(Text.assemble((block, "bold magenta"),
                                         (f"  {metric_name}" if metric_name else "", "dim")))
        for layer in self._layers:
            cell = metric_cell((metric or {}).get(layer.name), lo, hi) if metric is not None \
                else None
            self._layer_nodes[layer.name].set_label(layer_label(layer, cell))

    def _build_nodes(self, layers: tuple[Any, ...]) -> None:
        self._layers = layers
        self.clear()
        self._layer_nodes = {}
        self._blocks = {}
        for layer in layers:
            if layer.block not in self._blocks:
                self._blocks[layer.block] = self.root.add(layer.block, data=None, expand=True)
            self._layer_nodes[layer.name] = self._blocks[layer.block].add_leaf(layer.name, data=layer)
        self.root.expand()
        if layers:
            start = next((x for x in layers if x.params), layers[0])
            self.call_after_refresh(self.move_cursor, self._layer_nodes[start.name])

    @property
    def layer_names(self) -> list[str]:
        return [layer.name for layer in self._layers]

    @property
    def selected_layer(self) -> Any | None:
        node = self.cursor_node
        return node.data if node is not None else None

    def select_layer(self, name: str) -> None:
        node = self._layer_nodes.get(name)
        if node is None:
            return
        if node.parent is not None and not node.parent.is_expanded:
            node.parent.expand()
            self.call_after_refresh(self.move_cursor, node)
            return
        self.move_cursor(node)

    def action_collapse(self) -> None:
        node = self.cursor_node
        if node is None:
            return
        target = node if node.children and node.is_expanded else node.parent
        if target is not None and target is not self.root:
            target.collapse()
            self.move_cursor(target)

    def action_expand(self) -> None:
        node = self.cursor_node
        if node is not None and node.children:
            node.expand()
