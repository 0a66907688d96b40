"""The magics' parsing (liftbridge_nb/magics/_parsing.py): durations, positions, values, templates."""

from __future__ import annotations

import argparse
from datetime import timedelta

import pytest

from liftbridge_nb.magics import MagicError
from liftbridge_nb.magics._parsing import count, duration, position, render, split_value
from liftbridge_nb.magics._publish import PUBLISH


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1h30m", 5400), ("90s", 90), ("10min", 600), ("1.5h", 5400), ("2d", 172800), ("500ms", 0.5),
     ("1w", 604800), ("2h 15m", 8100), ("1d12h", 129600), ("3 hours", 10800), ("45sec", 45)],
)  # fmt: skip
def test_durations(text: str, seconds: float) -> None:
    assert duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["7days2", "1y", "h", "1h30", "", "1.2.3h", "-2h", "--5m"])
def test_not_durations_list_the_forms(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="1h30m") as info:
        duration(text)
    assert "10min" in str(info.value)


def test_positions() -> None:
    assert position("12") == 12 and position("earliest") == "earliest" and position("latest") == "latest"
    assert position("1h30m") == timedelta(minutes=90)
    assert position("2026-11-30T08:00") == "2026-11-30T08:00"
    assert position("2026-11-30") == "2026-11-30"
    for bad in ("-5", "-2h", "yesterday", "1h30"):
        with pytest.raises(argparse.ArgumentTypeError, match="earliest, latest or an ISO time"):
            position(bad)


def test_count() -> None:
    assert count("3") == 3
    for bad in ("0", "-1", "x", "1.5"):
        with pytest.raises(argparse.ArgumentTypeError, match="whole number >= 1"):
            count(bad)


@pytest.mark.parametrize(
    ("line", "head", "value"),
    [
        ('events --key bob {"order": 99, "who": "bob"}', "events --key bob ", '{"order": 99, "who": "bob"}'),
        ("s --lines --ack all it's  'spaced'", "s --lines --ack all ", "it's  'spaced'"),
        ("s --key 'a b' --header=x=1 -5 degrees", "s --key 'a b' --header=x=1 ", "-5 degrees"),
        ("s --key {{ who }} {{ n * 2 }}", "s --key {{ who }} ", "{{ n * 2 }}"),
        ("s --json", "s --json", ""),
        ("s hello --ack none", "s ", "hello --ack none"),
    ],
)
def test_the_value_after_the_flags_is_verbatim(line: str, head: str, value: str) -> None:
    assert split_value(PUBLISH, line) == (head, value)


def test_render() -> None:
    ns = {"n": 2, "d": {"a": [1]}, "s": "x"}
    assert render("{{n*3}} {{ d }} {{ d['a'][0] }} {{s}}", ns) == '6 {"a": [1]} 1 x'
    with pytest.raises(MagicError, match=r"\{\{ n/0 \}\} cannot be filled in: ZeroDivisionError"):
        render("{{ n/0 }}", ns)
    with pytest.raises(MagicError, match="unclosed template"):
        render("{{ n } and more", ns)
