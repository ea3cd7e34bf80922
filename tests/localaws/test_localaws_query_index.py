"""Queries are answered from their partition or index key, with moto's results unchanged."""

from __future__ import annotations

from boto3.dynamodb.conditions import Key


def test_index_and_table_queries_see_puts_updates_and_deletes(aws):
    import boto3

    resource = boto3.resource("dynamodb", region_name="us-east-1", endpoint_url=aws.endpoint,
                              aws_access_key_id="testing", aws_secret_access_key="testing")
    resource.create_table(
        TableName="q", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}, {"AttributeName": "type", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("id", "type", "shard")],
        GlobalSecondaryIndexes=[{"IndexName": "byShard", "Projection": {"ProjectionType": "KEYS_ONLY"},
                                 "KeySchema": [{"AttributeName": "shard", "KeyType": "HASH"},
                                               {"AttributeName": "id", "KeyType": "RANGE"}]}],
    )
    table = resource.Table("q")
    with table.batch_writer() as batch:
        for i in range(300):
            batch.put_item(Item={"id": f"P{i % 7}", "type": f"T{i:03d}", "shard": f"S{i % 5}"})
    table.update_item(Key={"id": "P0", "type": "new"}, UpdateExpression="SET #s = :s", ExpressionAttributeNames={"#s": "shard"},
                      ExpressionAttributeValues={":s": "S9"})
    table.update_item(Key={"id": "P1", "type": "T001"}, UpdateExpression="SET #s = :s", ExpressionAttributeNames={"#s": "shard"},
                      ExpressionAttributeValues={":s": "S9"})
    table.delete_item(Key={"id": "P2", "type": "T002"})

    def query(**kwargs):
        return {(i["id"], i["type"]) for i in table.query(**kwargs)["Items"]}

    everything = {(i["id"], i["type"], i.get("shard"))
                  for page in resource.meta.client.get_paginator("scan").paginate(TableName="q")
                  for i in page["Items"]}
    assert len(everything) == 300
    for shard in ("S0", "S1", "S2", "S9"):
        expected = {(a, b) for a, b, s in everything if s == shard}
        assert query(IndexName="byShard", KeyConditionExpression=Key("shard").eq(shard)) == expected
    assert query(IndexName="byShard", KeyConditionExpression=Key("shard").eq("S9")) == {("P0", "new"), ("P1", "T001")}
    assert query(KeyConditionExpression=Key("id").eq("P3")) == {(a, b) for a, b, _ in everything if a == "P3"}
    assert query(KeyConditionExpression=Key("id").eq("P3") & Key("type").begins_with("T01")) == {
        (a, b) for a, b, _ in everything if a == "P3" and b.startswith("T01")}
    assert query(KeyConditionExpression=Key("id").eq("nothing")) == set()


def test_query_results_are_not_the_stored_items(aws, dynamodb):
    """moto's copy of the results is skipped: projecting and paging must leave the table as it was."""
    dynamodb.create_table(
        TableName="p", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}, {"AttributeName": "type", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("id", "type")],
    )
    item = {"id": {"S": "P"}, "digest": {"S": "d"}, "attrs": {"L": [{"M": {"Name": {"S": "n"}, "Value": {"S": "v"}}}]}}
    for i in range(5):
        dynamodb.put_item(TableName="p", Item={**item, "type": {"S": f"T{i}"}})
    projected = dynamodb.query(TableName="p", KeyConditionExpression="id = :p", ProjectionExpression="#t, digest",
                               ExpressionAttributeNames={"#t": "type"}, ExpressionAttributeValues={":p": {"S": "P"}},
                               Limit=2)
    assert [sorted(i) for i in projected["Items"]] == [["digest", "type"], ["digest", "type"]]
    full = dynamodb.query(TableName="p", KeyConditionExpression="id = :p", ExpressionAttributeValues={":p": {"S": "P"}})
    assert [i["attrs"] for i in full["Items"]] == [item["attrs"]] * 5


def test_local_index_queries_read_the_partition(aws, dynamodb):
    dynamodb.create_table(
        TableName="l", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}, {"AttributeName": "type", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("id", "type", "status")],
        LocalSecondaryIndexes=[{"IndexName": "byStatus", "Projection": {"ProjectionType": "ALL"},
                                "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"},
                                              {"AttributeName": "status", "KeyType": "RANGE"}]}],
    )
    for i in range(6):
        dynamodb.put_item(TableName="l", Item={"id": {"S": f"P{i % 2}"}, "type": {"S": f"T{i}"}, "status": {"S": f"S{i % 3}"}})
    found = dynamodb.query(TableName="l", IndexName="byStatus", KeyConditionExpression="id = :p AND #s = :s",
                           ExpressionAttributeNames={"#s": "status"},
                           ExpressionAttributeValues={":p": {"S": "P0"}, ":s": {"S": "S1"}})["Items"]
    assert [i["type"]["S"] for i in found] == ["T4"]
    whole = dynamodb.query(TableName="l", IndexName="byStatus", KeyConditionExpression="id = :p",
                           ExpressionAttributeValues={":p": {"S": "P1"}})["Items"]
    assert [i["status"]["S"] for i in whole] == ["S0", "S1", "S2"]  # in the index's sort order


def test_index_queries_page_in_the_index_order(aws, dynamodb):
    """Results come sorted by the index's range key, then the table's keys, page after page and
    backwards: numbers by value, ties on the index key by the table key."""
    dynamodb.create_table(
        TableName="o", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}, {"AttributeName": "type", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}, {"AttributeName": "type", "AttributeType": "S"},
                              {"AttributeName": "shard", "AttributeType": "S"}, {"AttributeName": "rank", "AttributeType": "N"}],
        GlobalSecondaryIndexes=[{"IndexName": "byRank", "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["d"]},
                                 "KeySchema": [{"AttributeName": "shard", "KeyType": "HASH"},
                                               {"AttributeName": "rank", "KeyType": "RANGE"}]}],
    )
    stored = []
    for i in range(60):  # written out of order; ranks 0..19, three items each
        key = (f"P{(i * 37) % 60:02d}", f"T{i % 2}", (i * 7) % 20)
        stored.append(key)
        dynamodb.put_item(TableName="o", Item={"id": {"S": key[0]}, "type": {"S": key[1]}, "shard": {"S": "A"},
                                               "rank": {"N": str(key[2])}, "d": {"S": "x"}, "other": {"S": "y"}})
    expected = sorted(stored, key=lambda k: (k[2], k[0], k[1]))

    def paged(forward: bool) -> list[tuple[str, str, int]]:
        found, start = [], {}
        while True:
            page = dynamodb.query(TableName="o", IndexName="byRank", KeyConditionExpression="shard = :s",
                                  ExpressionAttributeValues={":s": {"S": "A"}}, Limit=7, ScanIndexForward=forward, **start)
            assert all(set(i) == {"id", "type", "shard", "rank", "d"} for i in page["Items"])
            found += [(i["id"]["S"], i["type"]["S"], int(i["rank"]["N"])) for i in page["Items"]]
            if "LastEvaluatedKey" not in page:
                return found
            start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}

    assert paged(True) == expected
    assert paged(False) == expected[::-1]
