"""One progress display for every long step (synth, build, header scan, training, generation).

In a terminal it is a rich bar. When output goes to a file or a CI log, a live bar would print
nothing until the end, so the same calls print a plain line at every tenth of the work instead:
someone tailing `make demo > log` still sees how far a 12-minute training run has got.
"""

from __future__ import annotations

import contextlib
import math
import time
from typing import Any, Callable, Iterator

Update = Callable[..., None]


def _format_value(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) and math.isfinite(value) else str(value)


def _format_fields(fields: dict[str, Any]) -> str:
    return "  ".join(f"{name} {_format_value(value)}" for name, value in fields.items())


@contextlib.contextmanager
def progress_bar(description: str, total: int, *, completed: int = 0, enabled: bool = True, stderr: bool = False,
                 transient: bool = False, fields: dict[str, Any] | None = None) -> Iterator[Update]:
    """Yield `update(advance=1, completed=None, **fields)`; a no-op when `enabled` is false.

    `fields` are extra values shown after the count (a running loss, a failure count) and are
    changed by passing them to `update`.
    """
    if not enabled:
        yield lambda *args, **kwargs: None
        return
    from rich.console import Console

    console = Console(stderr=stderr)
    values = dict(fields or {})
    if console.is_terminal:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        columns: list[Any] = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn()]
        columns += [TextColumn(f"{name} {{task.fields[{name}]}}") for name in values]
        columns += [TimeElapsedColumn(), TimeRemainingColumn()]
        with Progress(*columns, console=console, transient=transient) as bar:
            task = bar.add_task(description, total=total, completed=completed, **_shown(values))

            def update(advance: int = 1, completed: int | None = None, **changed: Any) -> None:
                values.update(changed)
                if completed is None:
                    bar.update(task, advance=advance, **_shown(values))
                else:
                    bar.update(task, completed=completed, **_shown(values))

            yield update
        return
    yield _line_updates(console, description, total, completed, values)


def _shown(values: dict[str, Any]) -> dict[str, str]:
    return {name: _format_value(value) for name, value in values.items()}


def _line_updates(console, description: str, total: int, completed: int, values: dict[str, Any]) -> Update:
    """Plain lines at each tenth of `total` (and the last item), for logs that are not terminals."""
    state: dict[str, Any] = {"done": completed, "next": _next_mark(completed, total), "finished": False,
                             "start": time.perf_counter()}

    def update(advance: int = 1, completed: int | None = None, **changed: Any) -> None:
        values.update(changed)
        state["done"] = completed if completed is not None else state["done"] + advance
        if state["finished"] or state["done"] < min(state["next"], total):
            return
        state["finished"] = state["done"] >= total
        state["next"] = _next_mark(state["done"], total)
        elapsed = time.perf_counter() - state["start"]
        extra = _format_fields(values)
        console.print(f"{description} {state['done']}/{total} ({100 * state['done'] // max(1, total)}%)"
                      + (f"  {extra}" if extra else "") + f"  {elapsed:.0f} s", markup=False, highlight=False)

    return update


def _next_mark(done: int, total: int) -> int:
    step = max(1, math.ceil(total / 10))
    return (done // step + 1) * step
