"""Test doubles and real-service launchers shipped with magec (used by our tests and by users' tests)."""
