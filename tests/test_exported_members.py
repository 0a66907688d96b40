"""The package exports what its __all__ says, every public name documented."""

from __future__ import annotations

import liftbridge_nb
import liftbridge_nb.aio
import liftbridge_nb.server


def test_all_names_exist_and_are_documented() -> None:
    for module in (liftbridge_nb, liftbridge_nb.aio, liftbridge_nb.server):
        for name in module.__all__:
            member = getattr(module, name)
            if callable(member) and not name.startswith("_"):
                assert member.__doc__, f"{module.__name__}.{name} has no docstring"


def test_documented_names_of_python_liftbridge() -> None:
    from liftbridge_nb import ErrStreamExists, Lift, Message, Stream  # noqa: F401

    for method in (
        "start_at_offset", "start_at_time", "start_at_time_delta", "start_at_latest_received",
        "start_at_earliest_received",
    ):  # fmt: skip
        assert callable(getattr(Stream, method))
