"""The backup table: a DynamoDB (global) table in the retired solution's item format."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from boto3.dynamodb.table import BatchWriter
from botocore.config import Config
from botocore.exceptions import ClientError

from airflow.providers.amazon.aws.hooks.dynamodb import DynamoDBHook

from cognito_backup import items
from cognito_backup.hooks.client_config import NamedCaller, SharedModels, merged
from cognito_backup.hooks.plain_json import keep_raw, send_plain

KEY_SCHEMA = [{"AttributeName": "id", "KeyType": "HASH"}, {"AttributeName": "type", "KeyType": "RANGE"}]
SHARD_INDEX_SPEC = {
    "IndexName": items.SHARD_INDEX,
    "KeySchema": [{"AttributeName": "shardKey", "KeyType": "HASH"}, {"AttributeName": "id", "KeyType": "RANGE"}],
    # Only what reconciling needs: keys and the content digest, not user data.
    "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["digest"]},
}
# Staged deletions: at most about this much of a 400 KB DynamoDB item, kept a week at most.
STAGED_CHUNK_BYTES = 100_000
STAGED_TTL_SECONDS = 7 * 86_400
BATCH_GET_KEYS = 100  # DynamoDB's limit for one BatchGetItem
# Index partitions a task reads at once for its listings' stored digests: within the client's
# connection pool (max_pool_connections), whether one listing reads them or eight share them.
DIGEST_READERS = 8


class Batch:
    """`put_item` / `delete_item` of plain items, on a BatchWriter of the plain client."""

    def __init__(self, writer: BatchWriter) -> None:
        self.writer = writer

    def put_item(self, Item: dict[str, Any]) -> None:  # noqa: N803 (boto3's spelling)
        self.writer.put_item(Item=items.to_dynamodb(Item))

    def delete_item(self, Key: dict[str, Any]) -> None:  # noqa: N803
        self.writer.delete_item(Key=items.to_dynamodb(Key))


class TableMissingError(LookupError):
    """The backup table does not exist in this Region."""


class BackupTableHook(NamedCaller, SharedModels, DynamoDBHook):
    """
    Read and write a Cognito backup table.

    Builds on :class:`~airflow.providers.amazon.aws.hooks.dynamodb.DynamoDBHook`: batch writes
    go through boto3's ``batch_writer`` (25-item ``BatchWriteItem`` calls, unprocessed items
    retried). Items are encoded and decoded by :mod:`cognito_backup.items`.

    :param table_name: the backup table.
    :param caller: the operator's class name, for the user agent.
    """

    def __init__(self, table_name: str, *args, **kwargs) -> None:
        super().__init__(*args, table_name=table_name, table_keys=["id", "type"], **kwargs)

    def _get_config(self, config: Config | None = None) -> Config:
        # Several threads of a task share the client: give them connections. Items come from
        # our codec and boto3's serializer checks their types, so botocore's own validation of
        # each request (about 40% of the CPU a batch write costs) is skipped.
        defaults = Config(max_pool_connections=32, retries={"mode": "standard"}, parameter_validation=False)
        return merged(defaults, super()._get_config(config))

    @cached_property
    def table(self):
        return self.get_conn().Table(self.table_name)

    @cached_property
    def plain_client(self):
        """A DynamoDB client without the resource layer: it takes and returns DynamoDB JSON.

        Used where the export spends its CPU: batch writes of items from `items.to_dynamodb`,
        and the digest reads, both as plain JSON (`hooks/plain_json.py`). The resource's client
        deep-copies and converts every request and answer (boto3's TypeSerializer and
        TypeDeserializer), about half of a first export's task CPU (profiled).
        """
        meta = self.client.meta
        session = self.get_session(region_name=self.region_name)
        keep_raw(session, frozenset({"QueryOutput"}))  # digests: DynamoDB JSON, as botocore would give it
        client = session.client(
            "dynamodb", region_name=meta.region_name, endpoint_url=meta.endpoint_url, config=self._get_config(None),
            verify=self.verify,
        )
        # Batch writes only ever carry the codec's DynamoDB JSON (`Batch`).
        return send_plain(client, frozenset({"BatchWriteItem"}))

    @property
    def waiter_path(self) -> Path:
        return Path(__file__).parents[1] / "waiters" / "dynamodb.json"

    # Table management

    def describe(self) -> dict[str, Any]:
        try:
            return self.client.describe_table(TableName=self.table_name)["Table"]
        except ClientError as err:
            if err.response["Error"]["Code"] == "ResourceNotFoundException":
                raise TableMissingError(
                    f"backup table {self.table_name} does not exist in {self.region_name}"
                ) from err
            raise

    def create(self, kms_key_id: str | None = None) -> None:
        """Create the table in this Region: on demand, encrypted, streamed, with the shard index."""
        sse: dict[str, Any] = {"Enabled": True}
        if kms_key_id:
            sse.update(SSEType="KMS", KMSMasterKeyId=kms_key_id)
        self.client.create_table(
            TableName=self.table_name,
            KeySchema=KEY_SCHEMA,
            AttributeDefinitions=[
                {"AttributeName": "id", "AttributeType": "S"},
                {"AttributeName": "type", "AttributeType": "S"},
                {"AttributeName": "shardKey", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
            GlobalSecondaryIndexes=[SHARD_INDEX_SPEC],
            SSESpecification=sse,
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
            Tags=[{"Key": "app", "Value": "cognito-backup"}],
        )

    def wait_until_active(self) -> None:
        self.client.get_waiter("table_exists").wait(
            TableName=self.table_name, WaiterConfig={"Delay": 2, "MaxAttempts": 300}
        )

    def enable_point_in_time_recovery(self) -> None:
        self.client.update_continuous_backups(
            TableName=self.table_name,
            PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
        )

    def enable_ttl(self) -> None:
        """Expire the rate limiter's schedule items."""
        try:
            self.client.update_time_to_live(
                TableName=self.table_name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiresAt"},
            )
        except ClientError as err:
            # Already enabled: DynamoDB refuses to set the same TTL twice.
            if err.response["Error"]["Code"] != "ValidationException":
                raise

    def point_in_time_recovery(self) -> dict[str, Any]:
        """The table's `PointInTimeRecoveryDescription` in this Region (status, restorable window)."""
        try:
            backups = self.client.describe_continuous_backups(TableName=self.table_name)["ContinuousBackupsDescription"]
        except ClientError as err:
            if err.response["Error"]["Code"] in ("TableNotFoundException", "ResourceNotFoundException"):
                raise TableMissingError(f"backup table {self.table_name} does not exist in {self.region_name}") from err
            raise
        return backups.get("PointInTimeRecoveryDescription") or {"PointInTimeRecoveryStatus": "DISABLED"}

    def restore_to_point_in_time(self, target_table_name: str, restore_time: datetime) -> dict[str, Any]:
        """Restore this table as it was at `restore_time` into a new table of this Region."""
        return self.client.restore_table_to_point_in_time(
            SourceTableName=self.table_name, TargetTableName=target_table_name, RestoreDateTime=restore_time,
        )["TableDescription"]

    def drop(self) -> None:
        """Delete this table (a table restored for one import, never the backup itself)."""
        self.client.delete_table(TableName=self.table_name)

    def add_replica(self, region: str) -> None:
        self.client.update_table(
            TableName=self.table_name, ReplicaUpdates=[{"Create": {"RegionName": region}}]
        )

    def add_shard_index(self) -> None:
        """Add the shard index to a table made elsewhere (the retired solution's, for one)."""
        self.client.update_table(
            TableName=self.table_name,
            AttributeDefinitions=[{"AttributeName": "shardKey", "AttributeType": "S"}],
            GlobalSecondaryIndexUpdates=[{"Create": SHARD_INDEX_SPEC}],
        )

    # Reading what the table holds

    @staticmethod
    def _items(read, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Every item of a paged Query or Scan."""
        while True:
            page = read(**kwargs)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _query(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        return self._items(self.table.query, **kwargs)

    def _digests(self, key: str, condition: str, values: dict[str, str], **kwargs: Any) -> Iterator[tuple[str, str]]:
        """(key attribute, digest) of the items a Query finds, read with the plain client."""
        kwargs.update(TableName=self.table_name, KeyConditionExpression=condition,
                      ExpressionAttributeValues={name: {"S": value} for name, value in values.items()})
        for item in self._items(self.plain_client.query, **kwargs):
            yield item[key]["S"], item.get("digest", {}).get("S", "")

    def stored_user_digests(self, sub_prefix: str, readers: int = 1) -> Iterator[tuple[str, str]]:
        """(sub, digest) of the stored users whose sub starts with `sub_prefix`, from the index.

        A short prefix spans many index partitions (256 for the whole pool): `readers` of them are
        read at once, since each Query is a round trip and a listing waits for them all.
        """
        prefixes = [sub_prefix]
        while len(prefixes[0]) < items.USER_SHARD_PREFIX_LEN:
            prefixes = [p + h for p in prefixes for h in items.HEX]

        def partition(prefix: str) -> Iterator[tuple[str, str]]:
            condition, values = "shardKey = :shard", {":shard": items.user_shard_key(prefix)}
            if len(prefix) > items.USER_SHARD_PREFIX_LEN:
                condition += " AND begins_with(id, :id)"
                values[":id"] = f"USER-{prefix}"
            for user_id, digest in self._digests("id", condition, values, IndexName=items.SHARD_INDEX):
                yield user_id.removeprefix("USER-"), digest

        if len(prefixes) == 1 or readers <= 1:
            for prefix in prefixes:
                yield from partition(prefix)
            return
        _ = self.plain_client  # one client for the readers, made before they share it
        with ThreadPoolExecutor(max_workers=min(readers, len(prefixes))) as pool:
            for found in pool.map(lambda prefix: list(partition(prefix)), prefixes):
                yield from found

    def stored_group_digests(self) -> Iterator[tuple[str, str]]:
        found = self._digests("id", "shardKey = :shard", {":shard": items.GROUPS_SHARD}, IndexName=items.SHARD_INDEX)
        for group_id, digest in found:
            yield group_id.removeprefix("GROUP-"), digest

    def stored_membership_digests(self, group: str) -> Iterator[tuple[str, str]]:
        """(sub, digest) of a group's membership items, read consistently: the group's member set
        (`put_member_sets`) is written from them, and then trusted instead of them."""
        found = self._digests("type", "id = :group AND begins_with(#t, :member)",
                              {":group": items.Membership.partition(group), ":member": items.MEMBERSHIP_PREFIX},
                              ProjectionExpression="#t, digest", ExpressionAttributeNames={"#t": "type"},
                              ConsistentRead=True)
        for member_type, digest in found:
            yield member_type.removeprefix(items.MEMBERSHIP_PREFIX), digest

    def members(self, group: str) -> Iterator[items.Membership]:
        condition = self._in_partition(items.Membership.partition(group), items.MEMBERSHIP_PREFIX)
        for item in self._query(KeyConditionExpression=condition):
            yield items.Membership.from_item(item)

    def stored_member_sets(self, groups: Sequence[str]) -> dict[str, str]:
        """Each group's member set digest (`items.member_set_item`), for the groups that have one.

        Read consistently, 100 groups a call: a set forgotten before its group's items changed
        (`forget_member_set`) is never seen again.
        """
        found: dict[str, str] = {}
        for start in range(0, len(groups), BATCH_GET_KEYS):
            keys = [{"id": {"S": items.Membership.partition(g)}, "type": {"S": items.MEMBER_SET}}
                    for g in groups[start:start + BATCH_GET_KEYS]]
            request = {self.table_name: {"Keys": keys, "ConsistentRead": True, "ProjectionExpression": "id, digest"}}
            for attempt in itertools.count():
                answer = self.plain_client.batch_get_item(RequestItems=request)
                for item in answer.get("Responses", {}).get(self.table_name, []):
                    found[item["id"]["S"].removeprefix(items.MEMBERSHIP_PREFIX)] = item.get("digest", {}).get("S", "")
                request = answer.get("UnprocessedKeys") or {}
                if not request:
                    break
                time.sleep(min(1.0, 0.05 * 2 ** attempt))  # unprocessed keys: the table is busy
        return found

    def scan(self, segment: int = 0, total_segments: int = 1, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Every item of one scan segment (the import reads the whole table this way)."""
        return self._items(self.table.scan, Segment=segment, TotalSegments=total_segments, **kwargs)

    def legacy_items(self) -> Iterator[dict[str, Any]]:
        """Items the shard index cannot see: written by the retired solution, or by hand."""
        return self.scan(FilterExpression=Attr("shardKey").not_exists() & ~Attr("type").begins_with(items.MEMBERSHIP))

    # Writing

    @contextmanager
    def writer(self, unique_keys: bool = False) -> Iterator[Batch]:
        """boto3's ``BatchWriter``: puts and deletes in 25-item batches, unprocessed items retried.

        On the plain client: the codec's items go as DynamoDB JSON (`items.to_dynamodb`).

        :param unique_keys: the caller writes each key once (a listing's `Reconciler` sees to it),
            so the writer need not compare each item's key with those of its batch (DynamoDB
            refuses a batch that names a key twice): 5 of the 18 microseconds an item costs.
        """
        dedupe = None if unique_keys else self.table_keys
        with BatchWriter(self.table_name, self.plain_client, overwrite_by_pkeys=dedupe) as batch:
            yield Batch(batch)

    def get(self, item_id: str, item_type: str) -> dict[str, Any] | None:
        return self.table.get_item(Key={"id": item_id, "type": item_type}, ConsistentRead=True).get("Item")

    def put(self, item: dict[str, Any]) -> None:
        self.table.put_item(Item=item)

    def delete(self, item_id: str, item_type: str) -> None:
        self.table.delete_item(Key={"id": item_id, "type": item_type})

    def put_member_sets(self, sets: Iterable[tuple[str, str]]) -> None:
        """Store (group, member set digest) pairs: only once the group's items are all written."""
        with self.writer(unique_keys=True) as batch:
            for group, members_digest in sets:
                batch.put_item(Item=items.member_set_item(group, members_digest))

    def forget_member_set(self, group: str) -> None:
        """Delete a group's member set: before any of its membership items is written or deleted."""
        self.plain_client.delete_item(TableName=self.table_name, Key={
            "id": {"S": items.Membership.partition(group)}, "type": {"S": items.MEMBER_SET}})

    def forget_member_sets(self, groups: Iterable[str]) -> None:
        """`forget_member_set` of several groups, in batches; all deleted when it returns."""
        with self.writer(unique_keys=True) as batch:
            for group in sorted(set(groups)):
                batch.delete_item(Key={"id": items.Membership.partition(group), "type": items.MEMBER_SET})

    @staticmethod
    def _in_partition(partition: str, type_prefix: str) -> Any:
        """The key condition of a partition's items whose type begins with `type_prefix`."""
        condition = Key("id").eq(partition)
        return condition & Key("type").begins_with(type_prefix) if type_prefix else condition

    def count_partition(self, partition: str, type_prefix: str = "") -> int:
        """How many items one partition holds (a group's memberships: `type_prefix`), keys read only."""
        kwargs: dict[str, Any] = {"KeyConditionExpression": self._in_partition(partition, type_prefix),
                                  "Select": "COUNT"}
        count = 0
        while True:
            page = self.table.query(**kwargs)
            count += int(page.get("Count", 0))
            if "LastEvaluatedKey" not in page:
                return count
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def delete_partition(self, partition: str, type_prefix: str = "") -> int:
        """Delete every item of one partition (a removed group's memberships: `type_prefix`)."""
        deleted = 0
        with self.writer() as batch:
            for item in self._query(KeyConditionExpression=self._in_partition(partition, type_prefix),
                                    ProjectionExpression="id, #t", ExpressionAttributeNames={"#t": "type"}):
                batch.delete_item(Key={"id": item["id"], "type": item["type"]})
                deleted += 1
        return deleted

    # Deletions staged until the run's guard decides

    def stage_deletions(self, run_key: str, scope: str, keys: list[tuple[str, str]],
                        partitions: list[str] = (), retried: bool = False) -> int:
        """Keep what one task found gone (item keys, whole partitions) for the run's decision.

        Written as items of the run's partition, at most ~100 KB each; chunk 0, written last,
        says how many chunks the scope has, so that a retried task's shorter list replaces a
        longer one. Expire after a week if the run never decides. Returns the items written.
        """
        partition = items.staged_partition(run_key)
        if not keys and not partitions:
            if retried:  # an earlier try may have staged something
                self.delete(partition, items.staged_type(scope, 0))
            return 0
        chunks: list[dict[str, Any]] = []
        current: dict[str, Any] = {"keys": [], "partitions": []}
        size = 0
        for field, values in (("partitions", list(partitions)), ("keys", [list(k) for k in keys])):
            for value in values:
                length = len(json.dumps(value))
                if size + length > STAGED_CHUNK_BYTES and (current["keys"] or current["partitions"]):
                    chunks.append(current)
                    current, size = {"keys": [], "partitions": []}, 0
                current[field].append(value)
                size += length
        chunks.append(current)
        expires = int(time.time()) + STAGED_TTL_SECONDS
        for number in [*range(1, len(chunks)), 0]:
            item = {"id": partition, "type": items.staged_type(scope, number), "expiresAt": expires,
                    **{k: v for k, v in chunks[number].items() if v}}
            if number == 0:
                item["chunks"] = len(chunks)
            self.put(item)
        return len(chunks)

    def staged_deletions(self, run_key: str) -> Iterator[dict[str, Any]]:
        """The valid chunks staged for a run: each with `keys` ([id, type] pairs) and `partitions`."""
        by_scope: dict[str, list[dict[str, Any]]] = {}
        for item in self._query(KeyConditionExpression=Key("id").eq(items.staged_partition(run_key)),
                                ConsistentRead=True):
            scope, number = item["type"].removeprefix(items.STAGED_DELETIONS + "#").rsplit("#", 1)
            by_scope.setdefault(scope, []).append({**item, "number": int(number)})
        for chunks in by_scope.values():
            first = next((c for c in chunks if c["number"] == 0), None)
            if first is None:
                continue  # a task that staged nothing in its latest try
            for chunk in chunks:
                if chunk["number"] < int(first["chunks"]):
                    yield {"keys": chunk.get("keys", []), "partitions": chunk.get("partitions", [])}

    def drop_staged_deletions(self, run_key: str) -> int:
        return self.delete_partition(items.staged_partition(run_key))

    # Manifest and pool snapshot

    def get_manifest(self) -> items.Manifest | None:
        item = self.get(items.MANIFEST_ID, items.MANIFEST)
        if item is None:
            # Tables of the retired solution: the timestamp item's type carries a suffix.
            found = self._query(KeyConditionExpression=Key("id").eq(items.MANIFEST_ID))
            item = next((i for i in found if items.kind_of(i) == items.MANIFEST), None)
        return items.Manifest.from_item(item) if item else None

    def put_manifest(self, manifest: items.Manifest) -> None:
        self.put(manifest.to_item(self.region_name))

    def get_snapshot(self) -> dict[str, Any] | None:
        item = self.get(items.SNAPSHOT_ID, items.SNAPSHOT)
        return json.loads(item["snapshot"]) if item else None

    def put_snapshot(self, snapshot: dict[str, Any], taken_at: int) -> bool:
        """Store the pool snapshot; write only when it changed. True when written."""
        body = json.dumps(snapshot, sort_keys=True, default=str)
        current = self.get(items.SNAPSHOT_ID, items.SNAPSHOT)
        if current and current.get("digest") == items.digest(body):
            return False
        self.put({
            "id": items.SNAPSHOT_ID, "type": items.SNAPSHOT, "snapshot": body,
            "digest": items.digest(body), "takenAt": taken_at, "lastUpdatedRegion": self.region_name,
        })
        return True

    # Used by the import (appended; the methods above keep their behaviour)

    def scan_kind(self, kind: str, segment: int = 0, total_segments: int = 1) -> Iterator[dict[str, Any]]:
        """Items of one kind (`items.USER`, `GROUP` or `GROUP_MEMBER`), in either `type` form, of one scan segment."""
        prefix = items.MEMBERSHIP + "-" if kind == items.MEMBERSHIP else kind
        for item in self.scan(segment, total_segments, FilterExpression=Attr("type").begins_with(prefix)):
            if items.kind_of(item) == kind:
                yield item

    def item_count(self) -> int:
        """DynamoDB's estimate of the table's item count (refreshed about every six hours)."""
        return int(self.describe().get("ItemCount", 0))
