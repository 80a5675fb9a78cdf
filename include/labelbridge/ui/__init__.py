"""labelbridge in the Airflow UI: the plugin (``plugin.py``) and the FastAPI app it mounts (``app.py``).

Shipped in the package and registered as the provider's plugin (``get_provider_info``'s ``plugins``
and the ``airflow.plugins`` entry point), so an installed labelbridge needs nothing in the plugins
folder. Importing this package imports nothing: Airflow loads plugins in every task process.
"""
