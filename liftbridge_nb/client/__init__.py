"""The synchronous client: :class:`Lift` and :class:`Subscription`."""

from ._client import Lift
from ._consumer import Consumer
from ._subscription import Subscription

__all__ = ["Consumer", "Lift", "Subscription"]
