"""Tests of the quota proxy: its counting, its 429s, its routing and its HTTP handling.

    .venv/bin/python -m unittest bench/scale/tests.py     (scripts/bench-scale.sh runs it)

Most tests put the proxy in front of a stub upstream, so they need only the standard
library; the route-table test and the boto3 test use the venv's botocore and moto.
"""

import asyncio
import gzip
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import proxy  # noqa: E402


def signed(service, region="us-east-1"):
    return f"AWS4-HMAC-SHA256 Credential=AKID/20261129/{region}/{service}/aws4_request, SignedHeaders=host, Signature=0"


PUT_CONCURRENCY = ("PUT", "/2017-10-31/functions/f1/concurrency", [("Authorization", signed("lambda"))])
GET_FUNCTION = ("GET", "/2015-03-31/functions/f1", [("Authorization", signed("lambda"))])


async def stub_upstream(reader, writer):
    """Answers one request, echoing what it received; framed as the request's path asks."""
    start_line, headers = await proxy.read_head(reader)
    body = await proxy.read_body(reader, headers)
    method, target, _ = start_line.split(" ", 2)
    echo = json.dumps({"method": method, "target": target, "headers": headers, "body": body.decode()}).encode()
    if target.endswith("/chunked"):
        half = len(echo) // 2
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in (echo[:half], echo[half:]))
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n")
    elif target.endswith("/close-delimited"):
        writer.write(b"HTTP/1.1 200 OK\r\n\r\n" + echo)
    else:
        writer.write(proxy.message("HTTP/1.1 200 OK", [("Content-Type", "application/json")], echo))
    await writer.drain()
    writer.close()


async def send(reader, writer, method, target, headers, body=b"", raw_body=None):
    """One request on an open connection; returns (status, headers as a dict, body)."""
    if raw_body is None:
        writer.write(proxy.message(f"{method} {target} HTTP/1.1", headers + [("Host", "x")], body))
    else:
        head = "".join(f"{k}: {v}\r\n" for k, v in headers + [("Host", "x")])
        writer.write(f"{method} {target} HTTP/1.1\r\n{head}\r\n".encode() + raw_body)
    await writer.drain()
    start_line, response_headers = await proxy.read_head(reader)
    response_body = await proxy.read_body(reader, response_headers)
    return int(start_line.split(" ")[1]), {k.lower(): v for k, v in response_headers}, response_body


class ProxyTest(unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self):
        self.upstream = await asyncio.start_server(stub_upstream, "127.0.0.1", 0)
        up_port = self.upstream.sockets[0].getsockname()[1]
        self.proxy = proxy.Proxy("127.0.0.1", up_port, latency=0.025)
        self.server = await proxy.start(self.proxy, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def asyncTearDown(self):
        for server in (self.server, self.upstream):
            server.close()
            await server.wait_closed()

    async def request(self, method, target, headers, body=b""):
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            return await send(reader, writer, method, target, headers, body)
        finally:
            writer.close()

    async def burst(self, call, n):
        return await asyncio.gather(*(self.request(*call) for _ in range(n)))

    async def test_a_burst_of_30_control_plane_calls_gets_15_successes_and_15_throttles(self):
        results = await self.burst(PUT_CONCURRENCY, 30)
        statuses = sorted(status for status, _, _ in results)
        self.assertEqual(statuses, [200] * 15 + [429] * 15)
        stats = self.proxy.stats.report()
        self.assertEqual(stats["calls"], {"lambda": {"PutFunctionConcurrency": 30}})
        self.assertEqual(stats["throttled"], {"lambda": {"PutFunctionConcurrency": 15}})
        peaks = stats["peaks"]["lambda:control-plane"]
        self.assertEqual(peaks["admitted"]["peak_per_second"], 15)
        self.assertEqual(peaks["attempted"]["peak_per_second"], 30)
        self.assertEqual(len(peaks["admitted"]["timestamps"]), 15)

    async def test_a_throttle_is_lambdas_429_that_sdks_read_as_too_many_requests(self):
        results = await self.burst(PUT_CONCURRENCY, 16)
        status, headers, body = next(r for r in results if r[0] == 429)
        self.assertEqual(headers["x-amzn-errortype"], "TooManyRequestsException")
        self.assertEqual(headers["content-type"], "application/json")
        self.assertEqual(
            json.loads(body),
            {"Reason": "CallerRateLimitExceeded", "Type": "User", "message": "Rate exceeded", "__type": "TooManyRequestsException"},
        )

    async def test_control_plane_quota_is_shared_by_operations_and_refills_after_a_second(self):
        tag = ("POST", "/2017-03-31/tags/arn%3Aaws%3Alambda%3Aus-east-1%3A1%3Afunction%3Af1", PUT_CONCURRENCY[2])
        settings = ("GET", "/2016-08-19/account-settings/", PUT_CONCURRENCY[2])
        first = await self.burst(tag, 10) + await self.burst(settings, 10)
        self.assertEqual(sum(s == 200 for s, _, _ in first), 15)
        await asyncio.sleep(1.05)
        again = await self.burst(settings, 15)
        self.assertEqual([s for s, _, _ in again], [200] * 15)
        calls = self.proxy.stats.report()["calls"]["lambda"]
        self.assertEqual(calls, {"TagResource": 10, "GetAccountSettings": 25})

    async def test_get_function_has_its_own_100_per_second_and_leaves_the_control_plane_alone(self):
        gets = await self.burst(GET_FUNCTION, 110)
        self.assertEqual(sum(s == 200 for s, _, _ in gets), 100)
        puts = await self.burst(PUT_CONCURRENCY, 15)
        self.assertEqual([s for s, _, _ in puts], [200] * 15)
        peaks = self.proxy.stats.report()["peaks"]
        self.assertEqual(peaks["lambda:GetFunction"]["admitted"]["peak_per_second"], 100)
        self.assertEqual(peaks["lambda:control-plane"]["attempted"]["peak_per_second"], 15)

    async def test_invocations_and_other_services_are_not_limited(self):
        invoke = ("POST", "/2015-03-31/functions/f1/invocations", PUT_CONCURRENCY[2])
        alarms = ("POST", "/", [("Authorization", signed("monitoring")), ("Content-Type", "application/x-www-form-urlencoded")], b"Action=DescribeAlarms&Version=2010-08-01")
        results = await self.burst(invoke, 40) + await self.burst(alarms, 40)
        self.assertEqual({s for s, _, _ in results}, {200})
        stats = self.proxy.stats.report()
        self.assertEqual(stats["calls"], {"lambda": {"Invoke": 40}, "monitoring": {"DescribeAlarms": 40}})
        self.assertEqual(stats["peaks"], {})

    async def test_keep_alive_connection_carries_requests_and_bodies_unchanged(self):
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        body = b'{"ReservedConcurrentExecutions":5}'
        for _ in range(3):
            status, headers, echo = await send(reader, writer, *PUT_CONCURRENCY, body=body)
            self.assertEqual(status, 200)
            self.assertEqual(headers["connection"], "keep-alive")
            echo = json.loads(echo)
            self.assertEqual((echo["method"], echo["target"], echo["body"]), ("PUT", PUT_CONCURRENCY[1], body.decode()))
            self.assertIn(["Authorization", signed("lambda")], echo["headers"])
        writer.close()
        self.assertEqual(self.proxy.stats.report()["calls"]["lambda"]["PutFunctionConcurrency"], 3)

    async def test_chunked_request_and_chunked_or_close_delimited_responses_are_reframed(self):
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        headers = [("Authorization", signed("sqs")), ("X-Amz-Target", "AmazonSQS.GetQueueAttributes"), ("Transfer-Encoding", "chunked")]
        for path in ("/chunked", "/close-delimited"):
            status, _, echo = await send(reader, writer, "POST", path, headers, raw_body=b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
            self.assertEqual((status, json.loads(echo)["body"]), (200, "hello world"))
        writer.close()
        self.assertEqual(self.proxy.stats.report()["calls"], {"sqs": {"GetQueueAttributes": 2}})

    async def test_added_latency_applies_to_every_answer(self):
        start = time.monotonic()
        await self.request(*GET_FUNCTION)
        self.assertGreaterEqual(time.monotonic() - start, 0.025)

    async def test_reset_clears_counts_and_quotas(self):
        await self.burst(PUT_CONCURRENCY, 20)
        status, _, _ = await self.request("POST", "/__proxy/reset", [])
        self.assertEqual(status, 200)
        self.assertEqual([s for s, _, _ in await self.burst(PUT_CONCURRENCY, 15)], [200] * 15)
        status, _, body = await self.request("GET", "/__proxy/stats", [])
        self.assertEqual(json.loads(body)["total_calls"], 15)


class IdentifyTest(unittest.TestCase):
    def test_services_and_operations_of_each_protocol(self):
        cases = [
            (("GET", "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A1%3Afunction%3Af?Qualifier=1", {"authorization": signed("lambda")}, b""), ("us-east-1", "lambda", "GetFunction")),
            (("GET", "/2019-09-30/functions/f/provisioned-concurrency?List=ALL", {"authorization": signed("lambda")}, b""), ("us-east-1", "lambda", "ListProvisionedConcurrencyConfigs")),
            (("GET", "/2019-09-30/functions/f/provisioned-concurrency?Qualifier=1", {"authorization": signed("lambda")}, b""), ("us-east-1", "lambda", "GetProvisionedConcurrencyConfig")),
            (("POST", "/", {"authorization": signed("dynamodb", "eu-west-1"), "x-amz-target": "DynamoDB_20120810.PutItem"}, b"{}"), ("eu-west-1", "dynamodb", "PutItem")),
            (("POST", "/", {"authorization": signed("tagging"), "x-amz-target": "ResourceGroupsTaggingAPI_20170126.GetResources"}, b"{}"), ("us-east-1", "tagging", "GetResources")),
            (("POST", "/", {"authorization": signed("monitoring"), "content-type": "application/x-www-form-urlencoded; charset=utf-8"}, b"Action=PutMetricData&Version=2010-08-01"), ("us-east-1", "monitoring", "PutMetricData")),
            (("POST", "/", {"authorization": signed("monitoring"), "content-type": "application/x-www-form-urlencoded", "content-encoding": "gzip"}, gzip.compress(b"Action=PutMetricData&Version=2010-08-01")), ("us-east-1", "monitoring", "PutMetricData")),
            (("POST", "/service/GraniteServiceVersion20100801/operation/DescribeAlarms", {"authorization": signed("monitoring")}, b""), ("us-east-1", "monitoring", "DescribeAlarms")),
            (("GET", "/x?X-Amz-Credential=AKID%2F20261129%2Fus-east-1%2Flambda%2Faws4_request", {}, b""), ("us-east-1", "lambda", "GET /x")),
        ]
        for args, expected in cases:
            self.assertEqual(proxy.identify(*args), expected, args)

    def test_quota_classes(self):
        self.assertEqual(proxy.quota_class("lambda", "PutFunctionConcurrency"), "lambda:control-plane")
        self.assertEqual(proxy.quota_class("lambda", "GET /2099-01-01/new-api"), "lambda:control-plane")
        self.assertEqual(proxy.quota_class("lambda", "GetFunction"), "lambda:GetFunction")
        self.assertEqual(proxy.quota_class("lambda", "GetPolicy"), "lambda:GetPolicy")
        self.assertIsNone(proxy.quota_class("lambda", "Invoke"))
        self.assertIsNone(proxy.quota_class("dynamodb", "PutItem"))

    def test_route_table_names_every_operation_of_botocores_lambda_model(self):
        try:
            import botocore.session
        except ImportError:
            self.skipTest("botocore is not installed")
        model = botocore.session.get_session().get_service_model("lambda")
        for name in model.operation_names:
            http = model.operation_model(name).http
            path, _, query = http["requestUri"].partition("?")
            # A label filled as the SDKs fill it, with an ARN's `:` percent-encoded.
            path = path.replace("{FunctionName}", "arn%3Aaws%3Alambda%3Aus-east-1%3A1%3Afunction%3Af")
            path = "/".join("x" if part.startswith("{") else part for part in path.split("/"))
            self.assertEqual(proxy.lambda_operation(http["method"], path, query), name, http)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(port):
    for _ in range(150):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port}")


@unittest.skipUnless(shutil.which("moto_server", path=os.path.dirname(sys.executable)), "moto_server not in this venv")
class Boto3ThroughProxyTest(unittest.TestCase):
    """A real SDK (botocore) through the proxy to moto: it reads the 429 as throttling."""

    @classmethod
    def setUpClass(cls):
        moto_port, cls.port = free_port(), free_port()
        cls.moto_port = moto_port
        bin_dir = os.path.dirname(sys.executable)
        cls.moto = subprocess.Popen([os.path.join(bin_dir, "moto_server"), "-H", "127.0.0.1", "-p", str(moto_port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        here = os.path.dirname(os.path.abspath(__file__))
        cls.proxy = subprocess.Popen([sys.executable, os.path.join(here, "proxy.py"), "--upstream", f"127.0.0.1:{moto_port}", "--port", str(cls.port)], stdout=subprocess.DEVNULL)
        wait_for(moto_port)
        wait_for(cls.port)

    @classmethod
    def tearDownClass(cls):
        for process in (cls.proxy, cls.moto):
            process.terminate()
            process.wait()

    def test_botocore_reads_the_429_as_a_throttling_too_many_requests_exception(self):
        import boto3
        from botocore.config import Config
        from botocore.exceptions import ClientError
        from botocore.retries.standard import RetryContext, ThrottledRetryableChecker

        def lam(endpoint):
            return boto3.client("lambda", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b", config=Config(retries={"total_max_attempts": 1}, max_pool_connections=30))

        direct = lam(f"http://127.0.0.1:{self.moto_port}")
        iam = boto3.client("iam", endpoint_url=direct.meta.endpoint_url, region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b")
        iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}")
        direct.create_function(FunctionName="f", Runtime="provided.al2023", Role="arn:aws:iam::123456789012:role/r", Handler="h", Code={"ZipFile": b"x"})
        client = lam(f"http://127.0.0.1:{self.port}")
        urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{self.port}/__proxy/reset", method="POST")).read()

        def put(_):
            try:
                client.put_function_concurrency(FunctionName="f", ReservedConcurrentExecutions=3)
                return "ok"
            except ClientError as e:
                checker = ThrottledRetryableChecker()
                context = RetryContext(attempt_number=1, parsed_response=e.response, http_response=None)
                self.assertTrue(checker.is_retryable(context))
                return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]

        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(30) as pool:
            outcomes = list(pool.map(put, range(30)))
        stats = json.load(urllib.request.urlopen(f"http://127.0.0.1:{self.port}/__proxy/stats"))
        self.assertEqual(stats["calls"]["lambda"], {"PutFunctionConcurrency": 30})
        # 15 and 15 when the 30 threads send within one second, as they do on an idle machine.
        throttled = stats["throttled"]["lambda"]["PutFunctionConcurrency"]
        self.assertGreaterEqual(throttled, 1)
        self.assertEqual(outcomes.count(("TooManyRequestsException", 429)), throttled)
        self.assertEqual(outcomes.count("ok"), 30 - throttled)
        self.assertLessEqual(stats["peaks"]["lambda:control-plane"]["admitted"]["peak_per_second"], 15)


if __name__ == "__main__":
    unittest.main()
