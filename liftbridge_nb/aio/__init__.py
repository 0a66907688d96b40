"""The asyncio client: :class:`AsyncLift` and :class:`AsyncSubscription`."""

from ._client import AsyncLift
from ._subscription import AsyncSubscription

__all__ = ["AsyncLift", "AsyncSubscription"]
