"""The host-side toolkit shared by tests/, bench/ and the loadtest: what the
serial host and the network peer do, without the daemon's code in between.

It ships with the package so that the benchmarks and ``at-bridge loadtest``
import it as they import ``bridge``; tests/ import it too. Modules that block
(for the benchmarks' timed loops) never import Trio; the Trio ones say so in
their names.
"""
