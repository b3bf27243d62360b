"""Business workflows (业务管理): requests that travel between units as workbooks and are applied only when
the last unit of their chain has confirmed.

- ``registry``: the request kinds (form fields, chain of confirming steps, apply function) — ``register``, ``get``;
- ``forms``: the request form a unit fills (``tmis template KIND --unit CODE``) and reading it back;
- ``intake``: the inbox handler of every kind's form: check, open the requests, issue the first sheets;
- ``state``: requests and their steps in the store and the audit log; ``requests_of`` for ``tmis teacher show``;
- ``confirm``: signed confirmation sheets (确认单) to the waiting unit's officers and their take-back handler;
- ``kinds/``: status changes, transfers, rotations.
"""
