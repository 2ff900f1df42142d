"""Keys typed ahead of the focus: held until the widget they were meant for can take them.

Textual moves focus a few messages after it is asked to (``Widget.focus`` is a ``call_later``),
and a pushed screen mounts its widgets after it is on the stack. Keys that arrive in between
(typed quickly, sent in one read over SSH, or pasted) went to whatever had focus before: ``o``
then ``test:5`` Enter opened the input prompt with ``est:5`` (the ``t`` went to the Model
screen), ``/add`` showed the Accuracy screen (``a``) instead of finding ``add``.

Textual also hands each key to the focused widget and runs its binding only when the key
comes back up to the app, so the keys of a burst are all on their way to the old focus before
the first one's binding runs. So the app looks up, as a key arrives, whether its binding moves
focus (``R8App.moves_focus``: it opens a prompt, a picker, help or the find bar, shows another
screen, or closes one of those): then ``expect_soon``, and the keys after it are held until
what it opens names itself (``expect_focus_in``) and focus is inside it, or until focus has
left what it closes; they are then replayed one at a time, in order, as if they had come then
(a replayed Enter that closes the find bar holds the rest again). Nothing is held longer than
``HOLD_S``: a dialog that never takes focus gets its keys late, not lost.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from textual import events
from textual.dom import DOMNode
from textual.widget import Widget

HOLD_S = 1.0
"""The longest a key is held (focus lands within milliseconds, a screen built on first show
within a few hundred; this only bounds a mistake)."""
SOON = DOMNode()
"""What keys are held for between a key whose binding moves focus and that binding."""


class TypeAhead:
    """Keys held for ``where`` (a screen or widget) until focus is inside it."""

    def __init__(self, focused: Callable[[], Widget | None],
                 send: Callable[[events.Key], Awaitable[None]]) -> None:
        self._focused = focused
        self._send = send
        self._where: DOMNode | None = None
        self._until = 0.0
        self._trigger: events.Key | None = None
        self._leaving: Widget | None = None
        self._held: list[events.Key] = []

    @property
    def waiting(self) -> bool:
        return self._where is not None

    def expect_soon(self, trigger: events.Key, leaving: Widget | None = None) -> None:
        """``trigger`` has just been sent on, and its binding will move focus: to what it
        opens (which names itself with ``expect_focus_in``; if nothing does by the time the
        binding has run, nothing is held), or, with ``leaving`` (Enter or Escape in an input),
        anywhere away from ``leaving``."""
        self.expect_focus_in(SOON)
        self._trigger, self._leaving = trigger, leaving

    def expect_focus_in(self, where: DOMNode) -> None:
        """The keys that come next are for ``where``, which is about to take focus."""
        self._where, self._until = where, time.monotonic() + HOLD_S
        self._trigger = self._leaving = None

    def binding_ran(self, event: events.Key) -> None:
        """``event`` came back up to the app and its binding has run: if it was the trigger
        and named nothing to wait for, the held keys go on."""
        if self._where is SOON and event is self._trigger and self._leaving is None:
            self._until = 0.0

    def _arrived(self) -> bool:
        focused, where = self._focused(), self._where
        if time.monotonic() > self._until:
            return True
        if focused is None or where is None:
            return False
        if where is SOON:
            return self._leaving is not None and focused is not self._leaving
        return focused is where or where in focused.ancestors

    async def hold(self, event: events.Key) -> bool:
        """True if ``event`` is held (focus is still on its way); else the held keys have
        been sent first and the caller sends ``event`` as usual."""
        if self._where is None:
            return False
        if not self._arrived():
            self._held.append(event)
            return True
        await self.release()
        return False

    async def check(self) -> None:
        """Send the held keys once focus has arrived (called on a short timer)."""
        if self._where is not None and self._arrived():
            await self.release()

    async def release(self) -> None:
        """Send the held keys in order; if one of them moves focus again (Enter in the find
        bar just opened), the rest wait for that in turn."""
        held, self._held, self._where = self._held, [], None
        self._trigger = self._leaving = None
        while held:
            await self._send(held.pop(0))
            if self._where is not None:
                self._held = held + self._held
                return
