"""The auth service's Prometheus metrics, in a registry of its own per app."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

LOGIN_OUTCOMES = ("ok", "wrong", "banned", "malformed")
VERIFY_RESULTS = ("ok", "missing", "invalid", "expired", "revoked")


class Metrics:
    def __init__(self, active_sessions: Callable[[], float]) -> None:
        self.registry = CollectorRegistry()
        self.logins = Counter(
            "gatehouse_auth_logins",
            "Login attempts by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        self.bans = Counter(
            "gatehouse_auth_bans",
            "Bans started, by what was banned (user id or client address).",
            ["kind"],
            registry=self.registry,
        )
        self.verifications = Counter(
            "gatehouse_auth_verifications",
            "Session checks (/verify) by result.",
            ["result"],
            registry=self.registry,
        )
        self.logouts = Counter(
            "gatehouse_auth_logouts",
            "Logouts, by scope (this session, or all of the user's).",
            ["scope"],
            registry=self.registry,
        )
        self.password_checks = Counter(
            "gatehouse_auth_password_checks",
            "Passwords hashed to check a login (none while the user or address is banned).",
            registry=self.registry,
        )
        sessions = Gauge(
            "gatehouse_auth_active_sessions",
            "Sessions in the store neither expired nor revoked (shared by all replicas).",
            registry=self.registry,
        )
        sessions.set_function(active_sessions)
        # Every label value from the start, so a scrape shows zeros rather than nothing.
        for outcome in LOGIN_OUTCOMES:
            self.logins.labels(outcome)
        for kind in ("user", "address"):
            self.bans.labels(kind)
        for result in VERIFY_RESULTS:
            self.verifications.labels(result)
        for scope in ("session", "everywhere"):
            self.logouts.labels(scope)

    def exposition(self) -> bytes:
        """The text format; blocking (the active-sessions gauge asks the store)."""
        return generate_latest(self.registry)
