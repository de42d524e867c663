"""The progress display: a bar on a terminal, plain lines otherwise, never on stdout."""

from __future__ import annotations

import io

from ticker.jobs.progress import PLAIN_EVERY_S, progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_when_not_a_terminal_are_throttled_and_end_with_the_total():
    stream = io.StringIO()
    ticks = iter([0.0] + [i * PLAIN_EVERY_S / 4 for i in range(1, 11)])
    with progress(10, "importing", stream=stream, clock=lambda: next(ticks)) as bar:
        for _ in range(10):
            bar.advance()
    lines = stream.getvalue().splitlines()
    # one line per 4 advances (every PLAIN_EVERY_S), plus the final count; no control codes
    assert lines == ["importing: 4/10", "importing: 8/10", "importing: 10/10"]
    assert "\x1b" not in stream.getvalue()


def test_unknown_total_and_notes_in_plain_mode():
    stream = io.StringIO()
    with progress(None, "reparse", stream=stream, clock=lambda: 0.0) as bar:
        bar.note("paused 60 s after a 429")
        bar.advance(3)
    assert stream.getvalue().splitlines() == ["reparse: paused 60 s after a 429", "reparse: 3"]


def test_a_terminal_gets_a_bar_with_count():
    stream = _Terminal()
    with progress(5, "importing", stream=stream) as bar:
        bar.advance(5)
    text = stream.getvalue()
    assert "importing" in text and "5/5" in text and "ETA" in text


def test_nothing_done_prints_no_line():
    stream = io.StringIO()
    with progress(None, "importing", stream=stream):
        pass
    assert stream.getvalue() == ""


def test_disabled_writes_nothing_and_stdout_is_untouched(capsys):
    with progress(3, "importing", enabled=False) as bar:
        bar.advance(3)
        bar.note("hidden")
    with progress(3, "importing") as bar:  # default stream: stderr
        bar.advance(3)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "importing: 3/3" in captured.err
