"""Push one message to every connection id in a file with boto3, the way a team would.

  python3 push_boto3.py loop ENDPOINT IDS_FILE   # the guide's loop (§3.2): one call at a time
  python3 push_boto3.py pool ENDPOINT IDS_FILE   # ThreadPoolExecutor(64), one shared client

Prints {"delivered": N, "failed": N} as JSON; the benchmark times the whole process."""
import json
import sys
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.config import Config

mode, endpoint, ids_file = sys.argv[1], sys.argv[2], sys.argv[3]
ids = [line.strip() for line in open(ids_file) if line.strip()]
client = boto3.client(
    "apigatewaymanagementapi",
    endpoint_url=endpoint,
    region_name="us-east-1",
    aws_access_key_id="bench",
    aws_secret_access_key="bench",
    config=Config(max_pool_connections=64),
)
payload = json.dumps({"type": "heartbeat"}).encode()


def push(connection_id):
    try:
        client.post_to_connection(ConnectionId=connection_id, Data=payload)
        return True
    except Exception:
        return False


if mode == "loop":
    results = [push(i) for i in ids]
else:
    with ThreadPoolExecutor(max_workers=64) as pool:
        results = list(pool.map(push, ids))
print(json.dumps({"delivered": sum(results), "failed": len(results) - sum(results)}))
