"""``at-bridge locust``: load beyond one machine, on Locust's distributed
engine (``pip install 'at-bridge[locust]'``).

One Locust user is one link of one virtual device; each worker (or a plain
local run) starts its own daemon with pty ports and spreads its users over
their link ids. Everything here runs under gevent, which Locust patches
into the standard library: nothing here imports Trio (the daemon and the
echo server are processes of their own). What it shares with
``at-bridge loadtest`` is sans-IO: the dialects' commands, the port's host,
the wire parsers and the echo checks (bridge/loadtest, bridge/testing).

Modules, one job each:

- ``command``: the subcommand, which runs Locust with ``locustfile``;
- ``locustfile``: what Locust loads: the user class and the hooks;
- ``settings``: the ``--atb-`` options, per worker and per run;
- ``hooks``: Locust's events wired to the rest (start, stop, summary);
- ``node``: a worker's daemon, ports, link ids and totals;
- ``processes``: the daemon and the echo server as child processes;
- ``port``: one pty port driven under gevent;
- ``user``: the Locust user (open, echo, close one link);
- ``percentiles``: exact sub-millisecond response times;
- ``summary``: the end-of-run summary and verdict.
"""
