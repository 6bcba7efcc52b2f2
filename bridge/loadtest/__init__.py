"""``at-bridge loadtest``: many virtual devices driving many links at once.

One process plays every serial host with Trio: it starts a daemon (or
attaches to one), opens links in a dialect to an echo server, sends framed
data, checks every byte that comes back and reports throughput, latency and
lost bytes.

Modules, one job each:

- ``options``: the run's settings (``Options``) and their limits;
- ``cli``: the subcommand's arguments and exit code;
- ``check``: per-link verification of echoed bytes, in order;
- ``stats``: counters, latency samples and a timeline;
- ``dialect``: what a device writes in each dialect and how replies end;
- ``port_host``: the serial host of one port, sans-IO (routing what the
  port writes, running a command's steps);
- ``payloads``: the messages, different per link and sequence;
- ``device``: one virtual device driving one port under Trio;
- ``echo``: the built-in TCP, UDP and TLS echo server;
- ``daemon_config``: the generated config of the daemon it starts;
- ``spawn``: the daemon it starts, and its errors;
- ``progress``: the progress bar (optional tqdm);
- ``report``: percentiles, the JSON report and the text table;
- ``plot``: latency and throughput over time (optional matplotlib);
- ``run``: orchestration of one run.

tqdm and matplotlib come with the ``loadtest`` extra, not with the daemon.

``check``, ``stats``, ``dialect``, ``port_host``, ``payloads``, ``options``,
``report`` and ``daemon_config`` never import Trio: ``at-bridge locust``
(gevent) uses them too.
"""

#: what gives the progress bar and --plot their libraries
INSTALL_EXTRA = "pip install 'at-bridge[loadtest]'"
