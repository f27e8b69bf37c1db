"""A backend framework we did not write, behind the wsdash emulator, set up the AWS way.

django-aws-api-gateway-websockets (from PyPI, unedited) creates its own API through the
emulator's apigatewayv2 calls with its `createApiGateway` command, then serves $connect,
$disconnect and $default as HTTP_PROXY integrations while Python `websockets` clients log in,
take a one-time WebSocket token, connect, message, receive pushes, close cleanly, drop, and go
Gone. Nothing in the package is patched and no header is faked: the only change from a real
deployment is where boto3's requests go, set with AWS's own knobs:

- AWS_ENDPOINT_URL_APIGATEWAYV2 for the configuration API;
- for the Management API, the package builds `https://API.execute-api.REGION.amazonaws.com/STAGE`
  itself, so HTTPS_PROXY points boto3 at a CONNECT proxy here that terminates TLS with a
  certificate made for that host (trusted through AWS_CA_BUNDLE) and hands the bytes, Host and
  SigV4 signature untouched, to the emulator.

Run by tests/it/third_party_backend.rs with WSDASH_GATEWAY (http://ADDR) and WSDASH_WS
(ws://ADDR/STAGE) of a `wsdash gateway` started without --backend, and AWS_ACCESS_KEY_ID /
AWS_SECRET_ACCESS_KEY of a key in its --credentials file (so every signature is verified).
"""

import asyncio
import datetime
import http.cookiejar
import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

import websockets
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

HERE = os.path.dirname(os.path.abspath(__file__))
GATEWAY = os.environ["WSDASH_GATEWAY"]
WS = os.environ["WSDASH_WS"]
MANAGEMENT_HOST = "*.execute-api.us-east-1.amazonaws.com"
GATEWAY_SECRET = "s3cret-" + "x" * 40


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_certificate(directory):
    """A self-signed certificate for the execute-api hosts, as the proxy presents it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, MANAGEMENT_HOST)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=2))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(MANAGEMENT_HOST)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False
        )
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, content_commitment=False,
                key_encipherment=False, data_encipherment=False, key_agreement=False,
                crl_sign=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path = os.path.join(directory, "execute-api.pem")
    key_path = os.path.join(directory, "execute-api.key")
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return cert_path, key_path


class ExecuteApiProxy:
    """An HTTPS proxy for the execute-api hosts: CONNECT, then TLS ends here, bytes go on."""

    def __init__(self, cert_path, key_path, upstream):
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert_path, key_path)
        self.upstream = upstream
        self.tunnels = 0
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._tunnel, args=(client,), daemon=True).start()

    def _tunnel(self, client):
        try:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = client.recv(4096)
                if not chunk:
                    return
                head += chunk
            request_line = head.split(b"\r\n", 1)[0].decode()
            method, target, _ = request_line.split(" ", 2)
            host = target.rsplit(":", 1)[0]
            if method != "CONNECT" or not host.endswith(MANAGEMENT_HOST[1:]):
                client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                return
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            self.tunnels += 1
            tls = self.context.wrap_socket(client, server_side=True)
            upstream = socket.create_connection(self.upstream)
            threading.Thread(target=pipe, args=(upstream, tls), daemon=True).start()
            pipe(tls, upstream)
        except (OSError, ValueError):
            pass
        finally:
            client.close()


def pipe(source, destination):
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            destination.sendall(data)
    except OSError:
        pass
    finally:
        for s in (source, destination):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class Site:
    """The Django project: manage.py commands, the dev server, a browser's cookies."""

    def __init__(self, env):
        self.env = env
        self.port = env["WSDASH_DJANGO_PORT"]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = None

    def manage(self, *args):
        result = subprocess.run(
            [sys.executable, os.path.join(HERE, "manage.py"), *args],
            env=self.env, cwd=HERE, capture_output=True, text=True, timeout=120,
        )
        if result.returncode != 0:
            raise AssertionError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def shell(self, code):
        """The last line `code` printed (Django's shell prints its auto-imports first)."""
        lines = self.manage("shell", "-c", code).strip().splitlines()
        return lines[-1] if lines else ""

    def start(self):
        self.server = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "manage.py"), "runserver", "--noreload",
             f"127.0.0.1:{self.port}"],
            env=self.env, cwd=HERE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", int(self.port)), timeout=1):
                    return
            except OSError:
                if self.server.poll() is not None:
                    raise AssertionError(f"runserver exited: {self.server.stderr.read()}")
                time.sleep(0.2)
        raise AssertionError("runserver did not start in 60 s")

    def stop(self):
        if self.server:
            self.server.terminate()
            try:
                _, errors = self.server.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                self.server.kill()
                _, errors = self.server.communicate()
            return errors
        return ""


class Browser:
    """A logged-in user's cookies, as a browser keeps them."""

    def __init__(self, site):
        self.site = site
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def cookie(self, name):
        return next((c.value for c in self.jar if c.name == name), None)

    def post(self, path, fields=None):
        data = urllib.parse.urlencode(fields or {}).encode()
        request = urllib.request.Request(self.site.url + path, data=data, method="POST")
        request.add_header("X-CSRFToken", self.cookie("csrftoken") or "")
        request.add_header("Referer", self.site.url + "/")
        with self.opener.open(request, timeout=10) as response:
            return response.status, response.read()

    def log_in(self, username, password):
        with self.opener.open(self.site.url + "/login/", timeout=10) as response:
            assert response.status == 200, response.status
        self.post("/login/", {
            "username": username, "password": password,
            "csrfmiddlewaretoken": self.cookie("csrftoken"),
        })
        assert self.cookie("sessionid"), "the login set no session cookie"

    def websocket_token(self):
        status, body = self.post("/ws-token/")
        assert status == 200, (status, body)
        return json.loads(body)["token"]

    async def open_socket(self, channel):
        token = self.websocket_token()
        return await connect(
            f"{WS}?ws_token={token}&channel={channel}",
            additional_headers={
                "Origin": self.site.url,
                "Cookie": f"sessionid={self.cookie('sessionid')}",
            },
        )


async def recv_json(ws, timeout=10.0):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def nothing_more(ws, timeout=0.7):
    try:
        extra = await asyncio.wait_for(ws.recv(), timeout)
    except asyncio.TimeoutError:
        return
    raise AssertionError(f"the client got {extra!r}, which API Gateway would not relay")


def set_faults(**faults):
    request = urllib.request.Request(
        f"{GATEWAY}/_wsdash/faults", data=json.dumps(faults).encode(), method="PUT",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200, response.status


def sessions(site):
    """Every WebSocketSession row: connection id -> (user, channel, connected)."""
    out = site.shell(
        "import json\n"
        "from django_aws_api_gateway_websockets.models import WebSocketSession as S\n"
        "print(json.dumps({s.connection_id: [s.user.username if s.user else None, s.channel_name,"
        " s.connected] for s in S.objects.select_related('user')}))"
    )
    return json.loads(out)


async def wait_for(predicate, what, timeout=15.0):
    deadline = time.monotonic() + timeout
    while True:
        value = await asyncio.to_thread(predicate)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


async def flow(site, proxy):
    # The package's setup, as its documentation gives it: an ApiGateway record (the admin's
    # form), then `createApiGateway`, which makes the API, routes, stage and deployment in AWS.
    site.manage("migrate", "--no-input")
    for user in ("alice", "bob"):
        site.env["DJANGO_SUPERUSER_PASSWORD"] = f"{user}-password-1"
        site.manage("createsuperuser", "--no-input", "--username", user, "--email", f"{user}@example.com")
    pk = site.shell(
        "from django_aws_api_gateway_websockets.models import ApiGateway\n"
        "g = ApiGateway(api_name='chat', target_base_endpoint="
        f"'{site.url}/ws/', stage_name='production')\n"
        "g.full_clean(); g.save(); print(g.pk)"
    )
    site.manage("createApiGateway", f"--pk={pk}")
    state = json.loads(site.shell(
        "import json\n"
        "from django_aws_api_gateway_websockets.models import ApiGateway\n"
        f"g = ApiGateway.objects.get(pk={pk})\n"
        "print(json.dumps([g.api_id, g.api_endpoint, g.provisioning_status, g.deployment_id, g.last_error]))"
    ))
    api_id, endpoint, status, deployment, error = state
    assert status == "deployed" and deployment and not error, state
    assert endpoint.startswith("ws://"), state
    print(f"ok: createApiGateway made API {api_id} through the emulator's apigatewayv2 calls ({status})")

    # Its "sync from AWS" reads the API, routes, integrations, stage and deployment back.
    changes = site.shell(
        "from django_aws_api_gateway_websockets.models import ApiGateway\n"
        f"print(ApiGateway.objects.get(pk={pk}).sync_from_aws())"
    )
    print(f"ok: sync_from_aws read the API back: {changes}")

    site.start()
    alice, bob = Browser(site), Browser(site)
    alice.log_in("alice", "alice-password-1")
    bob.log_in("bob", "bob-password-1")

    # Connect: session cookie, Origin and one-time token reach $connect with API Gateway's headers.
    a = await alice.open_socket("general")
    b = await bob.open_socket("general")
    rows = await wait_for(lambda: len(sessions(site)) == 2 and sessions(site), "two sessions")
    users = {user: cid for cid, (user, channel, connected) in rows.items() if connected and channel == "general"}
    assert set(users) == {"alice", "bob"}, rows
    for cid in users.values():
        assert len(cid) == 16 and cid.endswith("=") and "+" not in cid and "/" not in cid, cid
    print("ok: both users connected with session cookie, Origin and one-time token; ids in AWS's shape")

    # A one-time token is spent: the same one again is refused at the handshake.
    token = alice.websocket_token()
    first = await connect(f"{WS}?ws_token={token}&channel=general", additional_headers={
        "Origin": site.url, "Cookie": f"sessionid={alice.cookie('sessionid')}"})
    try:
        await connect(f"{WS}?ws_token={token}&channel=general", additional_headers={
            "Origin": site.url, "Cookie": f"sessionid={alice.cookie('sessionid')}"})
        raise AssertionError("a spent token was accepted")
    except websockets.exceptions.InvalidStatus as refused:
        assert refused.response.status_code == 400, refused.response.status_code
    await first.close()
    print("ok: a spent WebSocket token is refused at the handshake (the package's 400)")

    # A message: the view pushes its echo; its own JSON answer stays with API Gateway.
    await a.send(json.dumps({"action": "default", "message": "hello"}))
    assert await recv_json(a) == {"type": "echo", "got": "hello"}
    await nothing_more(a)
    await b.send(json.dumps({"action": "default", "handler": "shout", "text": "hi all"}))
    for ws in (a, b):
        assert await recv_json(ws) == {"type": "shout", "from": "bob", "text": "hi all"}
    await nothing_more(b)
    assert proxy.tunnels >= 1, "the Management API calls did not go through the execute-api host"
    print("ok: messages reach the view; it pushes through @connections; its {\"ok\": true} is not relayed")

    # A push from the package, outside any request (a management shell, as a task would).
    site.shell(
        "from django_aws_api_gateway_websockets.models import WebSocketSession\n"
        "WebSocketSession.objects.filter(channel_name='general').send_message({'type': 'news'})"
    )
    for ws in (a, b):
        assert await recv_json(ws) == {"type": "news"}
    print("ok: WebSocketSession.objects.send_message reaches every client in the channel")

    # A request that did not come through the gateway has no gateway secret: refused.
    forged = urllib.request.Request(f"{site.url}/ws/default", data=b'{"action":"default"}', method="POST")
    try:
        urllib.request.urlopen(forged, timeout=10)
        raise AssertionError("a request without the gateway secret was accepted")
    except urllib.error.HTTPError as e:
        assert e.code == 403, e.code
    print("ok: the gateway secret arrives as a static header mapping; a forged request is refused")

    # A clean close: 1000 echoed, and $disconnect marks alice's session closed.
    alice_id = users["alice"]
    await a.close()
    received = a.protocol.close_rcvd
    assert received is not None and received.code == 1000, received
    await wait_for(lambda: sessions(site)[alice_id][2] is False, "alice's session closed")
    print("ok: a clean close is answered 1000 and $disconnect marks the session closed")

    # A drop without a close frame: the gateway notices and calls $disconnect all the same.
    bob_id = users["bob"]
    b.transport.abort()
    await wait_for(lambda: sessions(site)[bob_id][2] is False, "bob's session closed")
    print("ok: a client that drops without a close frame is reported to $disconnect")

    # Gone: $disconnect is lost (best effort on AWS too); the package's next push meets
    # GoneException and marks the session closed itself.
    set_faults(drop_disconnect=1.0)
    c = await bob.open_socket("general")
    live = await wait_for(
        lambda: [cid for cid, (user, _, connected) in sessions(site).items() if user == "bob" and connected],
        "bob's new session")
    c.transport.abort()
    await asyncio.sleep(1.0)
    assert sessions(site)[live[0]][2] is True, "the lost $disconnect should have left it connected"
    site.shell(
        "from django_aws_api_gateway_websockets.models import WebSocketSession\n"
        f"WebSocketSession.objects.get(connection_id='{live[0]}').send_message({{'type': 'late'}})"
    )
    assert sessions(site)[live[0]][2] is False, "GoneException did not close the session"
    set_faults(drop_disconnect=0.0)
    print("ok: a push to a connection whose $disconnect was lost meets Gone; the package closes it")

    # The package's cleanup command deletes the closed sessions.
    site.manage("clearWebSocketSessions")
    assert sessions(site) == {}, sessions(site)
    print("ok: clearWebSocketSessions removed the closed sessions")


def main():
    with tempfile.TemporaryDirectory(prefix="wsdash-django-") as directory:
        cert_path, key_path = make_certificate(directory)
        gateway = urllib.parse.urlsplit(GATEWAY)
        proxy = ExecuteApiProxy(cert_path, key_path, (gateway.hostname, gateway.port))
        env = dict(os.environ)
        env.update({
            "DJANGO_SETTINGS_MODULE": "chatsite.settings",
            "WSDASH_DJANGO_PORT": str(free_port()),
            "WSDASH_DJANGO_DB": os.path.join(directory, "db.sqlite3"),
            "WSDASH_GATEWAY_SECRET": GATEWAY_SECRET,
            "AWS_ENDPOINT_URL_APIGATEWAYV2": GATEWAY,
            "HTTPS_PROXY": proxy.url,
            "NO_PROXY": "127.0.0.1,localhost",
            "AWS_CA_BUNDLE": cert_path,
            "PYTHONPATH": HERE,
        })
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "HTTP_PROXY", "http_proxy", "https_proxy"):
            env.pop(name, None)
        site = Site(env)
        try:
            asyncio.run(flow(site, proxy))
        finally:
            errors = site.stop()
            if errors and "Traceback" in errors:
                print(f"--- the Django server's log:\n{errors}", file=sys.stderr)


if __name__ == "__main__":
    main()
