"""Scan pages come from a per-segment order kept per table: the same items as moto's own scan,
in AWS's order (partition key hash), in pages that examine at most PAGE_ITEMS items."""

from __future__ import annotations

import boto3
from boto3.dynamodb.conditions import Attr
from moto import mock_aws
from moto.dynamodb.models.table import Table

from localaws import scan_index



def pages(table, **kwargs):
    """Every page of a scan: (keys, count, scanned count, LastEvaluatedKey)."""
    out, start = [], {}
    while True:
        page = table.scan(**kwargs, **start)
        out.append(([(i["id"], i.get("type")) for i in page["Items"]], page["Count"], page["ScannedCount"],
                    page.get("LastEvaluatedKey")))
        if "LastEvaluatedKey" not in page:
            return out
        start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}


SCANS = [
    {},
    {"Limit": 40},
    {"Segment": 1, "TotalSegments": 4},
    {"Segment": 3, "TotalSegments": 4, "Limit": 9, "FilterExpression": Attr("type").begins_with("USER")},
    {"FilterExpression": Attr("n").gt(100), "ProjectionExpression": "id, #t", "ExpressionAttributeNames": {"#t": "type"}},
    {"ScanFilter": {"type": {"AttributeValueList": ["GROUP"], "ComparisonOperator": "EQ"}}},
]


def test_pages_equal_moto_scan_through_puts_updates_and_deletes(monkeypatch):
    # moto in this process: boto3 must not follow the session emulator's AWS_ENDPOINT_URL.
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    scan_index.install()
    with mock_aws():
        resource = boto3.resource("dynamodb", region_name="us-east-1")
        table = resource.create_table(
            TableName="s", BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}, {"AttributeName": "type", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("id", "type")],
        )
        # Big items, so that the 1 MB limit cuts pages too.
        with table.batch_writer() as batch:
            for i in range(450):
                batch.put_item(Item={"id": f"k{i % 150:03d}", "type": ("USER", "GROUP", "GROUP_MEMBER-x")[i // 150],
                                     "n": i, "blob": "x" * 3000})

        def compare():
            for kwargs in SCANS:
                fast = pages(table, **kwargs)
                monkeypatch.setattr(Table, "scan", Table.scan.moto_scan)
                try:
                    slow = pages(table, **kwargs)
                finally:
                    monkeypatch.undo()
                assert all(scanned <= scan_index.PAGE_ITEMS for _, _, scanned, _ in fast)
                fast_keys = [key for page in fast for key in page[0]]
                assert len(fast_keys) == len(set(fast_keys)), kwargs  # no item twice across pages
                assert sorted(fast_keys) == sorted(key for page in slow for key in page[0]), kwargs
                assert sum(page[2] for page in fast) == sum(page[2] for page in slow), kwargs
                if "Limit" in kwargs:
                    assert len(fast) > 1 and all(page[1] <= kwargs["Limit"] for page in fast)

        compare()
        table.delete_item(Key={"id": "k001", "type": "GROUP"})
        compare()
        table.put_item(Item={"id": "k075", "type": "NEW", "n": 5})  # a new key between existing ones
        table.update_item(Key={"id": "k000", "type": "USER"}, UpdateExpression="SET n = :n",
                          ExpressionAttributeValues={":n": 1000})
        table.update_item(Key={"id": "a-first", "type": "USER"}, UpdateExpression="SET n = :n",
                          ExpressionAttributeValues={":n": 1})  # an update that creates an item
        compare()
        table.delete_item(Key={"id": "k002", "type": "USER"})
        table.put_item(Item={"id": "k002", "type": "USER", "n": 2})  # deleted, then put back: listed once
        table.put_item(Item={"id": "k002", "type": "USER", "n": 3})  # and overwritten
        compare()
        keys = {key for page in pages(table) for key in page[0]}
        assert {("a-first", "USER"), ("k075", "NEW")} <= keys and ("k001", "GROUP") not in keys
        # AWS's order: partitions by key hash (moto: by key value); a partition's items together.
        ids = [key for page in pages(table) for key, _ in page[0]]
        assert ids != sorted(ids)
        assert [k for i, k in enumerate(ids) if i == 0 or ids[i - 1] != k] == list(dict.fromkeys(ids))
