"""%lift_publish and %%lift_publish (liftbridge_nb/magics/_publish.py): values verbatim, templates."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from IPython.core.interactiveshell import InteractiveShell

from liftbridge_nb import Lift, Start, Stop
from liftbridge_nb.magics import MagicError
from tests import magic_shell
from tests.kernel import Kernel
from tests.magic_shell import one_line_error, run

fresh_shell, ip, lift_kernel = magic_shell.fresh_shell, magic_shell.ip, magic_shell.lift_kernel


def values(address: str, stream: str, partition: int = 0) -> list[bytes]:
    with Lift(address) as client:
        return [
            m.value for m in client.subscribe(stream, partition, start=Start.earliest(), stop=Stop.latest())
        ]


def test_publish_cell_lines_and_line(ip: InteractiveShell, stream_name: str) -> None:
    run(ip, "lift_create", f"{stream_name} --partitions 2")
    ip.user_ns["order_id"] = 42
    flags = "--key c1 --header source=nb --ack all --json --partition 0"
    _, text = run(
        ip, "lift_publish", f"{stream_name} {flags}", '{"order": {{ order_id }}, "note": "{x} stays"}'
    )
    assert text.strip() == f"published 1 message(s) to '{stream_name}' partition 0: offsets [0]"
    _, text = run(ip, "lift_publish", f"{stream_name} --lines --partition 1", "a\nb\n\nc\n")
    assert text.strip() == f"published 3 message(s) to '{stream_name}' partition 1: offsets [0, 1, 2]"
    _, text = run(ip, "lift_publish", f"{stream_name} --partition 0 hello from a line")
    assert "offsets [1]" in text
    _, text = run(ip, "lift_publish", f"{stream_name} --partition 0 --ack none fire and forget")
    assert "ack policy none" in text
    df, _ = run(ip, "lift_read", f"{stream_name} --partition 0 --to 2 --no-progress")
    assert isinstance(df, pd.DataFrame) and list(df["offset"]) == [0, 1]
    assert df["value.order"].iloc[0] == 42 and df["key"].iloc[0] == "c1"
    assert df["headers"].iloc[0]["source"] == "nb"  # decoded as the values are
    assert "{x} stays" in df["value"].iloc[0], "IPython's own expansion is off"
    assert df["value"].iloc[1] == "hello from a line"


def test_one_line_value_is_verbatim(lift_kernel: Kernel, server_address: str, stream_name: str) -> None:
    """Everything after the flags is the value: quotes kept, nothing split or joined."""
    lift_kernel.run(f"%lift_create {stream_name}")
    line = '{"order": 99, "who": "bob",  "note": "it\'s --json"}'
    cell = lift_kernel.run(f"%lift_publish {stream_name} --key bob --json {line}")
    assert cell.status == "ok" and "offsets [0]" in cell.stdout, cell.shown
    cell = lift_kernel.run(f"%lift_publish {stream_name} --partition=0 'quoted'  two  spaces ")
    assert cell.status == "ok", cell.shown
    assert values(server_address, stream_name) == [line.encode(), b"'quoted'  two  spaces"]
    assert json.loads(values(server_address, stream_name)[0])["who"] == "bob"


def test_templates_evaluate_expressions(lift_kernel: Kernel, server_address: str, stream_name: str) -> None:
    lift_kernel.run(f"%lift_create {stream_name}\namount, customer, items = 21, 'bob', [1, 2]")
    cell = lift_kernel.run(
        f'%lift_publish {stream_name} --json {{"a": {{{{ amount * 2 }}}}, "c": "{{{{ customer }}}}", '
        '"n": {{ len(items) }}, "i": {{items}}}'
    )
    assert cell.status == "ok", cell.shown
    cell = lift_kernel.run(
        f"%%lift_publish {stream_name} --key {{{{ customer.upper() }}}}\n{{{{ amount // 2 }}}}"
    )
    assert cell.status == "ok", cell.shown
    assert values(server_address, stream_name) == [b'{"a": 42, "c": "bob", "n": 2, "i": [1, 2]}', b"10"]


@pytest.mark.parametrize(
    ("cell", "words"),
    [
        ("{{ amount / 0 }}", "%lift_publish: {{ amount / 0 }} cannot be filled in: ZeroDivisionError"),
        (
            "{{ amont * 2 }}",
            "%lift_publish: {{ amont * 2 }}: no variable 'amont' in the notebook; did you mean amount?",
        ),
        ("{{ amount * }}", "%lift_publish: {{ amount * }} cannot be filled in: SyntaxError"),
        ("{{ }}", "%lift_publish: empty template {{ }}"),
        ('{"a": {{ amount }', "%lift_publish: unclosed template '{{ amount }'"),
    ],
    ids=["raises", "unknown-name", "syntax", "empty", "unclosed"],
)
def test_a_template_that_fails_is_refused(
    lift_kernel: Kernel, server_address: str, stream_name: str, cell: str, words: str
) -> None:
    lift_kernel.run(f"%lift_create {stream_name}\namount = 1")
    line = one_line_error(lift_kernel.run(f"%lift_publish {stream_name} {cell}"))
    assert line.startswith(f"MagicError: {words}"), line
    assert values(server_address, stream_name) == [], "nothing published"


def test_publish_errors(ip: InteractiveShell, stream_name: str, server_address: str) -> None:
    run(ip, "lift_create", stream_name)
    with pytest.raises(MagicError, match=r"^%lift_publish: --ack comes after the value: flags go first"):
        run(ip, "lift_publish", f"{stream_name} hello --ack none")
    assert values(server_address, stream_name) == []
    with pytest.raises(MagicError, match=r"^%%lift_publish: the message is the cell"):
        run(ip, "lift_publish", f"{stream_name} extra", "cell")
    with pytest.raises(MagicError, match=r"^%%lift_publish: nothing to publish"):
        run(ip, "lift_publish", stream_name, "\n")
    with pytest.raises(
        MagicError, match=r"^%%lift_publish: --json: the message is not JSON.*nothing was published"
    ):
        run(ip, "lift_publish", f"{stream_name} --json", "{not json")
