"""The data officers' portal (``cmc portal``): sign in, see what a country owes, download
templates, send files checked by the pipeline's own rules, follow them into the warehouse.

- ``app.py``: the pages, and the one check of who may see what (``_country``)
- ``auth.py``: passwords, server-side sessions, login throttling, the reverse proxy
- ``store.py``: the portal's SQLite file (accounts, sessions, audit log, submissions)
- ``reporting.py``: the reporting calendar from the contracts' cadence, and each period's state
- ``i18n.py`` and ``translations/``: the four languages, and problems explained in each
- ``templates/``, ``static/``: server-rendered pages and one stylesheet (no JavaScript)
"""
