"""PublishForm: key, value, headers, ack policy; shows the ack or the error."""

from __future__ import annotations

import ipywidgets as w

from ..client import Lift
from ..errors import LiftbridgeError
from ..models import AckPolicy, Message
from ._common import check_client, error_html

AUTO = -1


class PublishForm(w.VBox):  # type: ignore[misc]
    """A form that publishes one message and shows the server's ack (or its error).

    Partition -1 (the default) leaves the choice to the client's rule: a message
    with a key goes to the key's partition (CRC-32 of the key), one without to 0.
    """

    def __init__(self, client: Lift, stream: str | None = None) -> None:
        check_client(client, "PublishForm")
        self.client = client
        self.stream = w.Text(description="stream", value=stream or "")
        self.key = w.Text(description="key")
        self.value = w.Textarea(description="value", layout=w.Layout(width="60%"))
        self.headers = w.Textarea(description="headers", placeholder="one key=value per line")
        self.partition = w.IntText(description="partition", value=AUTO, tooltip="-1: by key, else 0")
        self.ack = w.Dropdown(description="ack", options=["leader", "all", "none"], value="leader")
        self.publish_button = w.Button(description="publish", button_style="primary", icon="paper-plane")
        self.result = w.HTML()
        self.acks: list[object] = []
        self.publish_button.on_click(lambda _: self.publish())
        super().__init__(
            [self.stream, self.key, self.value, self.headers, w.HBox([self.partition, self.ack]),
             self.publish_button, self.result]
        )  # fmt: skip

    def publish(self) -> None:
        """Publish what the form holds."""
        try:
            headers = {}
            for line in self.headers.value.splitlines():
                if line.strip():
                    name, sep, value = line.partition("=")
                    if not sep or not name.strip():
                        raise ValueError(f"a header line is key=value, not {line!r}")
                    headers[name.strip()] = value
            key = self.key.value or None
            partition = self.partition.value if self.partition.value != AUTO else None
            message = Message(
                self.value.value,
                key=key,
                stream=self.stream.value.strip(),
                headers=headers,
                partition=partition,  # None (-1): the client's rule, by key if there is one, else 0
                ack_policy=AckPolicy.of(self.ack.value),
            )
            ack = self.client.publish(message)
        except (LiftbridgeError, ValueError, TypeError) as exc:
            self.result.value = error_html(exc)
            return
        self.acks.append(ack)
        if ack is None:
            self.result.value = "published (ack policy none: no ack)"
        else:
            self.result.value = f"acked: partition {ack.partition}, offset {ack.offset}"
