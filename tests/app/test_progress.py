"""The shared progress display: a rich bar in a terminal, plain lines at each tenth in a log."""

from vipet.progress import progress_bar


def test_log_output_is_a_line_per_tenth_and_one_at_the_end(monkeypatch, capsys):
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.setenv("TTY_COMPATIBLE", "0")
    with progress_bar("train", 25, fields={"loss": float("nan")}) as update:
        for step in range(1, 28):  # two calls past the total print nothing more
            update(loss=1.0 / step)
    lines = capsys.readouterr().out.splitlines()
    # ceil(25 / 10) = 3 items per line: 3, 6, ..., 24, then the total.
    assert [line.split()[1] for line in lines] == [f"{n}/25" for n in (3, 6, 9, 12, 15, 18, 21, 24, 25)]
    assert lines[0].startswith("train 3/25 (12%)  loss 0.3333")
    assert lines[-1].startswith("train 25/25 (100%)  loss 0.0400")


def test_resumed_count_and_absolute_updates(monkeypatch, capsys):
    monkeypatch.setenv("TTY_COMPATIBLE", "0")
    with progress_bar("synth", 4, completed=2) as update:
        update(completed=3)
        update(completed=4)
    assert [line.split()[1] for line in capsys.readouterr().out.splitlines()] == ["3/4", "4/4"]


def test_terminal_shows_a_bar_with_the_fields(monkeypatch, capsys):
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "120")
    with progress_bar("build", 3, fields={"failed": 0}) as update:
        for failed in (0, 1, 1):
            update(failed=failed)
    out = capsys.readouterr().out
    assert "build" in out and "3/3" in out and "failed 1" in out and "━" in out


def test_disabled_prints_nothing(capsys):
    with progress_bar("generate", 10, enabled=False) as update:
        update(5)
    assert capsys.readouterr().out == ""
