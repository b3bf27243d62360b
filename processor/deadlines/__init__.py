"""Update deadlines: the calendar from `[deadlines]` in config.toml (calendar.py), the schools behind a deadline
(behind.py, shown in the county digest and the monthly report) and the reminders mailed before it through the
outgoing queue (remind.py, ``run_if_due(engine, config, now)`` from the `tmis run` schedule)."""
