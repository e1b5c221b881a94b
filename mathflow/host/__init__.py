"""The process host: the top floor, the one place that runs the command line.

- :mod:`mathflow.host.entry`: the ``mathflow`` console script. It has a listening daemon run the
  command, or runs it here (and, for a command that imports MLflow, starts a daemon for the next).
- :mod:`mathflow.host.daemon`: the daemon process. It imports ahead what the commands need
  (:mod:`mathflow.startup`) and runs the command line in a forked child per command
  (:mod:`mathflow.daemon.server`).

The mechanisms (protocol, relay, accept-fork-reap loop, ``mathflow daemon status|start|stop``) live
in :mod:`mathflow.daemon`, below the command line, which drives ``mathflow daemon`` through them.
"""
