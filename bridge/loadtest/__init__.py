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
- ``device``: one virtual device driving one port in a dialect;
- ``echo``: the built-in TCP, UDP and TLS echo server;
- ``spawn``: the daemon it starts (generated config, its errors);
- ``progress``: the progress bar (optional tqdm);
- ``report``: percentiles, the JSON report and the text table;
- ``plot``: latency and throughput over time (optional matplotlib);
- ``run``: orchestration of one run.

tqdm and matplotlib come with the ``loadtest`` extra, not with the daemon.
"""

#: what gives the progress bar and --plot their libraries
INSTALL_EXTRA = "pip install 'at-bridge[loadtest]'"
