"""Exceptions of the Python client; each names the Redis key it is about."""
from __future__ import annotations


class RPAError(Exception):
    """A Redis key holds something the product did not write, or Redis refused a command."""


class KeyTypeError(RPAError):
    """A key has the wrong Redis type (WRONGTYPE): someone wrote it by hand."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
