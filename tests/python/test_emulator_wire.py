"""The emulator and the reference backend, checked with clients we did not write:
boto3's apigatewaymanagementapi and Python `websockets`.

Run by tests/emulator_python.rs with the URLs of a running `wsdash demo --headless`.
"""

import asyncio
import json
import os
import sys
import urllib.request

import boto3
import botocore.exceptions
from botocore.config import Config
import websockets
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

MGMT = os.environ["WSDASH_MGMT"]
WS = os.environ["WSDASH_WS"]
BACKEND = os.environ["WSDASH_BACKEND"]
ADMIN_TOKEN = os.environ["WSDASH_ADMIN_TOKEN"]
EMULATOR_ADMIN = os.environ["WSDASH_EMULATOR_ADMIN"]

mgmt = boto3.client(
    "apigatewaymanagementapi",
    endpoint_url=MGMT,
    region_name="us-east-1",
    aws_access_key_id="test",
    aws_secret_access_key="test",
    # No retries, so each call is one answer we can assert on.
    config=Config(retries={"total_max_attempts": 1}),
)


def http(method, url, body=None, token=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw = resp.read()
            return resp.status, (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, raw.decode(errors="replace")


def records():
    status, body = http("GET", f"{BACKEND}/debug/ws-connections", token=ADMIN_TOKEN)
    assert status == 200, (status, body)
    return {r["user_id"]: r for r in body}


async def wait_for(predicate, what, timeout=5.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await asyncio.to_thread(predicate)
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def recv_json(ws, timeout=5.0):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def open_client(user):
    return await connect(f"{WS}?token=dev:{user}", user_agent_header="wire-test/1.0")


def set_faults(**faults):
    status, body = http("PUT", f"{EMULATOR_ADMIN}/faults", faults)
    assert status == 200, (status, body)


async def check_connect_push_get_delete():
    ws = await open_client("alice")
    rec = (await wait_for(lambda: records().get("alice"), "alice's record"))
    cid = rec["connection_id"]
    assert len(cid) == 16 and cid.endswith("="), cid

    info = await asyncio.to_thread(mgmt.get_connection, ConnectionId=cid)
    assert info["Identity"]["SourceIp"] == "127.0.0.1", info
    assert info["Identity"]["UserAgent"] == "wire-test/1.0", info
    assert info["ConnectedAt"].year >= 2024, info
    assert "LastActiveAt" in info, info

    await asyncio.to_thread(mgmt.post_to_connection, ConnectionId=cid, Data=b'{"type":"new_content","id":1}')
    assert await recv_json(ws) == {"type": "new_content", "id": 1}

    # Non-UTF-8 bytes arrive as a binary frame.
    await asyncio.to_thread(mgmt.post_to_connection, ConnectionId=cid, Data=b"\xff\xfe\x00")
    assert await asyncio.wait_for(ws.recv(), 5) == b"\xff\xfe\x00"

    # Exactly the limit is delivered; one byte more is refused.
    exact = b"x" * 131072
    await asyncio.to_thread(mgmt.post_to_connection, ConnectionId=cid, Data=exact)
    assert len(await asyncio.wait_for(ws.recv(), 5)) == 131072
    try:
        await asyncio.to_thread(mgmt.post_to_connection, ConnectionId=cid, Data=b"x" * 131073)
        raise AssertionError("131073 bytes should raise PayloadTooLargeException")
    except mgmt.exceptions.PayloadTooLargeException:
        pass

    # The backend's own push path (the guide's push service) reaches the client.
    status, body = http("POST", f"{BACKEND}/debug/ws-push-test/alice", {"type": "alert_triggered", "name": "t"}, ADMIN_TOKEN)
    assert status == 200 and body["class"] == "delivered", (status, body)
    assert (await recv_json(ws))["type"] == "alert_triggered"
    status, body = http("POST", f"{BACKEND}/debug/ws-push-test/nobody", None, ADMIN_TOKEN)
    assert status == 404, (status, body)
    status, _ = http("POST", f"{BACKEND}/debug/ws-push-test/alice", None, "wrong-token")
    assert status == 401

    # $default: a ping is answered (one-way route: the backend pushes the answer).
    await ws.send(json.dumps({"action": "ping", "token": "dev:alice"}))
    assert (await recv_json(ws))["type"] == "heartbeat"

    await asyncio.to_thread(mgmt.delete_connection, ConnectionId=cid)
    try:
        await asyncio.wait_for(ws.recv(), 5)
        raise AssertionError("socket should close after delete_connection")
    except ConnectionClosed:
        pass
    for call in (
        lambda: mgmt.post_to_connection(ConnectionId=cid, Data=b"{}"),
        lambda: mgmt.get_connection(ConnectionId=cid),
        lambda: mgmt.delete_connection(ConnectionId=cid),
    ):
        try:
            await asyncio.to_thread(call)
            raise AssertionError("calls on a deleted connection must raise GoneException")
        except mgmt.exceptions.GoneException:
            pass
    # $disconnect removed the record.
    await wait_for(lambda: "alice" not in records(), "alice's record to disappear")
    print("ok: connect, get_connection, post_to_connection (text, binary, limit), delete_connection, Gone")


async def check_refused_handshakes():
    for token in ("bad-token", "dev:", ""):
        try:
            ws = await connect(f"{WS}?token={token}")
            await ws.close()
            raise AssertionError(f"token {token!r} should be refused")
        except InvalidStatus as e:
            assert e.response.status_code == 401, e.response.status_code
    # A wrong stage is refused like API Gateway does.
    wrong_stage = WS.rsplit("/", 1)[0] + "/nostage"
    try:
        await connect(f"{wrong_stage}?token=dev:alice")
        raise AssertionError("wrong stage should be refused")
    except InvalidStatus as e:
        assert e.response.status_code == 403
    print("ok: bad tokens and wrong stage refuse the handshake")


async def check_one_connection_per_user():
    first = await open_client("bob")
    first_id = (await wait_for(lambda: records().get("bob"), "bob"))["connection_id"]
    second = await open_client("bob")
    await wait_for(lambda: records().get("bob", {}).get("connection_id") not in (None, first_id), "bob's new record")
    try:
        await asyncio.wait_for(first.recv(), 5)
        raise AssertionError("the older connection should be closed")
    except ConnectionClosed:
        pass
    await second.close()
    print("ok: one connection per user")


async def check_oversized_client_message_closes_1009():
    ws = await connect(f"{WS}?token=dev:big", max_size=None)
    await ws.send("x" * 131073)
    try:
        await asyncio.wait_for(ws.recv(), 5)
        raise AssertionError("expected close")
    except ConnectionClosed as e:
        assert e.rcvd is not None and e.rcvd.code == 1009, e
    print("ok: client message above 128 KB closes with 1009")


async def check_stale_cleanup():
    set_faults(drop_disconnect=1.0)
    carol = await open_client("carol")
    dave = await open_client("dave")
    erin = await open_client("erin")
    await wait_for(lambda: {"carol", "dave", "erin"} <= set(records()), "three records")
    await carol.close()              # clean close, but $disconnect is lost
    dave.transport.abort()           # vanishes without a close frame
    await asyncio.sleep(0.3)
    assert {"carol", "dave", "erin"} <= set(records()), "with $disconnect dropped, the records stay"
    set_faults(drop_disconnect=0.0)
    status, body = http("DELETE", f"{BACKEND}/debug/ws-connections/stale", None, ADMIN_TOKEN)
    assert status == 200, (status, body)
    removed = sorted(r["user_id"] for r in body["removed"])
    assert removed == ["carol", "dave"], body
    left = records()
    assert "erin" in left and "carol" not in left and "dave" not in left, left
    await erin.close()
    print("ok: dropped $disconnect leaves stale records; the stale cleanup removes exactly those")


async def check_faults_and_unregistered_messages():
    ws = await open_client("frank")
    cid = (await wait_for(lambda: records().get("frank"), "frank"))["connection_id"]
    set_faults(throttle=1.0)
    try:
        await asyncio.to_thread(mgmt.post_to_connection, ConnectionId=cid, Data=b"{}")
        raise AssertionError("expected LimitExceededException")
    except mgmt.exceptions.LimitExceededException:
        pass
    set_faults(throttle=0.0, forbidden=1.0)
    try:
        await asyncio.to_thread(mgmt.get_connection, ConnectionId=cid)
        raise AssertionError("expected ForbiddenException")
    except mgmt.exceptions.ForbiddenException:
        pass
    set_faults(forbidden=0.0)
    status, stats = http("GET", f"{EMULATOR_ADMIN}/stats")
    assert status == 200 and stats["post_to_connection"]["throttled"] >= 1, stats
    assert stats["get_connection"]["forbidden"] >= 1, stats

    # The backend forgets frank (as after a lost record); his token re-registers him.
    status, _ = http("DELETE", f"{BACKEND}/debug/ws-connections/stale", None, ADMIN_TOKEN)
    await ws.send(json.dumps({"action": "ping"}))
    reply = await recv_json(ws)
    assert reply["type"] == "heartbeat", reply
    await ws.close()
    print("ok: injected 429/403 raise the modelled exceptions and are counted")


async def check_frame_limit():
    # A 100 KB message in 32 KB frames is fine; one frame above 32 KB closes with 1009.
    ws = await open_client("framed")
    await ws.send(["x" * 32768, "x" * 32768, "x" * 32768, "x" * 4096])
    await ws.send(json.dumps({"action": "ping"}))
    # The backend may answer the big message first (it is not JSON); the socket must live on.
    replies = [await recv_json(ws), await recv_json(ws)]
    assert any(r.get("type") == "heartbeat" for r in replies), replies
    await ws.send("x" * 32769)
    try:
        await asyncio.wait_for(ws.recv(), 5)
        raise AssertionError("expected close")
    except ConnectionClosed as e:
        assert e.rcvd is not None and e.rcvd.code == 1009, e
    status, stats = http("GET", f"{EMULATOR_ADMIN}/stats")
    assert stats["sockets"]["frame_too_big"] >= 1, stats
    print("ok: frames above 32 KB close with 1009; a large message in 32 KB frames passes")


class CustomIntegration:
    """A backend for a custom route: answers who it is and the connectionId header it got."""

    def __init__(self):
        import http.server
        import threading

        bodies = self.bodies = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                bodies.append(json.loads(body))
                answer = json.dumps({
                    "routed_to": "subscribe",
                    "connection_id": self.headers.get("connectionId"),
                    "got": json.loads(body),
                }).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/subscribe"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


async def check_route_selection():
    # $request.body.action picks a custom route once it is deployed; anything else goes to $default.
    gateway = MGMT.rsplit("/", 1)[0]
    v2 = boto3.client(
        "apigatewayv2",
        endpoint_url=gateway,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    custom = CustomIntegration()
    integration = v2.create_integration(
        ApiId="wsdash",
        IntegrationType="HTTP_PROXY",
        IntegrationMethod="POST",
        IntegrationUri=custom.url,
        RequestParameters={"integration.request.header.connectionId": "context.connectionId"},
    )
    route = v2.create_route(
        ApiId="wsdash",
        RouteKey="subscribe",
        Target=f"integrations/{integration['IntegrationId']}",
        RouteResponseSelectionExpression="$default",
    )
    assert route["RouteResponseSelectionExpression"] == "$default", route
    # Refusals come back in AWS's error shape, which boto3 turns into its exceptions.
    for call, code in [
        (lambda: v2.create_route(ApiId="wsdash", RouteKey="subscribe"), "ConflictException"),
        (lambda: v2.update_route(ApiId="wsdash", RouteId="nope", RouteKey="x"), "NotFoundException"),
        (lambda: v2.update_integration(ApiId="wsdash", IntegrationId="nope", IntegrationUri=custom.url), "NotFoundException"),
        (lambda: v2.create_route_response(ApiId="wsdash", RouteId=route["RouteId"], RouteResponseKey="other"), "BadRequestException"),
        (lambda: v2.update_route(ApiId="wsdash", RouteId=route["RouteId"], RouteResponseSelectionExpression="$request.body.x"), "BadRequestException"),
    ]:
        try:
            call()
            raise AssertionError(f"expected {code}")
        except botocore.exceptions.ClientError as e:
            assert e.response["Error"]["Code"] == code, e.response
    ws = await open_client("router")
    cid = (await wait_for(lambda: records().get("router"), "router's record"))["connection_id"]
    await ws.send(json.dumps({"action": "ping"}))
    assert (await recv_json(ws))["type"] == "heartbeat"
    # Not deployed yet: "subscribe" still falls to $default, whose backend ignores it.
    await ws.send(json.dumps({"action": "subscribe", "topic": "a"}))
    try:
        reply = await recv_json(ws, timeout=0.5)
        assert reply.get("routed_to") != "subscribe", reply
    except asyncio.TimeoutError:
        pass
    v2.create_deployment(ApiId="wsdash", StageName="production")
    # Deployed, but one-way (no route response yet): the backend is called and API Gateway drops
    # its answer.
    await ws.send(json.dumps({"action": "subscribe", "topic": "b"}))
    await wait_for(lambda: {"action": "subscribe", "topic": "b"} in custom.bodies, "the custom backend's call")
    try:
        reply = await recv_json(ws, timeout=0.5)
        raise AssertionError(f"a one-way route relayed {reply}")
    except asyncio.TimeoutError:
        pass
    # With the $default route response, deployed, the route is two-way: the answer is relayed.
    response = v2.create_route_response(ApiId="wsdash", RouteId=route["RouteId"], RouteResponseKey="$default")
    listed = v2.get_route_responses(ApiId="wsdash", RouteId=route["RouteId"])["Items"]
    assert [r["RouteResponseId"] for r in listed] == [response["RouteResponseId"]], listed
    v2.create_deployment(ApiId="wsdash", StageName="production")
    await ws.send(json.dumps({"action": "subscribe", "topic": "c"}))
    reply = await recv_json(ws)
    assert reply == {"routed_to": "subscribe", "connection_id": cid, "got": {"action": "subscribe", "topic": "c"}}, reply
    await ws.send(json.dumps({"action": "ping"}))
    assert (await recv_json(ws))["type"] == "heartbeat", "other actions still reach $default"
    await ws.close()
    custom.server.shutdown()
    print("ok: the route selection expression sends {action: subscribe} to its own integration once deployed; its answer reaches the client only once the route is two-way")


async def check_new_connection_rate():
    # 700 handshakes at once: the gateway (started with --connect-rate 100, a lower account quota
    # than the default 500) admits a burst of 100, answers the rest 429, and a client that backs
    # off gets in.
    async def attempt(n):
        try:
            ws = await connect(f"{WS}?token=dev:rush-{n}", open_timeout=20)
            return ws
        except InvalidStatus as e:
            return e.response.status_code

    results = await asyncio.gather(*(attempt(n) for n in range(700)))
    refused = [r for r in results if r == 429]
    opened = [r for r in results if not isinstance(r, int)]
    assert refused, "some handshakes above the connect rate must be refused"
    assert len(opened) + len(refused) == 700, [r for r in results if isinstance(r, int) and r != 429][:5]
    await asyncio.gather(*(ws.close() for ws in opened))
    status, stats = http("GET", f"{EMULATOR_ADMIN}/stats")
    assert stats["sockets"]["connect_throttled"] == len(refused), stats
    await asyncio.sleep(1.1)
    late = await open_client("rush-late")
    await late.close()
    print(f"ok: {len(refused)} of 700 simultaneous handshakes answered 429; after a second they succeed")


async def main():
    await check_connect_push_get_delete()
    await check_refused_handshakes()
    await check_one_connection_per_user()
    await check_oversized_client_message_closes_1009()
    await check_stale_cleanup()
    await check_faults_and_unregistered_messages()
    await check_frame_limit()
    await check_route_selection()
    await check_new_connection_rate()
    print("all wire checks passed")


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except AssertionError as e:
        print(f"FAILED: {e}", file=sys.stderr)
        raise
