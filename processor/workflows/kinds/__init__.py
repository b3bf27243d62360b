"""The request kinds shipped with tmis (each module registers one kind at import)."""
