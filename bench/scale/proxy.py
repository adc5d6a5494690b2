"""Lambda's request quotas, locally: an HTTP proxy in front of moto's server.

moto answers every call at once and never throttles, so it cannot show whether the
autoscaler stays within Lambda's per-Region request quotas. This proxy forwards every AWS
request to moto, adds a fixed latency per call, and answers 429 TooManyRequestsException
beyond the quotas (Lambda quotas page, "API requests"):

- control plane: 15 requests per second, shared by every Lambda API call except GetFunction,
  GetPolicy and invocations (PutFunctionConcurrency, TagResource, GetAccountSettings, ...);
- GetFunction: 100 requests per second; GetPolicy: 15 requests per second, each its own.

Standard library only (asyncio), so it runs with any Python 3.11:

    python bench/scale/proxy.py --upstream 127.0.0.1:5000 --port 5001 [--latency-ms 25]

GET /__proxy/stats returns the counts (JSON); POST /__proxy/reset clears them.
"""

import argparse
import asyncio
import gzip
import json
import re
import time
import urllib.parse
from collections import Counter, deque

WINDOW_SECONDS = 1.0

# Per-Region quotas, by quota class. A Lambda operation outside both lists is control plane.
QUOTAS = {"lambda:control-plane": 15, "lambda:GetFunction": 100, "lambda:GetPolicy": 15}
OWN_QUOTA = {"GetFunction", "GetPolicy"}
INVOCATIONS = {"Invoke", "InvokeAsync", "InvokeWithResponseStream"}

# What Lambda answers when a quota is exceeded (as seen from AWS: 429, the error type in
# x-amzn-ErrorType, Reason CallerRateLimitExceeded). The SDKs take the error code from the
# header first; `__type` serves clients that read only the body. The AWS SDK for Rust files
# the code TooManyRequestsException under throttling (aws-runtime THROTTLING_ERRORS), so it
# retries with backoff, as it does against AWS.
THROTTLE_BODY = json.dumps(
    {
        "Reason": "CallerRateLimitExceeded",
        "Type": "User",
        "message": "Rate exceeded",
        "__type": "TooManyRequestsException",
    },
    separators=(",", ":"),
).encode()

# Lambda's REST API (restJson1): method, URI template (with any literal query the operation
# requires) and operation, as in botocore's service model for lambda 2015-03-31.
# tests.py checks this table against that model.
LAMBDA_ROUTES = """
POST /2018-10-31/layers/{LayerName}/versions/{VersionNumber}/policy AddLayerVersionPermission
POST /2015-03-31/functions/{FunctionName}/policy AddPermission
POST /2025-12-01/durable-executions/{DurableExecutionArn}/checkpoint CheckpointDurableExecution
POST /2015-03-31/functions/{FunctionName}/aliases CreateAlias
POST /2025-11-30/capacity-providers CreateCapacityProvider
POST /2020-04-22/code-signing-configs CreateCodeSigningConfig
POST /2015-03-31/event-source-mappings CreateEventSourceMapping
POST /2015-03-31/functions CreateFunction
POST /2021-10-31/functions/{FunctionName}/url CreateFunctionUrlConfig
DELETE /2015-03-31/functions/{FunctionName}/aliases/{Name} DeleteAlias
DELETE /2025-11-30/capacity-providers/{CapacityProviderName} DeleteCapacityProvider
DELETE /2020-04-22/code-signing-configs/{CodeSigningConfigArn} DeleteCodeSigningConfig
DELETE /2015-03-31/event-source-mappings/{UUID} DeleteEventSourceMapping
DELETE /2015-03-31/functions/{FunctionName} DeleteFunction
DELETE /2020-06-30/functions/{FunctionName}/code-signing-config DeleteFunctionCodeSigningConfig
DELETE /2017-10-31/functions/{FunctionName}/concurrency DeleteFunctionConcurrency
DELETE /2019-09-25/functions/{FunctionName}/event-invoke-config DeleteFunctionEventInvokeConfig
DELETE /2021-10-31/functions/{FunctionName}/url DeleteFunctionUrlConfig
DELETE /2018-10-31/layers/{LayerName}/versions/{VersionNumber} DeleteLayerVersion
DELETE /2019-09-30/functions/{FunctionName}/provisioned-concurrency DeleteProvisionedConcurrencyConfig
DELETE /2026-07-09/resource-policy/{ResourceArn} DeleteResourcePolicy
GET /2016-08-19/account-settings GetAccountSettings
GET /2015-03-31/functions/{FunctionName}/aliases/{Name} GetAlias
GET /2025-11-30/capacity-providers/{CapacityProviderName} GetCapacityProvider
GET /2020-04-22/code-signing-configs/{CodeSigningConfigArn} GetCodeSigningConfig
GET /2025-12-01/durable-executions/{DurableExecutionArn} GetDurableExecution
GET /2025-12-01/durable-executions/{DurableExecutionArn}/history GetDurableExecutionHistory
GET /2025-12-01/durable-executions/{DurableExecutionArn}/state GetDurableExecutionState
GET /2015-03-31/event-source-mappings/{UUID} GetEventSourceMapping
GET /2015-03-31/functions/{FunctionName} GetFunction
GET /2020-06-30/functions/{FunctionName}/code-signing-config GetFunctionCodeSigningConfig
GET /2019-09-30/functions/{FunctionName}/concurrency GetFunctionConcurrency
GET /2015-03-31/functions/{FunctionName}/configuration GetFunctionConfiguration
GET /2019-09-25/functions/{FunctionName}/event-invoke-config GetFunctionEventInvokeConfig
GET /2024-08-31/functions/{FunctionName}/recursion-config GetFunctionRecursionConfig
GET /2025-11-30/functions/{FunctionName}/function-scaling-config GetFunctionScalingConfig
GET /2021-10-31/functions/{FunctionName}/url GetFunctionUrlConfig
GET /2018-10-31/layers/{LayerName}/versions/{VersionNumber} GetLayerVersion
GET /2018-10-31/layers?find=LayerVersion GetLayerVersionByArn
GET /2018-10-31/layers/{LayerName}/versions/{VersionNumber}/policy GetLayerVersionPolicy
GET /2015-03-31/functions/{FunctionName}/policy GetPolicy
GET /2019-09-30/functions/{FunctionName}/provisioned-concurrency GetProvisionedConcurrencyConfig
GET /2026-07-09/resource-policy/{ResourceArn} GetResourcePolicy
GET /2021-07-20/functions/{FunctionName}/runtime-management-config GetRuntimeManagementConfig
POST /2015-03-31/functions/{FunctionName}/invocations Invoke
POST /2014-11-13/functions/{FunctionName}/invoke-async InvokeAsync
POST /2021-11-15/functions/{FunctionName}/response-streaming-invocations InvokeWithResponseStream
GET /2015-03-31/functions/{FunctionName}/aliases ListAliases
GET /2025-11-30/capacity-providers ListCapacityProviders
GET /2020-04-22/code-signing-configs ListCodeSigningConfigs
GET /2025-12-01/functions/{FunctionName}/durable-executions ListDurableExecutionsByFunction
GET /2015-03-31/event-source-mappings ListEventSourceMappings
GET /2019-09-25/functions/{FunctionName}/event-invoke-config/list ListFunctionEventInvokeConfigs
GET /2021-10-31/functions/{FunctionName}/urls ListFunctionUrlConfigs
GET /2025-11-30/capacity-providers/{CapacityProviderName}/function-versions ListFunctionVersionsByCapacityProvider
GET /2015-03-31/functions ListFunctions
GET /2020-04-22/code-signing-configs/{CodeSigningConfigArn}/functions ListFunctionsByCodeSigningConfig
GET /2018-10-31/layers/{LayerName}/versions ListLayerVersions
GET /2018-10-31/layers ListLayers
GET /2019-09-30/functions/{FunctionName}/provisioned-concurrency?List=ALL ListProvisionedConcurrencyConfigs
GET /2017-03-31/tags/{Resource} ListTags
GET /2015-03-31/functions/{FunctionName}/versions ListVersionsByFunction
POST /2018-10-31/layers/{LayerName}/versions PublishLayerVersion
POST /2015-03-31/functions/{FunctionName}/versions PublishVersion
PUT /2020-06-30/functions/{FunctionName}/code-signing-config PutFunctionCodeSigningConfig
PUT /2017-10-31/functions/{FunctionName}/concurrency PutFunctionConcurrency
PUT /2019-09-25/functions/{FunctionName}/event-invoke-config PutFunctionEventInvokeConfig
PUT /2024-08-31/functions/{FunctionName}/recursion-config PutFunctionRecursionConfig
PUT /2025-11-30/functions/{FunctionName}/function-scaling-config PutFunctionScalingConfig
PUT /2019-09-30/functions/{FunctionName}/provisioned-concurrency PutProvisionedConcurrencyConfig
PUT /2026-07-09/resource-policy/{ResourceArn} PutResourcePolicy
PUT /2021-07-20/functions/{FunctionName}/runtime-management-config PutRuntimeManagementConfig
DELETE /2018-10-31/layers/{LayerName}/versions/{VersionNumber}/policy/{StatementId} RemoveLayerVersionPermission
DELETE /2015-03-31/functions/{FunctionName}/policy/{StatementId} RemovePermission
POST /2025-12-01/durable-execution-callbacks/{CallbackId}/fail SendDurableExecutionCallbackFailure
POST /2025-12-01/durable-execution-callbacks/{CallbackId}/heartbeat SendDurableExecutionCallbackHeartbeat
POST /2025-12-01/durable-execution-callbacks/{CallbackId}/succeed SendDurableExecutionCallbackSuccess
POST /2025-12-01/durable-executions/{DurableExecutionArn}/stop StopDurableExecution
POST /2017-03-31/tags/{Resource} TagResource
DELETE /2017-03-31/tags/{Resource} UntagResource
PUT /2015-03-31/functions/{FunctionName}/aliases/{Name} UpdateAlias
PUT /2025-11-30/capacity-providers/{CapacityProviderName} UpdateCapacityProvider
PUT /2020-04-22/code-signing-configs/{CodeSigningConfigArn} UpdateCodeSigningConfig
PUT /2015-03-31/event-source-mappings/{UUID} UpdateEventSourceMapping
PUT /2015-03-31/functions/{FunctionName}/code UpdateFunctionCode
PUT /2015-03-31/functions/{FunctionName}/configuration UpdateFunctionConfiguration
POST /2019-09-25/functions/{FunctionName}/event-invoke-config UpdateFunctionEventInvokeConfig
PUT /2021-10-31/functions/{FunctionName}/url UpdateFunctionUrlConfig
"""


def compile_routes(table):
    """(method, path regex, required query, operation) per line. A path label matches one
    segment: the SDKs percent-encode the `/` and `:` of an ARN inside it."""
    routes = []
    for line in table.split("\n"):
        if not line.strip():
            continue
        method, uri, operation = line.split()
        path, _, query = uri.partition("?")
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path.rstrip("/")))
        routes.append((method, re.compile(pattern + "/?"), urllib.parse.parse_qsl(query), operation))
    # A route with a required query literal is tried before the same path without one.
    routes.sort(key=lambda r: not r[2])
    return routes


ROUTES = compile_routes(LAMBDA_ROUTES)

SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/([^/,\s]+)/([^/,\s]+)/aws4_request")
RPC_V2_PATH = re.compile(r"/service/[^/]+/operation/([^/?]+)")


def lambda_operation(method, path, query):
    params = urllib.parse.parse_qs(query)
    for route_method, pattern, required, operation in ROUTES:
        if (
            route_method == method
            and pattern.fullmatch(path)
            and all(value in params.get(key, []) for key, value in required)
        ):
            return operation
    return f"{method} {path}"  # not in the table: named by its request, still counted


def identify(method, target, headers, body):
    """(region, service, operation) of an AWS request.

    The service and region come from the SigV4 credential scope (`.../REGION/SERVICE/
    aws4_request`), in the Authorization header or, presigned, in X-Amz-Credential. The
    operation comes from the protocol: Lambda's REST routes, X-Amz-Target for the JSON
    protocols (DynamoDB, SQS, Resource Groups Tagging), the Action parameter for the query
    protocol (CloudWatch, IAM, STS), or the path of Smithy RPC v2 CBOR.
    """
    path, _, query = target.partition("?")
    scope = SCOPE.search(headers.get("authorization", "")) or SCOPE.search(
        "Credential=" + urllib.parse.unquote(dict(urllib.parse.parse_qsl(query)).get("X-Amz-Credential", ""))
    )
    region, service = scope.groups() if scope else ("unknown", "unknown")
    if service == "lambda":
        return region, service, lambda_operation(method, path, query)
    if "x-amz-target" in headers:
        return region, service, headers["x-amz-target"].rpartition(".")[2]
    form = query
    if headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        if headers.get("content-encoding", "").lower() == "gzip":
            body = gzip.decompress(body)  # the SDKs compress large PutMetricData bodies
        form += "&" + body.decode("utf-8", "replace")
    action = urllib.parse.parse_qs(form).get("Action")
    if action:
        return region, service, action[0]
    rpc = RPC_V2_PATH.fullmatch(path)
    return region, service, rpc.group(1) if rpc else f"{method} {path}"


def quota_class(service, operation):
    """The Lambda quota a call counts against, or None (invocations, other services)."""
    if service != "lambda" or operation in INVOCATIONS:
        return None
    return f"lambda:{operation}" if operation in OWN_QUOTA else "lambda:control-plane"


class SlidingWindow:
    """At most `limit` admitted requests in any window of WINDOW_SECONDS.

    AWS does not publish the burst size behind its per-second quotas. A token bucket of
    size `limit` refilled at `limit`/s would admit up to 2 x `limit` within one second; this
    window never admits more than `limit` in any second, so it is the strict reading of
    "15 requests per second": a client it never throttles stays within the quota however
    AWS meters it. Throttled requests do not take a place in the window.
    """

    def __init__(self, limit):
        self.limit = limit
        self.admitted = deque()

    def admit(self, now):
        while self.admitted and self.admitted[0] <= now - WINDOW_SECONDS:
            self.admitted.popleft()
        if len(self.admitted) >= self.limit:
            return False
        self.admitted.append(now)
        return True


def peak(times):
    """The events of the busiest window of WINDOW_SECONDS (ending at an event), oldest first;
    `times` is sorted."""
    best, start = [], 0
    for end, t in enumerate(times):
        while times[start] <= t - WINDOW_SECONDS:
            start += 1
        if end + 1 - start > len(best):
            best = times[start : end + 1]
    return best


class Stats:
    def __init__(self):
        self.reset()

    def reset(self):
        self.started_wall = time.time()
        self.started = time.monotonic()
        self.calls = Counter()  # (service, operation)
        self.throttled = Counter()  # (service, operation)
        self.events = {}  # quota class -> [(seconds since reset, admitted)]

    def record(self, service, operation, quota, admitted, now):
        self.calls[(service, operation)] += 1
        if not admitted:
            self.throttled[(service, operation)] += 1
        if quota:
            self.events.setdefault(quota, []).append((now - self.started, admitted))

    def report(self):
        def nested(counter):
            out = {}
            for (service, operation), n in sorted(counter.items()):
                out.setdefault(service, {})[operation] = n
            return out

        peaks = {}
        for quota, events in self.events.items():
            entry = {"limit_per_second": QUOTAS[quota]}
            for kind, times in (
                ("admitted", [t for t, ok in events if ok]),
                ("attempted", [t for t, _ in events]),
            ):
                window = peak(times)
                entry[kind] = {
                    "peak_per_second": len(window),
                    # The events inside the peak window, in seconds since reset, to check it.
                    "window_start": round(window[0], 6) if window else None,
                    "timestamps": [round(t, 6) for t in window],
                }
            peaks[quota] = entry
        return {
            "since_epoch_seconds": self.started_wall,
            "elapsed_seconds": time.monotonic() - self.started,
            "calls": nested(self.calls),
            "throttled": nested(self.throttled),
            "total_calls": sum(self.calls.values()),
            "total_throttled": sum(self.throttled.values()),
            "peaks": peaks,
        }


HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "expect", "proxy-connection", "te", "upgrade"}


async def read_head(reader):
    """(start line, [(name, value)]) of one HTTP message, or None at a clean end of stream."""
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as e:
        if e.partial.strip():
            raise
        return None
    lines = raw.decode("latin-1").split("\r\n")
    headers = []
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers.append((name.strip(), value.strip()))
    return lines[0], headers


async def read_body(reader, headers, until_eof=False):
    """The body, by Content-Length, chunked transfer (decoded) or, for a response without
    either, until the connection closes."""
    lower = {k.lower(): v for k, v in headers}
    if "chunked" in lower.get("transfer-encoding", "").lower():
        chunks = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                    pass
                return b"".join(chunks)
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
    if "content-length" in lower:
        return await reader.readexactly(int(lower["content-length"]))
    return await reader.read() if until_eof else b""


def message(start_line, headers, body, connection=None):
    """An HTTP/1.1 message framed by Content-Length, its hop-by-hop headers replaced."""
    kept = [(k, v) for k, v in headers if k.lower() not in HOP_BY_HOP and k.lower() != "content-length"]
    kept.append(("Content-Length", str(len(body))))
    if connection:
        kept.append(("Connection", connection))
    head = "".join(f"{k}: {v}\r\n" for k, v in kept)
    return f"{start_line}\r\n{head}".encode("latin-1") + b"\r\n" + body


class Proxy:
    def __init__(self, upstream_host, upstream_port, latency, quotas=QUOTAS, routes=None):
        self.upstream = (upstream_host, upstream_port)
        # Services answered by another upstream (SigV4 service name -> (host, port)), so that
        # each can be its own moto process and serve calls side by side, as AWS's do.
        self.routes = routes or {}
        self.latency = latency
        self.quotas = quotas
        self.windows = {}  # (region, quota class) -> SlidingWindow
        self.stats = Stats()

    async def serve_connection(self, reader, writer):
        """One client connection: requests in order until it closes (HTTP/1.1 keep-alive)."""
        try:
            while True:
                head = await read_head(reader)
                if head is None:
                    break
                request_line, headers = head
                method, target, version = request_line.split(" ", 2)
                lower = {k.lower(): v for k, v in headers}
                if lower.get("expect", "").lower() == "100-continue":
                    writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                body = await read_body(reader, headers)
                status, response_headers, response_body = await self.respond(method, target, headers, lower, body)
                keep_alive = version == "HTTP/1.1" and lower.get("connection", "").lower() != "close"
                connection = "keep-alive" if keep_alive else "close"
                writer.write(message(f"HTTP/1.1 {status}", response_headers, response_body, connection))
                await writer.drain()
                if not keep_alive:
                    break
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError):
            pass  # a client that went away or spoke something else: drop the connection
        finally:
            writer.close()

    async def respond(self, method, target, headers, lower, body):
        if target.startswith("/__proxy/"):
            return self.control(method, target)
        now = time.monotonic()
        region, service, operation = identify(method, target, lower, body)
        quota = quota_class(service, operation)
        admitted = True
        if quota:
            window = self.windows.setdefault((region, quota), SlidingWindow(self.quotas[quota]))
            admitted = window.admit(now)
        self.stats.record(service, operation, quota, admitted, now)
        # Every answer, a 429 too, takes one round trip.
        await asyncio.sleep(self.latency)
        if not admitted:
            return (
                "429 Too Many Requests",
                [("Content-Type", "application/json"), ("x-amzn-ErrorType", "TooManyRequestsException")],
                THROTTLE_BODY,
            )
        return await self.forward(method, target, headers, body, self.routes.get(service, self.upstream))

    async def forward(self, method, target, headers, body, upstream):
        """The request, unchanged but for its framing, on a fresh connection to moto."""
        reader, writer = await asyncio.open_connection(*upstream)
        try:
            writer.write(message(f"{method} {target} HTTP/1.1", headers, body, "close"))
            await writer.drain()
            status_line, response_headers = await read_head(reader)
            status = status_line.split(" ", 1)[1]
            code = int(status[:3])
            no_body = method == "HEAD" or code in (204, 304) or code < 200
            response_body = b"" if no_body else await read_body(reader, response_headers, until_eof=True)
            return status, response_headers, response_body
        finally:
            writer.close()

    def control(self, method, target):
        path = target.partition("?")[0]
        if method == "GET" and path == "/__proxy/stats":
            body = json.dumps(self.stats.report()).encode()
        elif method == "POST" and path == "/__proxy/reset":
            self.stats.reset()
            self.windows.clear()
            body = b'{"reset":true}'
        else:
            return "404 Not Found", [("Content-Type", "application/json")], b'{"error":"unknown proxy path"}'
        return "200 OK", [("Content-Type", "application/json")], body


async def start(proxy, host, port):
    return await asyncio.start_server(proxy.serve_connection, host, port, limit=1 << 20, backlog=1024)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", required=True, help="moto's HOST:PORT")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency-ms", type=float, default=25.0, help="added to every call (default 25)")
    parser.add_argument("--route", action="append", default=[], metavar="SERVICE=HOST:PORT",
                        help="send one service (its SigV4 name: dynamodb, monitoring, ...) to another upstream")
    args = parser.parse_args()
    host, _, port = args.upstream.rpartition(":")
    routes = {}
    for route in args.route:
        service, _, address = route.partition("=")
        route_host, _, route_port = address.rpartition(":")
        routes[service] = (route_host, int(route_port))

    async def run():
        proxy = Proxy(host, int(port), args.latency_ms / 1000, routes=routes)
        server = await start(proxy, args.host, args.port)
        print(f"proxy on http://{args.host}:{args.port} -> {args.upstream}", flush=True)
        async with server:
            await server.serve_forever()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
