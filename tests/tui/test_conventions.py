"""Issue 14, app-wide: tables that never cut numbers, sort, find as you type, a footer per
screen, help, g/G, y, rejected input, Escape and progress, CSV content. Pilot on the real
engine and the real model."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
from textual.notifications import Notification
from textual.widgets import Tree

import engine
from engine import layers, weights
from engine.export import CSV_DIGITS, export_cell, write_csv
from engine.inputs import INPUT_HELP
from engine.types import CLASS_NAMES
from engine.workspace import Workspace
from tests.tui.conftest import (
    built,
    make_app,
    notifications_into,
    screen_text,
    sync,
    wait_idle,
    wait_until,
)
from tui.app import R8App, layer_matches
from tui.commands import R8Commands
from tui.screens.help import HelpScreen
from tui.screens.prompt import PromptScreen
from tui.widgets.job_bar import progress_text
from tui.widgets.table import R8Table, cell_text


def footer_line(app: R8App) -> str:
    return screen_text(app).splitlines()[-1]


def assert_no_cut_numbers(table: R8Table, text: str) -> None:
    """Every shown number appears whole on screen, in a column at least as wide as it."""
    for c, column in enumerate(table.ordered_columns):
        for row in table.values:
            if isinstance(row[c], (int, float)):
                shown = cell_text(row[c], table._formats[c]).plain
                assert column.width >= len(shown), (table.header[c], shown, column.width)
    # the columns in view (a narrow table scrolls sideways) show every number whole
    edge, in_view = 0, 0
    for column in table.ordered_columns:
        edge += column.get_render_width(table)
        in_view += edge <= table.scrollable_content_region.width
    assert in_view >= 3
    for row in table.values[:5]:
        for v, f in zip(row[:in_view], table._formats, strict=False):
            if isinstance(v, float) and math.isfinite(v):
                assert cell_text(v, f).plain in text, cell_text(v, f).plain


# -- §1 tables ------------------------------------------------------------------------------

@sync
async def test_layer_tables_never_cut_numbers_or_names(ws: Workspace) -> None:
    app = make_app(ws)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.model_pane.layer_infos)
        await pilot.press("3")  # its tables fill while the tab appears
        pane = await built(pilot, "layers")
        await wait_until(pilot, lambda: pane.compare_table.values and pane.acts_table.values)
        await wait_idle(pilot)
        text = screen_text(app)
        for table in (pane.acts_table, pane.compare_table):
            assert_no_cut_numbers(table, text)
            names = [r[0] for r in table.values]
            assert max(map(len, names)) <= table.ordered_columns[0].width
        assert "batch_normalization_2" in text
        # one width for every row of a table from the first paint: the right border of the
        # comparison table is in the same column on every row
        lines = [ln for ln in text.splitlines() if "1x32x32x16" in ln and "│" in ln]
        assert len({ln.rindex("│") for ln in lines}) == 1, lines


# -- sort -----------------------------------------------------------------------------------

@sync
async def test_sort_any_table_by_any_column(ws: Workspace) -> None:
    app = make_app(ws)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("3")
        pane = await built(pilot, "layers")
        await wait_until(pilot, lambda: pane.compare_table.values)
        await wait_idle(pilot)
        table = pane.compare_table
        table.focus()
        await pilot.pause()
        assert "s Sort" in footer_line(app)
        original = [r[0] for r in table.values]
        # the first numeric column whose values are not already in order
        sqnr = next(c for c in range(len(table.header))
                    if all(isinstance(r[c], float) for r in table.values)
                    and [r[c] for r in table.values] != sorted(r[c] for r in table.values))
        await pilot.press(*"s" * (sqnr + 1))
        assert table.sort_column == sqnr
        shown = [r[sqnr] for r in table.rows_in_view()]
        assert shown == sorted(shown) and shown != [r[sqnr] for r in table.values]
        assert f"by {table.header[sqnr]} ▲" in str(table.border_subtitle)
        await pilot.press("G")
        assert table.selected_row() == table.rows_in_view()[-1]
        await pilot.press("S")
        assert [r[sqnr] for r in table.rows_in_view()] == sorted(shown, reverse=True)
        # the selection follows its row, and the screen's own order comes back
        picked = table.selected_row()
        await pilot.press(*"s" * (len(table.header) - sqnr))
        assert table.sort_column is None and [r[0] for r in table.rows_in_view()] == original
        assert table.selected_row() == picked
        await pilot.press("g")
        assert table.cursor_row == 0
        await wait_idle(pilot)


# -- find -----------------------------------------------------------------------------------

@sync
async def test_find_as_you_type_over_keras_onnx_and_torch_names(ws: Workspace) -> None:
    infos = layers.layer_map(ws)
    query = "CONV2D_3/biasadd"  # an ONNX node name, in the wrong case
    expected = [x.name for x in infos if any(
        query.lower() in n.lower() for n in (*x.onnx_nodes, *x.torch_modules))]
    assert "conv2d_3" in expected and len(expected) >= 2  # the folded BatchNorm as well
    assert layer_matches(infos, query) == expected
    # a Keras name first: `add` is the three Add layers, not every BiasAdd convolution
    assert layer_matches(infos, "ADD") == ["add", "add_1", "add_2"]
    assert len(layer_matches(infos, "biasadd")) > 3
    app = make_app(ws)
    async with app.run_test(size=(80, 24)) as pilot:
        tree = app.model_pane.layer_tree
        await wait_until(pilot, lambda: app.model_pane.layer_infos)
        await wait_idle(pilot)
        await pilot.press("slash")
        await pilot.press(*query[:6])
        assert app.find_query == "CONV2D"
        await pilot.press(*query[6:])
        await pilot.pause()
        assert app.find_matches == expected
        assert tree.selected_layer.name == expected[0]  # moved as the user typed
        assert f"{len(expected)} of {len(infos)} layers by ONNX/PyTorch name" in screen_text(app)
        await pilot.press("enter")
        await pilot.pause()
        assert app.focused is tree and not app.find_bar.is_open
        assert "n Match" in footer_line(app)
        await pilot.press("n")
        assert tree.selected_layer.name == expected[1]
        await pilot.press("N")
        assert tree.selected_layer.name == expected[0]
        # the Layers screen shows the matching rows only
        await pilot.press("3")
        pane = await built(pilot, "layers")
        await wait_until(pilot, lambda: pane.compare_table.values)
        await wait_idle(pilot)
        shown = [r[0] for r in pane.compare_table.rows_in_view()]
        assert shown and set(shown) <= set(expected)
        assert len(pane.compare_table.values) > len(shown)
        await pilot.press("escape")  # clears the find: every row again, n steps inputs
        await pilot.pause()
        assert app.find_query == "" and len(pane.compare_table.rows_in_view()) == len(
            pane.compare_table.values)
        assert "Match" not in footer_line(app)
        await wait_idle(pilot)


@sync
async def test_find_says_which_matches_a_comparison_leaves_out(ws: Workspace) -> None:
    """`add` on the Layers screen against onnx-int8: ORT fuses the Adds, the table has no row
    for them, and the find says so instead of a bare `0 of 17`."""
    from engine import compare
    from engine import inputs as I

    rep = compare.compare_activations(ws, "keras", "onnx-int8", I.parse_input(ws, "test:0"))
    absent = [n for n in ("add", "add_1", "add_2") if n in rep.skipped]
    assert absent, "the engine compares no Add layer of onnx-int8"
    app = make_app(ws, variants=("keras", "onnx-int8"))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("3")
        pane = await built(pilot, "layers")
        await wait_until(pilot, lambda: pane.compare_table.values)
        await wait_idle(pilot)
        await pilot.press("slash", *"add", "enter")
        await wait_idle(pilot)
        subtitle = str(pane.compare_table.border_subtitle)
        shown = [r[0] for r in pane.compare_table.rows_in_view()]
        assert f"/add: {len(shown)} of {len(pane.compare_table.values)}" in subtitle
        assert f"{len(absent)} more not materialised in both" in subtitle



# -- footer and help ------------------------------------------------------------------------

@sync
async def test_footer_per_screen_shows_only_keys_that_work_there(ws: Workspace) -> None:
    app = make_app(ws, variants=("keras", "onnx"), subset="first:200")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.model_pane.layer_infos)
        await wait_idle(pilot)
        footers: dict[str, str] = {}
        actions: dict[str, set[str]] = {}
        for key, screen in (("1", "model"), ("2", "input"), ("3", "layers"),
                            ("4", "accuracy")):
            await pilot.press(key)
            await wait_idle(pilot)
            footers[screen] = footer_line(app)
            actions[screen] = {a.binding.action for a in app.screen.active_bindings.values()
                               if a.enabled}
            # the screen's own keys first, then ? and q: never cut at 80 columns
            assert "? Help  q Quit" in footers[screen] and "1234" in footers[screen], footers
        assert "w View" in footers["model"] and "c Colour" in footers["model"]
        assert "w View" not in footers["input"] and "npox Input" in footers["input"]
        assert "find_layer" in actions["layers"] and "find_layer" not in actions["input"]
        assert "step_input(1)" in actions["layers"] and "step_input(1)" not in actions[
            "accuracy"]
        assert "Input" not in footers["accuracy"] and "s Sort" in footers["accuracy"]
        # a key that does nothing here does nothing: w on the Accuracy screen
        await pilot.press("w")
        assert app.view == "weights"


@sync
async def test_help_lists_this_screens_keys_first_and_scrolls(ws: Workspace) -> None:
    app = make_app(ws)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2")
        await pilot.pause()
        await pilot.press("question_mark")
        await pilot.pause()
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        assert "Keys on the Input screen" in screen_text(app)
        here = [b.description for b in help_screen.here]
        assert "Next input" in here and "Random input" in here and "View" not in here
        assert "View" in [b.description for b in help_screen.others]
        assert "Next input" in screen_text(app)  # on the first page
        # the screen's own keys first, then the app's keys of some screens, then the rest
        assert here.index("Pin") < here.index("Next input") < here.index("Variant")
        box = help_screen.box
        assert box.outer_size.width <= 80 and box.outer_size.height <= 24
        assert box.max_scroll_y > 0, "at 80x24 help is longer than the screen"
        await pilot.press("j", "j")
        assert box.scroll_y == 2
        await pilot.press("k")
        assert box.scroll_y == 1
        await pilot.press("G")
        assert box.scroll_y == box.max_scroll_y
        assert "Ctrl+P" in screen_text(app)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await wait_idle(pilot)


# -- g/G and y ------------------------------------------------------------------------------

@sync
async def test_top_bottom_and_copy(ws: Workspace) -> None:
    app = make_app(ws)
    notes: list[Notification] = []
    async with app.run_test(size=(100, 30), notifications=True,
                            message_hook=notifications_into(notes)) as pilot:
        tree = app.model_pane.layer_tree
        await wait_until(pilot, lambda: app.model_pane.layer_infos)
        await wait_idle(pilot)
        assert isinstance(app.focused, Tree)
        await pilot.press("G")
        await pilot.pause()
        assert tree.selected_layer.name == tree.layer_names[-1]
        await pilot.press("y")
        assert app.clipboard == tree.layer_names[-1]
        assert notes[-1].message == f"copied: {tree.layer_names[-1]}"
        await pilot.press("g")
        assert tree.cursor_line == 0
        await pilot.press("3")
        pane = await built(pilot, "layers")
        await wait_until(pilot, lambda: pane.compare_table.values)
        await wait_idle(pilot)
        pane.compare_table.focus()
        await pilot.press("j", "y")
        row = pane.compare_table.values[1]
        assert app.clipboard == "\t".join(str(export_cell(v)) for v in row)
        assert app.clipboard.startswith(row[0] + "\t")


# -- §4 rejected input ----------------------------------------------------------------------

@sync
async def test_rejected_input_leaves_the_state_as_it_was(ws: Workspace) -> None:
    app = make_app(ws)
    notes: list[Notification] = []
    async with app.run_test(size=(100, 30), notifications=True,
                            message_hook=notifications_into(notes)) as pilot:
        await pilot.press("2")
        pane = await built(pilot, "input")
        await wait_until(pilot, lambda: pane.shown is not None)
        await wait_idle(pilot)
        before_label = str(pane.label.render())
        for bad in ("test:99999", "class:kitten:1"):
            await pilot.press("o")
            assert isinstance(app.screen, PromptScreen)
            app.screen.query_one("#prompt-input").value = bad
            await pilot.press("enter")
            await wait_idle(pilot)
            assert app.input_text == "test:0"
            assert "input test:0" in screen_text(app).splitlines()[0]
            assert str(pane.label.render()) == before_label and "loading" not in before_label
            assert pane.query_one(".pane-message").display is False  # no banner as well
        errors = [n for n in notes if n.severity == "error"]
        assert len(errors) == 2 and "99999" in errors[0].message
        assert "kitten" in errors[1].message
        await pilot.press("n")  # steps from the input shown, not from the rejected one
        await wait_until(pilot, lambda: app.input_text == "test:1")
        await wait_idle(pilot)


# -- §5 progress, §7 keys and palette, §9 cut text -----------------------------------------

def test_progress_shows_a_percentage_when_the_total_is_known() -> None:
    assert progress_text(499, 1996, "images") == "images 499/1996 25 %"
    assert progress_text(0, 0, "converting") == "converting"


@pytest.mark.slow
@sync
async def test_job_bar_percentage_and_cancelled_banner_goes_on_retry(ws: Workspace) -> None:
    seed = __import__("time").time_ns() % 1_000_000_000  # a subset nothing has cached
    app = make_app(ws, variants=("keras", "onnx"), subset=f"stratified:1000:{seed}")
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: app.model_pane.layer_infos)
        await wait_idle(pilot)
        await pilot.press("4")
        pane = await built(pilot, "accuracy")
        app.cancel_jobs(by_user=True)
        await wait_idle(pilot)
        banner = pane.query_one(".pane-message")
        assert pane.report is None
        assert banner.display and "press r to retry" in str(banner.render())
        await pilot.press("r")
        assert banner.display is False, "the Cancelled banner goes when the retry starts"
        app.job_bar.show_jobs(["evaluating"])
        app.job_bar.show_progress(150, 300, "images")
        await pilot.pause()
        line = str(app.job_bar.render())
        assert "images 150/300 50 %" in line and "evaluating" in line
        assert "━" * 10 + "─" * 10 in line  # half the bar
        await wait_until(pilot, lambda: pane.report is not None)
        await wait_idle(pilot)


def test_l_is_bound_once_and_the_palette_has_one_quit_and_no_maximize() -> None:
    app_keys = [k.strip() for b in R8App.BINDINGS for k in b.key.split(",")]
    assert "l" not in app_keys  # l expands a tree node; the Layers screen is 3
    assert R8App.COMMANDS == {R8Commands}
    from tui.commands import COMMANDS
    names = [name.lower() for name, _, _ in COMMANDS]
    assert sum("quit" in n for n in names) == 1
    assert not any("maximize" in n for n in names)


@sync
async def test_cut_text_ends_with_a_marker_or_wraps(ws: Workspace) -> None:
    app = make_app(ws)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.model_pane.layer_infos)
        await wait_idle(pilot)
        app.model_pane.layer_tree.select_layer("batch_normalization_3")
        await pilot.pause()
        info = screen_text(app)
        note = next(x.notes for x in app.model_pane.layer_infos
                    if x.name == "batch_normalization_3")
        assert note
        line = next(ln for ln in info.splitlines() if note[:12] in ln)
        assert note in line or line.rstrip(" │").endswith("…"), line
        await pilot.press("2", "o")
        await pilot.pause()
        text = screen_text(app)
        for word in INPUT_HELP.split():  # the hint wraps: every word of it is on screen
            assert word in text, word
        await pilot.press("escape")


# -- CSV ------------------------------------------------------------------------------------

def test_export_cell_rounds_at_six_significant_digits(tmp_path: Path) -> None:
    assert export_cell(-0.10000000000000009) == "-0.1"
    assert export_cell(float("nan")) == "" and export_cell(None) == ""
    assert export_cell(float("inf")) == "inf" and export_cell(7) == 7
    path = write_csv(tmp_path / "t.csv", ["a"], [[1 / 3]], meta={"variant": "onnx"})
    assert path.read_text().splitlines() == ["# r8 variant=onnx", "a", "0.333333"]
    assert CSV_DIGITS == 6


def read_export(path: Path) -> tuple[str, list[list[str]]]:
    lines = path.read_text().splitlines()
    return lines[0], list(csv.reader(lines[1:]))


async def export_to(pilot, app: R8App, target: Path, name: str = "") -> None:
    await app.run_action(f"export('{name}')" if name else "export")
    await pilot.pause()
    app.screen.query_one("#prompt-input").value = str(target)
    await pilot.press("enter")
    await pilot.pause()
    assert target.exists()


@sync
async def test_csv_export_holds_numbers_names_and_what_they_were_computed_on(
        ws: Workspace, tmp_path: Path) -> None:
    reports = {r.param: r for r in weights.weight_reports(ws, "keras") if r.layer == "conv2d_3"}
    app = make_app(ws, variants=("keras", "onnx"), subset="first:200")
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: app.model_pane.layer_infos)
        await wait_idle(pilot)
        app.model_pane.layer_tree.select_layer("conv2d_3")
        await pilot.pause()
        await export_to(pilot, app, tmp_path / "stats.csv", "layer-stats")
        meta, rows = read_export(tmp_path / "stats.csv")
        assert meta.startswith("# r8 ")
        for part in ("table=layer-stats", "variant=keras", "input=test:0", "subset=first:200",
                     f"model_sha256={ws.model_sha}", f"r8={engine.__version__}"):
            assert part in meta, part
        assert rows[0] == ["layer", "stat", "kernel"]
        by_stat = {r[1]: r for r in rows[1:]}
        assert all(r[0] == "conv2d_3" for r in rows[1:])
        for stat in ("mean", "std", "min", "p99"):
            value = float(getattr(reports["kernel"].stats, stat))
            assert by_stat[stat][2] == f"{value:.6g}"
        assert int(by_stat["count"][2]) == reports["kernel"].stats.count

        await pilot.press("4")
        pane = await built(pilot, "accuracy")
        await wait_until(pilot, lambda: pane.report is not None)
        await wait_idle(pilot)
        await export_to(pilot, app, tmp_path / "confusion.csv", "confusion")
        _, rows = read_export(tmp_path / "confusion.csv")
        assert rows[0] == ["true", *CLASS_NAMES]
        await export_to(pilot, app, tmp_path / "per-class.csv", "per-class")
        _, rows = read_export(tmp_path / "per-class.csv")
        assert "bar" not in rows[0] and rows[0][:2] == ["class", "accuracy"]
        shown = pane.report.reports[pane.report.rows[pane.variants_table.source_row(
            pane.variants_table.cursor_row)].variant]
        for i, r in enumerate(rows[1:]):
            assert r[0] == CLASS_NAMES[i]
            assert r[1] == f"{shown.per_class_accuracy[i]:.6g}"
            assert not any(ch in "".join(r) for ch in "█·")


@sync
async def test_after_escape_no_old_rows_stay_under_the_new_title(ws: Workspace) -> None:
    app = make_app(ws)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("3")
        pane = await built(pilot, "layers")
        await wait_until(pilot, lambda: pane.acts_table.values)
        await wait_idle(pilot)
        assert pane.acts_table.values and "test:0" in str(pane.acts_table.border_title)
        seed = __import__("time").time_ns() % 1_000_000  # a batch nothing has cached
        batch = f"batch:test:{seed % 5000}-{seed % 5000 + 1999}"
        app.open_input(batch, switch=False)
        await wait_until(pilot, lambda: app.input_text == batch)
        await pilot.press("escape")
        await wait_idle(pilot)
        assert app.session.known_activations(app.variant, batch) is None  # cancelled
        assert batch in str(pane.acts_table.border_title)
        assert pane.acts_table.values == [], "no one-image rows under the batch's title"
        assert "press r to retry" in str(pane.query_one(".pane-message").render())


@sync
async def test_a_click_on_a_footer_key_presses_it(ws: Workspace) -> None:
    from tui.widgets.footer import R8Footer

    app = make_app(ws)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.model_pane.layer_infos)
        await wait_idle(pilot)
        footer = app.query_one(R8Footer)
        x = next(x0 for x0, _, key, _ in footer._spans if key == "c")
        before = app.model_pane.metric_index
        await pilot.click(R8Footer, offset=(x + 2, 0))  # on "Colour"
        await pilot.pause()
        assert app.model_pane.metric_index == before + 1
        x = next(x0 for x0, _, key, _ in footer._spans if key == "2")  # a group's own key
        await pilot.click(R8Footer, offset=(x, 0))
        await wait_until(pilot, lambda: app.tabs.active == "input")
        await wait_idle(pilot)


@sync
async def test_a_narrow_side_table_cuts_names_not_numbers() -> None:
    from textual.app import App, ComposeResult

    from tui.widgets.side_table import SideTable

    class Narrow(App[None]):
        CSS = "SideTable { width: 50%; height: 10; }"

        def compose(self) -> ComposeResult:
            yield SideTable("t")

    app = Narrow()
    async with app.run_test(size=(60, 12)) as pilot:
        table = app.query_one(SideTable)
        await pilot.pause()
        table.load(["stat", "kernel"], [["noise floor (pts) of sensitivity", 2304],
                                         ["mean", -0.006547]])
        await pilot.pause()
        room = table.scrollable_content_region.width
        assert sum(c.get_render_width(table) for c in table.ordered_columns) <= room
        text = screen_text(app)
        assert "2304" in text and "-0.006547" in text  # whole numbers in view
        assert "noise floor" in text and "…" in text  # the name gave up the room
        await pilot.resize_terminal(140, 12)  # a wider pane: the name whole again
        await pilot.pause()
        assert "noise floor (pts) of sensitivity" in screen_text(app)
