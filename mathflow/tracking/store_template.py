"""A new SQLite store made by copying an empty one instead of running MLflow's migrations.

Creating MLflow's tables runs every Alembic migration in order, seconds of work that give the same
empty database each time. The first store created with a given MLflow version (and schema head)
is migrated once into the per-user cache (:mod:`mathflow.cache`); a new store is a copy of that
file. Opening it, MLflow checks the schema version as for any store and adds its ``Default``
experiment (not part of the template, so its artifact location is the new store's own).

Any failure here leaves the store to MLflow, which then migrates it as usual.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import warnings
from pathlib import Path


def _template_name() -> str:
    """``mlflow-store-<MLflow version>.db`` (a version ships its migrations: reading their head
    revision would cost as much as a copy saves, and MLflow checks it when it opens the copy)."""
    import mlflow

    return f"mlflow-store-{mlflow.__version__}.db"


def _migrate_empty(path: Path) -> None:
    """MLflow's own table creation and migrations, run on the empty SQLite file ``path``."""
    import sqlalchemy
    from mlflow.store.db.utils import _initialize_tables

    engine = sqlalchemy.create_engine(f"sqlite:///{path.as_posix()}")
    try:
        _initialize_tables(engine)
    finally:
        engine.dispose()


def seed_store(db: Path) -> bool:
    """Copy the cached empty store to ``db`` when ``db`` does not exist yet (call under the store
    lock). Returns whether it did; False leaves the store to MLflow."""
    from mathflow.cache import cached_file

    if db.exists():
        return False
    partial = db.with_name(f".{db.name}.seeding")
    try:
        template = cached_file(_template_name(), _migrate_empty)
        if template is None:
            return False
        shutil.copyfile(template, partial)
        os.replace(partial, db)
        return True
    except Exception as exc:  # noqa: BLE001 - a shortcut only: MLflow creates the store instead
        with contextlib.suppress(OSError):
            partial.unlink()
        warnings.warn(f"could not copy an empty MLflow store, creating it instead: {exc}", stacklevel=2)
        return False


__all__ = ["seed_store"]
