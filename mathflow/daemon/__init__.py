"""The mathflow daemon: commands started from a process that has already imported MLflow.

A ``mathflow run`` spends most of its fixed cost importing MLflow, its SQL store, matplotlib and
mathflow itself (about 2.5 s on a small machine), for a training that may take a fraction of that.
The daemon is a process that imports all of it once and then, for every command, forks a child that
runs the command exactly as ``mathflow`` would (same code path, signal handling and MLflow record),
with the caller's arguments, working folder, environment and standard streams (passed as file
descriptors). The ``mathflow`` process the user started only relays: signals to the child, the
child's exit status back as its own.

- :mod:`mathflow.daemon.protocol`: where a daemon listens (one per interpreter, ``sys.path`` and
  import-relevant environment), and the messages on its socket.
- :mod:`mathflow.daemon.client`: the console script; goes through a daemon when one is listening,
  otherwise runs the command in its own process and, for commands that import MLflow, starts one.
- :mod:`mathflow.daemon.server`: the daemon itself (preload, fork per command, idle exit, restart
  when a loaded module's file changes).

``MATHFLOW_DAEMON=off`` runs every command in its own process; ``mathflow daemon status|start|stop``.
"""
