"""Sampling audits (随机抽查): a reproducible random sample of schools and teachers below a unit (``draw``), issued
as a signed check sheet the auditor fills (matches / does not match, the field, a note) on the workflows
mechanism; the results come back signed, mismatches go to each school as corrections to make, and a published
result sheet (通报) per unit (``check``)."""
