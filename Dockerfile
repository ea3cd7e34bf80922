# The Airflow image for these DAGs: the official image of the Airflow and Python versions
# tested (constraints.txt, Makefile), the pinned providers, the DAGs and the plugin package.
FROM apache/airflow:3.3.2-python3.11

COPY requirements.txt constraints.txt /opt/cognito-backup/
# apache-airflow is named so that pip can never move the image's own Airflow. constraints.txt
# pins a botocore newer than any aiobotocore supports, so the image's aiobotocore goes: long
# waits (an import job, a restored table, new replicas) still defer to the triggerer, whose
# triggers poll with the synchronous client in a thread, as tested (tests/ui/test_long_waits.py).
RUN pip install --no-cache-dir "apache-airflow==3.3.2" \
        -r /opt/cognito-backup/requirements.txt -c /opt/cognito-backup/constraints.txt \
    && pip uninstall --yes aiobotocore \
    && mkdir -p /opt/airflow/logs

# Read-only for the airflow user. The example config is the default when COGNITO_BACKUP_CONFIG is unset.
COPY dags/ /opt/airflow/dags/
COPY plugins/ /opt/airflow/plugins/
COPY include/config/ /opt/airflow/include/config/
