"""at-bridge's locustfile: ``at-bridge locust`` runs Locust with it.

Locust loads it by its path (not as part of the package), so it imports the
package absolutely; the users and hooks live in bridge/locust.
"""

from locust import events

from bridge.locust import hooks
from bridge.locust.user import AtBridgeUser

hooks.install(events)

__all__ = ["AtBridgeUser"]
