"""Exchange with legacy systems and the national system: profiles, import, export, manifest."""
