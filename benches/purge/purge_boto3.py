"""Delete stale connection records the way a team would script it with boto3: scan the table,
ask the gateway about each connection, delete the record conditionally when it is Gone.

  python3 purge_boto3.py loop MANAGEMENT DYNAMODB TABLE   # one record at a time
  python3 purge_boto3.py pool MANAGEMENT DYNAMODB TABLE   # ThreadPoolExecutor(64)

Prints {"deleted": N, "kept": N, "failed": N} as JSON; the benchmark times the whole process."""
import json
import sys
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.config import Config

mode, management, dynamodb, table = sys.argv[1:5]
settings = dict(
    region_name="us-east-1",
    aws_access_key_id="bench",
    aws_secret_access_key="bench",
    config=Config(max_pool_connections=64),
)
gateway = boto3.client("apigatewaymanagementapi", endpoint_url=management, **settings)
db = boto3.client("dynamodb", endpoint_url=dynamodb, **settings)


def records():
    pages = db.get_paginator("scan").paginate(TableName=table)
    for page in pages:
        yield from page["Items"]


def clean(item):
    connection_id = item["connection_id"]["S"]
    try:
        gateway.get_connection(ConnectionId=connection_id)
        return "kept"
    except gateway.exceptions.GoneException:
        pass
    except Exception:
        return "failed"
    try:
        db.delete_item(
            TableName=table,
            Key={"connection_id": item["connection_id"]},
            ConditionExpression="connection_id = :c",
            ExpressionAttributeValues={":c": item["connection_id"]},
        )
        return "deleted"
    except Exception:
        return "failed"


if mode == "loop":
    results = [clean(item) for item in records()]
else:
    with ThreadPoolExecutor(max_workers=64) as pool:
        results = list(pool.map(clean, records()))
print(json.dumps({k: results.count(k) for k in ("deleted", "kept", "failed")}))
