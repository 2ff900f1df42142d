"""The model's layers as a tree grouped by block, with optional value columns coloured by
a metric (headings in the border title, the legend in the border subtitle)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from engine import format as fmt

SHORT_KIND = {
    "BatchNormalization": "BatchNorm",
    "AveragePooling2D": "AvgPool2D",
    "InputLayer": "Input",
}
NAME_WIDTH = 21
KIND_WIDTH = 10
SHAPE_WIDTH = 9
VALUE_WIDTH = 7
"""Width of a metric value column (engine.format.number: 4 significant digits)."""
CHROME = 2 + 1 + 4
"""Tree width beyond the widest label: border, scrollbar, two levels of guides."""
Column = tuple[str, Mapping[str, "float | None"], Callable[[Any], str]]
"""(heading, layer -> value, formatter) of one value column."""


def shape_text(shape: Sequence[int]) -> str:
    return "x".join(str(d) for d in shape) if shape else "-"


def value_cell(value: float | None, fmt_value: Callable[[Any], str]) -> str:
    shown = fmt_value(value) if value is not None else fmt.MISSING
    return f"{shown:>{VALUE_WIDTH}}"


def layer_label(layer: Any, columns: Sequence[Column] = (), colour: str | None = None,
                compact: bool = False) -> Text:
    """Name, kind and shape; with value columns, or ``compact``, the kind (the Keras name
    says it) gives its room to the values and the side pane, so the shape is never cut."""
    if not columns and compact:
        return Text.assemble((f"{layer.name:<{NAME_WIDTH}} ", "bold"),
                             (shape_text(layer.output_shape), "dim"))
    if not columns:
        kind = SHORT_KIND.get(layer.kind, layer.kind)
        return Text.assemble(
            (f"{layer.name:<{NAME_WIDTH}} ", "bold"),
            (f"{kind:<{KIND_WIDTH}} ", "cyan"),
            (shape_text(layer.output_shape), "dim"),
        )
    parts: list[Any] = [("■" if colour else " ", colour or ""),
                        (f"{layer.name:<{NAME_WIDTH}} ", "bold"),
                        (f"{shape_text(layer.output_shape):<{SHAPE_WIDTH}}", "dim")]
    for n, (_, values, f) in enumerate(columns):
        parts.append((value_cell(values.get(layer.name), f), (colour or "") if n == 0 else ""))
    return Text.assemble(*parts)


def header_label(columns: Sequence[Column], compact: bool = False) -> Text:
    """The headings over the value columns (same widths as layer_label's)."""
    if not columns and compact:
        return Text.assemble(("layer".ljust(NAME_WIDTH + 1), "dim"), ("shape NHWC", "dim"))
    if not columns:
        return Text.assemble(("layer".ljust(NAME_WIDTH + 1), "dim"),
                             ("kind".ljust(KIND_WIDTH + 1), "dim"), ("shape NHWC", "dim"))
    return Text.assemble((" " + "layer".ljust(NAME_WIDTH + 1), "dim"),
                         ("shape".ljust(SHAPE_WIDTH), "dim"),
                         *((f"{h:>{VALUE_WIDTH}}", "dim") for h, _, _ in columns))


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

    def show_layers(self, layers: Sequence[Any], columns: Sequence[Column] = (),
                    colours: Mapping[str, str] | None = None, legend: Text | None = None,
                    compact: bool = False) -> None:
        """Show engine LayerInfos (built once, then relabelled in place) with value columns,
        each layer's name cell coloured by ``colours``; the tree widens to fit them."""
        layers = tuple(layers)
        if layers != self._layers:
            self._build_nodes(layers)
        colours = colours or {}
        width = 0
        for block, node in self._blocks.items():
            self._relabel(node, Text(block, "bold magenta"))
        for layer in self._layers:
            label = layer_label(layer, columns, colours.get(layer.name), compact)
            width = max(width, label.cell_len)
            self._relabel(self._layer_nodes[layer.name], label)
        header = header_label(columns, compact)
        self.border_title = header
        self.border_subtitle = legend
        width = max(width, header.cell_len) + CHROME
        if self.styles.width is None or self.styles.width.value != width:
            self.styles.width = width

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
            # the first layer with weights, at once: the first frame shows it selected
            start = next((x for x in layers if x.params), layers[0])
            self.get_node_at_line(0)  # numbers the tree's lines (each node's .line)
            # cursor_line, not move_cursor: no scrolling, the tree is not laid out yet
            self.cursor_line = self._layer_nodes[start.name].line

    @staticmethod
    def _relabel(node: TreeNode[Any], label: Text) -> None:
        """A new label, only when it differs: each one queues a redraw of its line."""
        if node.label != label:
            node.set_label(label)

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
