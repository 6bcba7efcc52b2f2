"""Locust's events, wired to at-bridge's pieces.

- Every process: exact sub-millisecond response times, the ``--atb-``
  options.
- A worker, or a plain local run: its Node (daemon, ports, links), started
  when Locust initialises; each test's settings when it starts.
- The master: when a test stops it asks every worker to stop its users
  (each waits for its last echo and closes its link) and to send its final
  figures, then waits for them; at exit it prints the summary and sets the
  exit code. A plain local run does the same with its own figures.
- A worker never writes the master's JSON output: with ``--processes`` every
  forked worker would inherit ``--json-file`` and the last writer would win.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import gevent
from locust.runners import STATE_MISSING, MasterRunner, WorkerRunner

from ..loadtest.options import OptionsError
from ..loadtest.report import write_json
from . import percentiles, settings, summary
from .node import Node, attach

STOP = "atb_stop"  # master -> workers: stop your users, send your final report
FINAL = "atb_final"  # worker -> master: the final report
EXIT_FAILED = 1
EXIT_USAGE = 2


def install(events: Any) -> None:
    percentiles.install()
    events.init_command_line_parser.add_listener(settings.add_arguments)
    events.init.add_listener(_on_init)


def _on_init(environment: Any, runner: Any, **_: Any) -> None:
    parsed = environment.parsed_options
    try:
        options = settings.worker_options(parsed)
        if parsed.headless and not isinstance(runner, MasterRunner | WorkerRunner):
            settings.run_options(options, parsed, environment.host)  # all known already
    except OptionsError as exc:
        print(f"at-bridge locust: {exc}", file=sys.stderr, flush=True)
        sys.exit(EXIT_USAGE)
    if isinstance(runner, MasterRunner):
        Master(environment, runner, options.timeout)
    else:
        name = runner.client_id if isinstance(runner, WorkerRunner) else "local"
        NodeHooks(environment, runner, Node(options, name, environment.events.request.fire))


def _finish(environment: Any, reports: list[dict[str, Any]], missing: list[str]) -> None:
    result = summary.build(reports, environment.stats, missing)
    print(summary.table(result), flush=True)
    path = environment.parsed_options.atb_json
    if path:
        write_json(result, path)
    if not result["ok"]:
        environment.process_exit_code = EXIT_FAILED


class Master:
    def __init__(self, environment: Any, runner: Any, timeout: float) -> None:
        self.environment = environment
        self.runner = runner
        self.timeout = timeout
        self.reports: dict[str, dict[str, Any]] = {}
        self.asked: list[str] | None = None  # the workers asked for a final report
        runner.register_message(FINAL, self._final)
        events = environment.events
        events.worker_report.add_listener(self._periodic)
        events.test_start.add_listener(self._test_start)
        events.test_stopping.add_listener(self._collect)
        events.quitting.add_listener(self._quitting)

    def _test_start(self, **_: Any) -> None:
        self.reports.clear()
        self.asked = None

    def _final(self, environment: Any, msg: Any, **_: Any) -> None:
        self.reports[msg.node_id] = msg.data

    def _periodic(self, client_id: str, data: dict[str, Any]) -> None:
        report = data.get("atb")
        if report is not None and not self.reports.get(client_id, {}).get("final"):
            self.reports[client_id] = report

    def _collect(self, **_: Any) -> None:
        """Ask every worker to stop its users and report; wait (bounded) for them."""
        if self.asked is not None:
            return
        self.asked = [client.id for client in self.runner.clients.all]
        self.runner.send_message(STOP)
        # a worker's users each wait for their last echo and close their link
        deadline = time.monotonic() + 3 * self.timeout + 5
        while self._awaited() and time.monotonic() < deadline:
            gevent.sleep(0.05)

    def _awaited(self) -> bool:
        """A worker that has not reported yet is still there (not gone missing)."""
        there = {client.id for client in self.runner.clients.all
                 if client.state != STATE_MISSING}
        return any(worker in there for worker in self._missing())

    def _missing(self) -> list[str]:
        return [worker for worker in self.asked or ()
                if not self.reports.get(worker, {}).get("final")]

    def _quitting(self, **_: Any) -> None:
        if self.asked is None and self.runner.clients.all:
            self._collect()  # interrupted before the run's end: ask now
        _finish(self.environment, list(self.reports.values()), self._missing())


class NodeHooks:
    """A worker's or a local run's side."""

    def __init__(self, environment: Any, runner: Any, node: Node) -> None:
        self.environment = environment
        self.runner = runner
        self.node = node
        self.worker = isinstance(runner, WorkerRunner)
        attach(environment, node)
        gevent.spawn(node.start)
        events = environment.events
        if self.worker:
            environment.parsed_options.json = False
            environment.parsed_options.json_file = None
            runner.register_message(STOP, self._stop, concurrent=True)
            events.report_to_master.add_listener(self._report)
        events.test_start.add_listener(self._test_start)
        events.test_stop.add_listener(self._test_stop)
        events.quitting.add_listener(self._quitting)

    def _test_start(self, environment: Any, **_: Any) -> None:
        self.node.begin_test(environment.parsed_options, environment.host)

    def _test_stop(self, **_: Any) -> None:
        self.node.end_test()

    def _report(self, client_id: str, data: dict[str, Any]) -> None:
        data["atb"] = self.node.report(final=False)

    def _stop(self, environment: Any, msg: Any, **_: Any) -> None:
        self.runner.stop()  # each user waits for its last echo and closes its link
        self.runner.send_message(FINAL, self.node.report(final=True))

    def _quitting(self, **_: Any) -> None:
        self.runner.stop()
        if not self.worker and self.node.mark is not None:
            _finish(self.environment, [self.node.report(final=True)], [])
        self.node.stop()
