"""Errors: every failing call raises KvmhostError, an OSError with the errno and
the library's own message (kvmhost_last_error(), read in the failing thread)."""

from __future__ import annotations

import os

from ._lib import lib


class KvmhostError(OSError):
    """A libkvmhost call failed.

    ``errno`` is the positive errno the call returned (negated), ``strerror``
    its text, ``last_error`` the library's per-thread message
    ("function: what: strerror") and ``function`` the C function called.
    """

    def __init__(self, err: int, function: str, last_error: str) -> None:
        super().__init__(err, os.strerror(err))
        self.function = function
        self.last_error = last_error

    def __str__(self) -> str:
        if self.last_error:  # "function: what: strerror" already names the function
            return f"[Errno {self.errno}] {self.last_error}"
        return f"[Errno {self.errno}] {self.function}: {self.strerror}"


def last_error() -> str:
    """The calling thread's last library error message ("" if none)."""
    s = lib().kvmhost_last_error()
    return str(s.decode("utf-8", "replace")) if s else ""


def check(ret: int, function: str) -> int:
    """Raise KvmhostError for a negative return value; return it otherwise."""
    if ret < 0:
        raise KvmhostError(-ret, function, last_error())
    return ret


def call(name: str, *args: object) -> int:
    """Call C function ``name`` and check its 0/-errno result."""
    return check(getattr(lib(), name)(*args), name)
