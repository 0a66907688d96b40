"""liftbridge-nb: explore Liftbridge streams from Jupyter.

The local server launchers live in :mod:`liftbridge_nb.server`; errors in
:mod:`liftbridge_nb.errors`.
"""

from .errors import (
    LiftbridgeError,
    ServerBuildError,
    ServerError,
    ServerNotInstalledError,
    ServerStartError,
)

__version__ = "0.1.0"

__all__ = [
    "LiftbridgeError",
    "ServerBuildError",
    "ServerError",
    "ServerNotInstalledError",
    "ServerStartError",
    "__version__",
]
