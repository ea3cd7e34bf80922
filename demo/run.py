"""`make demo`: the whole backup-and-restore story on the local emulator.

1. start `localaws` and seed a user pool in us-east-1;
2. run the export DAG, with a replica of the backup table in us-west-2, and print the manifest;
3. restore from the us-west-2 replica into a new pool there, and print the verification report.

Airflow's own task logs go to .demo/airflow.log; this prints only the story.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import boto3
import yaml

from localaws.testing import Emulator

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".demo"
PRIMARY, BACKUP = "us-east-1", "us-west-2"
TABLE = "cognito-backup-demo"


def airflow(*args: str, env: dict[str, str], log) -> int:
    """Run the Airflow CLI with the project's home and DAGs; its output goes to the log file."""
    return subprocess.run([str(Path(sys.executable).parent / "airflow"), *args], env=env,
                          stdout=log, stderr=subprocess.STDOUT, check=False).returncode


def show(title: str, data) -> None:
    print(f"\n== {title}")
    print(json.dumps(data, indent=2, default=str))


def main() -> int:
    WORK.mkdir(exist_ok=True)
    with Emulator.start(request_log=str(WORK / "requests.jsonl")) as aws, open(WORK / "airflow.log", "w") as log:
        env = {**os.environ, **aws.env(PRIMARY), "COGNITO_BACKUP_CONFIG": str(WORK / "backups.yaml")}
        os.environ.update(aws.env(PRIMARY))
        print(f"localaws running at {aws.endpoint}")

        pool_id = aws.seed(PRIMARY, users=2000, groups=20, federated=3, seed=42)
        cognito = boto3.client("cognito-idp", region_name=PRIMARY)
        estimate = cognito.describe_user_pool(UserPoolId=pool_id)["UserPool"].get("EstimatedNumberOfUsers")
        print(f"Seeded pool {pool_id} in {PRIMARY}: about {estimate} users (3 federated), 20 groups")

        (WORK / "backups.yaml").write_text(yaml.safe_dump({"backups": [{
            "name": "demo", "user_pool_id": pool_id, "region": PRIMARY, "table_name": TABLE,
            "backup_regions": [BACKUP], "cognito_tps": 25, "retries": 1, "retry_delay_seconds": 5,
        }]}))
        print("\nExporting (DAG cognito_export_demo) ...")
        started = time.monotonic()
        if airflow("dags", "test", "cognito_export_demo", env=env, log=log):
            print(f"export failed: see {WORK / 'airflow.log'}")
            return 1
        table = boto3.resource("dynamodb", region_name=PRIMARY).Table(TABLE)
        manifest = table.get_item(Key={"id": "latest-export-timestamp", "type": "SYNC_TIMESTAMP"})["Item"]
        show(f"Export manifest ({time.monotonic() - started:.0f} s)",
             {k: int(v) for k, v in manifest["counts"].items()})
        replicas = boto3.client("dynamodb", region_name=PRIMARY).describe_table(TableName=TABLE)["Table"]["Replicas"]
        print(f"Replicas: {[(r['RegionName'], r['ReplicaStatus']) for r in replicas]}")

        print(f"\nRestoring from the {BACKUP} replica into a new pool in {BACKUP} (DAG cognito_import) ...")
        boto3.client("s3", region_name=BACKUP).create_bucket(
            Bucket="cognito-restore-reports", CreateBucketConfiguration={"LocationConstraint": BACKUP})
        conf = {"backup_table": TABLE, "table_region": BACKUP, "target_region": BACKUP,
                "create_target_pool": True, "cognito_tps": 25,
                "report_s3_uri": "s3://cognito-restore-reports/demo"}
        # CSV import jobs write their logs to CloudWatch through this role.
        env["AIRFLOW_VAR_COGNITO_IMPORT_ROLE_ARN"] = "arn:aws:iam::123456789012:role/CognitoImportLogs"
        started = time.monotonic()
        code = airflow("dags", "test", "cognito_import", "--conf", json.dumps(conf), env=env, log=log)
        s3 = boto3.client("s3", region_name=BACKUP)
        # One folder per run under the report prefix: <prefix>/<run id>/report.json.
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket="cognito-restore-reports", Prefix="demo/").get("Contents", [])
                if o["Key"].endswith("/report.json")]
        if keys:
            report = json.loads(s3.get_object(Bucket="cognito-restore-reports", Key=keys[0])["Body"].read())
            show(f"Verification report ({time.monotonic() - started:.0f} s), at s3://cognito-restore-reports/{keys[0]}",
                 {k: v for k, v in report.items() if k not in ("differences",)})
            print(f"Differences: {len(report.get('differences') or [])}")
        if code:
            print(f"import failed: see {WORK / 'airflow.log'}")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
