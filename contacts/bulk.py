"""Helpers for building millions of small records fast (vendor files, contacts).

- ``gc_paused``: pause Python's cyclic garbage collector while acyclic records are made.
  Reference counting still frees everything; the collector only looks for reference cycles,
  and with millions of live objects each of its full passes walks all of them, which cost a
  vendor-file read about as much as the read itself (docs/benchmarks.md). The records made
  in the block then join the oldest generation at once, as long-lived data, instead of being
  walked as young objects by the next collections.
- ``slot_factory``: a positional constructor for a frozen, slotted dataclass that fills the
  slots directly, giving the same object as the class's own ``__init__`` (which goes through
  ``object.__setattr__`` once per field, the price of ``frozen=True``) at about half the cost.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
from collections.abc import Callable, Iterator
from typing import Any


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Disable the cyclic garbage collector inside the block; re-enable it afterwards if it was
    enabled before (nesting is safe)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            if gc.get_freeze_count() == 0:
                # Hand the block's survivors to the oldest generation directly (freeze and
                # unfreeze only splice lists): otherwise the first collection after the block
                # walks every one of them as "young", and the next generation walks them again.
                # Skipped when someone else froze objects, so their freeze stays theirs.
                gc.freeze()
                gc.unfreeze()
            gc.enable()


def slot_factory(cls: type) -> Callable[..., Any]:
    """``make(*values)`` equal to ``cls(*values)`` for a ``@dataclass(frozen=True, slots=True)``
    class without ``__post_init__``, every field given positionally in declaration order."""
    if not dataclasses.is_dataclass(cls) or "__slots__" not in cls.__dict__:
        raise TypeError(f"{cls.__name__} is not a slotted dataclass")
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__} has a __post_init__; use its constructor")
    names = [field.name for field in dataclasses.fields(cls)]
    namespace: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    namespace.update({f"_set_{name}": cls.__dict__[name].__set__ for name in names})
    body = "; ".join(f"_set_{name}(obj, {name})" for name in names)
    source = f"def make({', '.join(names)}):\n    obj = _new(_cls); {body}\n    return obj"
    # The source is built above from the dataclass's own field names, nothing from input.
    exec(source, namespace)  # nosec B102
    make = namespace["make"]
    make.__doc__ = f"Build a {cls.__name__} from its fields in order (contacts.bulk)."
    return make
