"""The guide's push loop (§3.2): boto3 post_to_connection, one call at a time.
Prints calls/s as JSON so the Rust benchmark can compare against it in the same run."""
import json
import sys
import time

import boto3
from botocore.config import Config

endpoint, connection_id, calls = sys.argv[1], sys.argv[2], int(sys.argv[3])
client = boto3.client(
    "apigatewaymanagementapi",
    endpoint_url=endpoint,
    region_name="us-east-1",
    aws_access_key_id="bench",
    aws_secret_access_key="bench",
    config=Config(retries={"total_max_attempts": 1}),
)
payload = json.dumps({"type": "heartbeat"}).encode()
client.post_to_connection(ConnectionId=connection_id, Data=payload)  # warm the connection pool
start = time.perf_counter()
for _ in range(calls):
    client.post_to_connection(ConnectionId=connection_id, Data=payload)
elapsed = time.perf_counter() - start
print(json.dumps({"calls": calls, "seconds": elapsed, "calls_per_second": calls / elapsed}))
