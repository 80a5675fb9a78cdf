"""Airflow hooks: the connection types labelbridge adds to Airflow (its UI form, its test button), and
``event_queues.py``: the queues bucket events arrive on (their triggers, receive and acknowledge).

Part of the Airflow layer, with ``operators/`` and ``cli/``: the library packages never import it.
"""
