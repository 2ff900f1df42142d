"""Command palette: every app action by a namespaced name, e.g. ``export: layer stats as CSV``."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("screen: model", "show the layer tree and the selected layer", "show('model')"),
    ("screen: input", "show the input image and every variant's prediction", "show('input')"),
    ("screen: layers", "activation statistics and the variant comparison", "show('layers')"),
    ("screen: accuracy", "every variant's accuracy, confusion and flips", "show('accuracy')"),
    ("variant: next", "the variant after the current one", "step_variant(1)"),
    ("variant: pick…", "a list of every variant, the current one marked (v)", "pick_variant"),
    ("variant: previous", "the variant before the current one (V)", "step_variant(-1)"),
    ("repair: quantize with settings…", "float layers, bias correction, calibration: a new "
     "int8 variant (R)", "repair"),
    ("repair: run the recommender…", "search the settings that bring int8 within 0.05 "
     "points of float (R, then Recommend)", "repair"),
    ("view: weights / biases / activations", "cycle what the histogram shows (w)",
     "cycle_view"),
    ("view: colour tree by metric", "none, activation std, zeros, SQNR (c)", "cycle_metric"),
    ("input: next", "next test image (n)", "step_input(1)"),
    ("input: previous", "previous test image (p)", "step_input(-1)"),
    ("input: random", "a seeded random input (x)", "random_input"),
    ("input: open…", "type test:INDEX, class:NAME:N or random:SEED (o)", "open_input_prompt"),
    ("layer: find…", "find as you type: Keras, ONNX or PyTorch names (/)", "find_layer"),
    ("layer: next match", "the next layer the find matches (n)", "find_match(1)"),
    ("layer: previous match", "the previous layer the find matches (N)", "find_match(-1)"),
    ("row: copy", "copy the selected row or layer name (y)", "copy"),
    ("row: first", "top of the focused tree or table (g)", "edge(0)"),
    ("row: last", "bottom of the focused tree or table (G)", "edge(1)"),
    ("export: layer stats as CSV", "the statistics table of the Model screen",
     "export('layer-stats')"),
    ("export: predictions as CSV", "the Input screen's table", "export('predictions')"),
    ("export: activation stats as CSV", "the Layers screen's activation table",
     "export('activation-stats')"),
    ("export: comparison as CSV", "the Layers screen's variant comparison",
     "export('comparison')"),
    ("export: variants as CSV", "the Accuracy screen's variants table", "export('variants')"),
    ("export: per-class accuracy as CSV", "per-class table of the selected variant",
     "export('per-class')"),
    ("export: confusion matrix as CSV", "of the selected variant", "export('confusion')"),
    ("export: flipped images as CSV", "of the selected variant", "export('flipped')"),
    ("export: table in view as CSV", "the focused table (e)", "export"),
    ("job: cancel", "stop the running engine work (Escape)", "cancel_jobs"),
    ("job: reload", "retry what the current screen needs (r)", "reload"),
    ("app: help", "every key (?)", "help"),
    ("app: quit", "leave r8-tui (q)", "quit"),
)
"""(name, help, app action)."""


class R8Commands(Provider):
    """Offers COMMANDS; each runs the app action of the same key binding."""

    async def discover(self) -> Hits:
        for name, help_text, action in COMMANDS:
            yield DiscoveryHit(name, partial(self.app.run_action, action), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, action in COMMANDS:
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), partial(self.app.run_action, action),
                          help=help_text)
