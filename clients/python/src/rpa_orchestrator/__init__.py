"""rpa-orchestrator from Python: `serve` a robot to the worker, `Client` to enqueue and read results."""
from .client import Client
from .errors import KeyTypeError, RPAError
from .handler import Job, Restart, serve

__all__ = ["Client", "Job", "KeyTypeError", "RPAError", "Restart", "serve"]
__version__ = "0.1.0"
