"""What a team would script instead of wsdash, against a PostgreSQL table or Redis keys:
read every record; ask the gateway about each connection (boto3 get_connection); delete the
record when it is Gone (PostgreSQL: conditionally on the row as read; Redis: DEL).

  python cleanup.py postgres|redis list|probe|purge loop|pool MANAGEMENT STORE_URL [TABLE]

`loop` is one record at a time; `pool` is ThreadPoolExecutor(64) (one psycopg connection per
thread; redis-py's own pool). Prints {"records": N, "gone": N, "deleted": N} as JSON."""
import json
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.config import Config

store, action, mode, management, url = sys.argv[1:6]
table = sys.argv[6] if len(sys.argv) > 6 else None
gateway = boto3.client(
    "apigatewaymanagementapi",
    endpoint_url=management,
    region_name="us-east-1",
    aws_access_key_id="bench",
    aws_secret_access_key="bench",
    config=Config(max_pool_connections=64, retries={"mode": "standard"}),
)

if store == "postgres":
    import psycopg

    local = threading.local()

    def db():
        if not hasattr(local, "conn"):
            local.conn = psycopg.connect(url, autocommit=True)
        return local.conn

    def records():
        with psycopg.connect(url) as conn:
            rows = conn.execute(
                f"SELECT user_id, connection_id, connected_at FROM {table}"
            ).fetchall()
        return [{"user_id": u, "connection_id": c, "connected_at": t} for u, c, t in rows]

    def delete(record):
        cur = db().execute(
            f"DELETE FROM {table} WHERE connection_id = %s AND user_id = %s AND connected_at = %s",
            (record["connection_id"], record["user_id"], record["connected_at"]),
        )
        return cur.rowcount == 1
else:
    import redis

    client = redis.Redis.from_url(url, max_connections=64)

    def records():
        keys = list(client.scan_iter(match="ws:*", count=1000))
        out = []
        for start in range(0, len(keys), 1000):
            chunk = keys[start : start + 1000]
            for key, value in zip(chunk, client.mget(chunk)):
                if value is not None:
                    record = json.loads(value)
                    record["key"] = key
                    out.append(record)
        return out

    def delete(record):
        return client.delete(record["key"]) == 1


def gone(record):
    try:
        gateway.get_connection(ConnectionId=record["connection_id"])
        return False
    except gateway.exceptions.GoneException:
        return True


def clean(record):
    if not gone(record):
        return "kept"
    return "deleted" if delete(record) else "changed"


all_records = records()
if action == "list":
    json.dump([{k: str(v) for k, v in r.items()} for r in all_records], open("/dev/null", "w"))
    print(json.dumps({"records": len(all_records)}))
    sys.exit(0)
work = gone if action == "probe" else clean
if mode == "loop":
    results = [work(r) for r in all_records]
else:
    with ThreadPoolExecutor(max_workers=64) as pool:
        results = list(pool.map(work, all_records))
print(json.dumps({"records": len(all_records), "gone": results.count(True), "deleted": results.count("deleted")}))
