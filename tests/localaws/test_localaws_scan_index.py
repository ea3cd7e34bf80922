"""Scan pages come from a per-segment key order: the same items as moto's own scan, in pages
that examine at most PAGE_ITEMS items."""

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
                if "Limit" in kwargs:  # pages shorter than PAGE_ITEMS: exactly moto's
                    assert fast == slow, kwargs
                    assert len(fast) > 1
                else:
                    assert [key for page in fast for key in page[0]] == [key for page in slow for key in page[0]]
                    assert sum(page[2] for page in fast) == sum(page[2] for page in slow), kwargs

        compare()
        table.delete_item(Key={"id": "k001", "type": "GROUP"})
        compare()
        table.put_item(Item={"id": "k075", "type": "NEW", "n": 5})  # a new key between existing ones
        table.update_item(Key={"id": "k000", "type": "USER"}, UpdateExpression="SET n = :n",
                          ExpressionAttributeValues={":n": 1000})
        table.update_item(Key={"id": "a-first", "type": "USER"}, UpdateExpression="SET n = :n",
                          ExpressionAttributeValues={":n": 1})  # an update that creates an item
        compare()
        keys = {key for page in pages(table) for key in page[0]}
        assert {("a-first", "USER"), ("k075", "NEW")} <= keys and ("k001", "GROUP") not in keys
