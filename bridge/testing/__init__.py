"""The host-side toolkit shared by tests/, bench/ and the loadtest: what the
serial host and the network peer do, without the daemon's code in between.

It ships with the package so that the benchmarks and ``at-bridge loadtest``
import it as they import ``bridge``; tests/ import it too. The blocking
modules never import Trio (the benchmarks time their own loops with them);
the Trio ones say so in their names.

Modules, one job each:

- ``host``: the serial host's end of a pty, blocking: open it raw, read and
  write against deadlines;
- ``procstat``: CPU seconds and memory of a process, and the machine's busy
  time, from /proc;
- ``spawn``: the command for at-bridge, a generated config, waiting for a
  process's pty, stopping it (blocking);
- ``trio_daemon``: the daemon as a subprocess under Trio, ready once its ptys
  are announced;
- ``trio_ends``: the host's end of a pty and a TCP peer, driven byte by byte
  under Trio (tests/conftest.py's ``Device`` and ``Peer``);
- ``wire``: sans-IO parsers splitting what a daemon writes on a UART into
  reply lines, CIP's prompt and +IPD / +SKTREAD data frames;
- ``soak_harness``: byte accounting through every mode, with line noise;
- ``fuzz_model``: a reference model of the sans-IO AT core, for fuzzing it.
"""
