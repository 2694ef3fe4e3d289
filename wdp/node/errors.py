"""Failures as a user sees them: one plain line, never an exception's repr.

trio nurseries wrap what their tasks raise in exception groups (strict
exception groups, trio's default), so an ``OwnerError`` raised under a
nursery arrives as ``ExceptionGroup('Exceptions from Trio nursery',
[OwnerError(...)])``. :func:`leaf_exceptions` takes such groups apart so
callers can recognise the failures they expect.
"""

from __future__ import annotations

__all__ = ["leaf_exceptions"]


def leaf_exceptions(exc: BaseException) -> list[BaseException]:
    """The exceptions inside ``exc``, however deeply grouped; ``[exc]`` if it is no group."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in leaf_exceptions(inner)]
    return [exc]
