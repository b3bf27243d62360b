"""Periodic registration of teacher qualifications (教师资格定期注册): who is due in a five-year cycle below a unit,
with what the archive says for each condition (credits in the cycle against the province's requirement, annual
assessment results, ethics records), as a workbook for the authority; the decisions come back on a signed sheet
and are written into 教师资格 as a new effective version (processor/registration/decide.py).

- ``due``: the list (``tmis registration list``) and its workbook;
- ``decide``: the request kind ``registration`` on the workflows mechanism — issue the decision sheet, apply.
"""
