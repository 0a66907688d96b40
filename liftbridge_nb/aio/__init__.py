"""The asyncio client: :class:`AsyncLift` and :class:`AsyncSubscription`."""

from ._client import AsyncLift
from ._consumer import AsyncConsumer
from ._subscription import AsyncSubscription

__all__ = ["AsyncConsumer", "AsyncLift", "AsyncSubscription"]
