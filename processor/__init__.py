"""tmis — batch service for teacher information: intake, validation, review and reports."""

__version__ = "0.1.0"
