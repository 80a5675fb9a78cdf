# The official Airflow image plus labelbridge and its pinned dependencies.
# Python 3.11 matches requirements.txt (resolved with --python-version 3.11); the plain
# apache/airflow:3.3.2 tag ships another Python.
ARG AIRFLOW_IMAGE=apache/airflow:3.3.2-python3.11
FROM ${AIRFLOW_IMAGE}

USER airflow
WORKDIR /opt/airflow/src
COPY --chown=airflow:0 requirements.txt pyproject.toml README.md ./
COPY --chown=airflow:0 include ./include
# The lock is a constraints file here: only labelbridge's own dependencies are installed, at the
# locked versions, and apache-airflow stays the image's 3.3.2 (the lock pins the same).
RUN pip install --no-cache-dir --constraint requirements.txt "apache-airflow==3.3.2" . \
    && labelbridge --help >/dev/null
WORKDIR /opt/airflow
