"""Reports from the store: the monthly progress report and its forms, workgroup rosters, the summary PDF and
the bulletin; each aggregated in SQL, rendered as .xlsx and .pdf into outbox/<unit code>/, and recorded
(what it was computed from and its figures) so that it can be rendered again with the same numbers."""
