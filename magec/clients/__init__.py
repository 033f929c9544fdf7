"""Clients: what belongs to a client (a caller of the user API) beyond its stored record.

* :mod:`magec.clients.tokens` — client tokens (``mgc_…``): issued, hashed, previewed, kept on
  update and looked up, all in one module.

Chat-platform client types (``telegram/``, ``slack/``, …) get one folder each here.
"""
