"""Named fields and token counts, read alike from JSON dicts, other mappings and SDK objects.

The provider readers in :mod:`agentwatch.normalize` are built on these. Everything here is on the
hot path of every recorded model call: a dict is read in place, what can be decided once per type
(whether it is a Mapping, whether one C-level getter reads a list of fields) is remembered.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from operator import attrgetter
from typing import Any

MISSING = object()


class Malformed(ValueError):
    """A usage payload that cannot be trusted (reported once as a counted warning)."""


#: whether a type is a Mapping, remembered per type (isinstance against the ABC costs ~1 µs when
#: the answer is no, as it is for every SDK response object)
_is_mapping: dict[type, bool] = {}


def is_mapping_type(kind: type) -> bool:
    """Whether ``kind`` is a :class:`~collections.abc.Mapping` (decided once per type)."""
    mapping = _is_mapping.get(kind)
    if mapping is None:
        mapping = issubclass(kind, Mapping)
        if len(_is_mapping) < 1024:
            _is_mapping[kind] = mapping
    return mapping


def get_field(obj: Any, key: str, default: Any = None) -> Any:
    """``obj[key]`` of a mapping, ``obj.key`` of anything else (``default`` if absent or failing)."""
    if type(obj) is dict:  # the common case, without the (slow) ABC check below
        return obj.get(key, default)
    if obj is None:
        return default
    kind = type(obj)
    mapping = _is_mapping.get(kind)
    if mapping is None:
        mapping = is_mapping_type(kind)
    if mapping:
        return obj.get(key, default)
    try:
        return getattr(obj, key, default)
    except Exception:
        return default


#: (type, field names) that one C-level ``attrgetter`` cannot read (the type lacks one of the fields,
#: or one raises): read field by field. SDK objects have every field of their schema, None when unset.
_partial: set[tuple[type, tuple[str, ...]]] = set()
_getters: dict[tuple[str, ...], Callable[[Any], Any]] = {}


def fields_of(obj: Any, keys: tuple[str, ...]) -> Sequence[Any]:
    """``[get_field(obj, key) for key in keys]`` in one call: a model call reads a dozen fields."""
    if type(obj) is dict:
        get = obj.get
        return [get(k) for k in keys]
    if obj is None:
        return [None] * len(keys)
    kind = type(obj)
    if is_mapping_type(kind):
        return [obj.get(k) for k in keys]
    if len(keys) > 1 and (kind, keys) not in _partial:
        getter = _getters.get(keys)
        if getter is None:
            getter = attrgetter(*keys)
            if len(_getters) < 256:
                _getters[keys] = getter
        try:
            return getter(obj)  # type: ignore[no-any-return]
        except Exception:  # a field it lacks, or a property that raises: field by field from now on
            if len(_partial) < 1024:
                _partial.add((kind, keys))
    return [get_field(obj, k) for k in keys]


def has_field(obj: Any, key: str) -> bool:
    return get_field(obj, key, MISSING) is not MISSING


def counts_of(obj: Any, keys: tuple[str, ...]) -> list[int]:
    """``count_of(obj, key)`` for each of ``keys``, in one call (a model call reads eight or so)."""
    if obj is None:
        return [0] * len(keys)
    # a dict is read here rather than through fields_of: one call less on the commonest path
    found = [obj.get(k) for k in keys] if type(obj) is dict else fields_of(obj, keys)
    values = found if type(found) is list else list(found)
    for i, value in enumerate(values):
        if type(value) is not int or value < 0:
            values[i] = 0 if value is None else count_of(obj, keys[i])
    return values


def count_of(obj: Any, key: str, *, required: bool = False) -> int:
    """A non-negative integer count at ``obj[key]`` (0 when absent and not required)."""
    value = obj.get(key) if type(obj) is dict else get_field(obj, key)
    if type(value) is int and value >= 0:  # the common case first
        return value
    if value is None:
        if required:
            raise Malformed(f"missing {key}")
        return 0
    if isinstance(value, bool):
        raise Malformed(f"{key} is a bool")
    if isinstance(value, int):
        if value < 0:
            raise Malformed(f"{key} is negative")
        return value
    if isinstance(value, float) and math.isfinite(value) and value >= 0 and value.is_integer():
        return int(value)
    raise Malformed(f"{key} is not a token count: {type(value).__name__}")


_NOT_CONTAINERS = (str, bytes, int, float, bool)


def is_usage_container(obj: Any) -> bool:
    if type(obj) is dict:  # the common case, before the isinstance check
        return True
    return obj is not None and not isinstance(obj, _NOT_CONTAINERS)
