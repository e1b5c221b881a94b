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
- :mod:`mathflow.daemon.client`: the caller's side: have a listening daemon run the command and
  relay to it; start a daemon in the background.
- :mod:`mathflow.daemon.server`: the daemon's loop (fork per command, idle exit, restart when a
  loaded module's file changes), given what to preload and what a child runs.
- :mod:`mathflow.daemon.control`: ``mathflow daemon status|start|stop``.

This package sits below the command line, which drives :mod:`~mathflow.daemon.control`. What runs
the command line sits above it, in :mod:`mathflow.host`: the console script
(:mod:`mathflow.host.entry`) and the daemon process (:mod:`mathflow.host.daemon`), which preloads
:mod:`mathflow.startup`'s list.

``MATHFLOW_DAEMON=off`` runs every command in its own process; ``mathflow daemon status|start|stop``.
"""
