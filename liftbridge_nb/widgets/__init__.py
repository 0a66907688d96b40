"""ipywidgets for Liftbridge: stream browser, live tail, cluster view, publish form."""

from ._browser import StreamBrowser
from ._cluster import ClusterView
from ._publish import PublishForm
from ._tail import LiveTail

__all__ = ["ClusterView", "LiveTail", "PublishForm", "StreamBrowser"]
