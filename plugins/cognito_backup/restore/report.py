"""The import's report: a JSON summary and the old-sub to new-sub map, written to `report_s3_uri`.

Only these S3 objects hold per-user information (pseudo-identifiers, and subs in the map);
logs, XCom and notifications get counts.
"""

from __future__ import annotations

import csv
import json
import os
import re
import tempfile
from collections.abc import Iterable
from typing import Any

from airflow.providers.amazon.aws.hooks.s3 import S3Hook

S3_URI = re.compile(r"^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:/(.*))?$")
REPORT_NAME = "report.json"
MAPPING_NAME = "sub-map.csv"
MAPPING_HEADER = ("user_ref", "old_sub", "new_sub")


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """(bucket, key prefix without a trailing slash)."""
    match = S3_URI.match(uri or "")
    if not match:
        raise ValueError("report_s3_uri must look like s3://bucket/prefix")
    return match.group(1), (match.group(2) or "").strip("/")


def run_folder(run_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", run_id)


def summary(counts: dict[str, Any]) -> str:
    """A log line of counts."""
    return ", ".join(f"{k}={v}" for k, v in sorted(counts.items()) if isinstance(v, (int, float, bool)))


class ReportWriter:
    """Writes one run's report objects under `<report_s3_uri>/<run id>/`."""

    def __init__(self, s3_uri: str, run_id: str, aws_conn_id: str | None) -> None:
        self.bucket, prefix = parse_s3_uri(s3_uri)
        self.prefix = "/".join(p for p in (prefix, run_folder(run_id)) if p)
        self.hook = S3Hook(aws_conn_id=aws_conn_id)

    def uri(self, name: str) -> str:
        return f"s3://{self.bucket}/{self.prefix}/{name}"

    def write_report(self, report: dict[str, Any]) -> str:
        body = json.dumps(report, indent=1, sort_keys=True, ensure_ascii=False, default=str)
        self.hook.load_string(body, key=f"{self.prefix}/{REPORT_NAME}", bucket_name=self.bucket, replace=True)
        return self.uri(REPORT_NAME)

    def write_mapping(self, rows: Iterable[tuple[str, str, str]]) -> tuple[str, int]:
        """Stream the map through a temporary file; returns its URI and row count."""
        fd, path = tempfile.mkstemp(prefix="cognito-sub-map-", suffix=".csv")
        count = 0
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
                writer = csv.writer(out)
                writer.writerow(MAPPING_HEADER)
                for row in rows:
                    writer.writerow(row)
                    count += 1
            self.hook.load_file(path, key=f"{self.prefix}/{MAPPING_NAME}", bucket_name=self.bucket, replace=True)
        finally:
            os.unlink(path)
        return self.uri(MAPPING_NAME), count
