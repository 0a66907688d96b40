"""The synchronous client: :class:`Lift` and :class:`Subscription`."""

from ._client import Lift
from ._subscription import Subscription

__all__ = ["Lift", "Subscription"]
