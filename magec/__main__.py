"""``python -m magec``: the ``magec`` command (:mod:`magec.cli`)."""

from magec.cli import app

app()
