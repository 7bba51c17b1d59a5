"""One cache rule for values derived from a fit: computed once per object and arguments, and kept
only while that object lives (a weak reference), so a dropped fit frees what was derived from it
and no cache keeps an evicted model alive."""

from __future__ import annotations

import functools
import weakref


def per_object(fn=None, *, key=None):
    """``fn(obj, *args)`` computed once per (``key(obj)``, args) and kept as long as ``key(obj)``
    (default: ``obj`` itself) is alive.

    The key must be hashable and weakly referable (a Fit, a Spec), ``args`` hashable.  Used bare
    (``@per_object``) or with a key (``@per_object(key=lambda fit: fit.spec)``: refits of one
    model structure share the value).
    """
    if fn is None:
        return functools.partial(per_object, key=key)
    table: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    @functools.wraps(fn)
    def cached(obj, *args):
        owner = obj if key is None else key(obj)
        try:
            values = table[owner]
        except KeyError:
            values = table[owner] = {}
        if args not in values:
            values[args] = fn(obj, *args)
        return values[args]

    cached.cache = table
    return cached
