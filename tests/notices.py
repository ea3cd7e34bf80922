"""SNS notifications in tests: a topic whose messages land in an SQS queue, read back."""

from __future__ import annotations

import json

import boto3


def topic_with_queue(name: str, region: str) -> tuple[str, str]:
    """An SNS topic whose messages land in an SQS queue: (topic ARN, queue URL)."""
    sns, sqs = boto3.client("sns", region_name=region), boto3.client("sqs", region_name=region)
    topic = sns.create_topic(Name=name)["TopicArn"]
    queue = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    return topic, queue


def notifications(queue: str, region: str) -> list[dict]:
    """The SNS envelopes (Subject, Message...) waiting in the queue, consumed."""
    sqs = boto3.client("sqs", region_name=region)
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    for message in messages:
        sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    return [json.loads(m["Body"]) for m in messages]
