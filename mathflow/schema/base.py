"""Names over a family's component models: main names (:func:`catalog`) and every alias (:func:`tags`).

The component models themselves, their three written forms and the family unions are in
:mod:`mathflow.component`.
"""

from __future__ import annotations

import typing
from typing import Any

from mathflow.component import Component


def catalog(members: list[type[Component]]) -> dict[str, type[Component]]:
    """name → component model (the main name of each; see :func:`tags` for aliases)."""
    return {m.component_name(): m for m in members}


def tags(members: Any) -> frozenset[str]:
    """Every name (aliases included) the members of a family answer to."""
    models = members.values() if isinstance(members, dict) else members
    return frozenset(t for m in models for t in typing.get_args(m.model_fields["type"].annotation))
