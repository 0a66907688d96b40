"""%lift_tail, %lift_browse and %lift_cluster (liftbridge_nb/magics/_widgets.py)."""

from __future__ import annotations

import pytest
from IPython.core.interactiveshell import InteractiveShell

from liftbridge_nb import ErrNoSuchStream
from liftbridge_nb.magics import MagicError
from tests import magic_shell
from tests.magic_shell import run
from tests.polling import wait_for

fresh_shell, ip = magic_shell.fresh_shell, magic_shell.ip


def test_widget_magics(ip: InteractiveShell, stream_name: str) -> None:
    from liftbridge_nb.widgets import ClusterView, LiveTail, StreamBrowser

    run(ip, "lift_create", stream_name)
    tail, _ = run(ip, "lift_tail", f"{stream_name} --window 3 --seconds 30 --messages 2")
    assert isinstance(tail, LiveTail) and tail.window == 3
    run(ip, "lift_publish", f"{stream_name} one")
    run(ip, "lift_publish", f"{stream_name} two")
    wait_for(lambda: (not tail.running) or None, timeout=20, what="the tail's message bound")
    assert tail.received == 2
    browser, _ = run(ip, "lift_browse", f"{stream_name} --page-size 5")
    assert isinstance(browser, StreamBrowser) and len(browser.to_dataframe()) == 2
    view, _ = run(ip, "lift_cluster")
    assert isinstance(view, ClusterView) and stream_name in view.partitions.value
    with pytest.raises(ErrNoSuchStream, match=f"did you mean '{stream_name}'"):
        run(ip, "lift_tail", f"{stream_name}x")
    with pytest.raises(MagicError, match="must be positive"):
        run(ip, "lift_tail", f"{stream_name} --window 0")
