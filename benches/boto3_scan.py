"""Anchor for the scan benchmark: boto3's Scan paginator, one segment, as a script would do it."""
import json
import sys
import time

import boto3

endpoint, table = sys.argv[1], sys.argv[2]
client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="b", aws_secret_access_key="b")
start = time.perf_counter()
count = 0
for page in client.get_paginator("scan").paginate(TableName=table):
    count += len(page["Items"])
elapsed = time.perf_counter() - start
print(json.dumps({"items": count, "seconds": elapsed, "items_per_second": count / elapsed}))
