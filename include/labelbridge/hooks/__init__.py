"""Airflow hooks: the connection types labelbridge adds to Airflow (its UI form, its test button).

Part of the Airflow layer, with ``operators/`` and ``cli/``: the library packages never import it.
"""
