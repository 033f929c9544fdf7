"""Resource store: SQLAlchemy async (SQLite default, PostgreSQL), migrations, integrity, secrets."""
