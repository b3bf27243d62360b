"""The store: SQLAlchemy models, engine/session setup, Alembic migrations."""
