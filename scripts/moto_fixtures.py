"""Demo and smoke-test fixtures in a local moto server (uses the venv's boto3), and moto's
server patched where it answers differently from AWS (`serve`, which tests/support runs;
see patch_moto).

    python scripts/moto_fixtures.py ENDPOINT setup
    python scripts/moto_fixtures.py ENDPOINT consumer FUNCTION QUEUE
    python scripts/moto_fixtures.py ENDPOINT alarm NAME STATE
    python scripts/moto_fixtures.py ENDPOINT show FUNCTION...
    python scripts/moto_fixtures.py ENDPOINT metrics NAMESPACE
    autoscaler invoke ... | python scripts/moto_fixtures.py ENDPOINT summary
    python scripts/moto_fixtures.py serve -H HOST -p PORT    moto's server, as patch_moto fixes it
"""

import json
import sys

import boto3

REGION = "us-east-1"
# The autoscaler's state table (AUTOSCALER_STATE_TABLE), as template.yaml creates it.
STATE_TABLE = "autoscaler-state"
ACCOUNT = "123456789012"
ROLE = "autoscaler-demo-target"


def client(endpoint, service, **options):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="demo",
        aws_secret_access_key="demo",
        **options,
    )


def patch_moto():
    """Makes moto's server answer as AWS does where moto 5.2.5 does not, in what the autoscaler
    reads. GetFunction leaves a reservation of 0 out (moto tests the value for truth), so a
    function throttled to 0, a paused consumer's, would read as unreserved."""
    from moto.awslambda.models import LambdaFunction

    get_code = LambdaFunction.get_code
    if getattr(get_code, "patched", False):
        return

    def get_code_with_zero(self):
        response = get_code(self)
        if self.reserved_concurrency is not None and int(self.reserved_concurrency) == 0:
            response["Concurrency"] = {"ReservedConcurrentExecutions": 0}
        return response

    get_code_with_zero.patched = True
    LambdaFunction.get_code = get_code_with_zero


def serve(argv):
    """moto's server (moto_server's own arguments), patched."""
    patch_moto()
    from moto.server import main as moto_server

    moto_server(argv)


def set_alarm(endpoint, name, state):
    cloudwatch = client(endpoint, "cloudwatch")
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        Namespace="Demo",
        MetricName=name,
        Statistic="Maximum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanThreshold",
    )
    cloudwatch.set_alarm_state(AlarmName=name, StateValue=state, StateReason="demo")


def setup(endpoint):
    """The demo targets of examples/policy.json, and the alarms moto can hold."""
    client(endpoint, "iam").create_role(RoleName=ROLE, AssumeRolePolicyDocument="{}")
    lam = client(endpoint, "lambda")
    # resize-worker is not in the policy document: its tags opt it in.
    resize_tags = {
        "autoscaler:min": "1",
        "autoscaler:max": "5",
        "autoscaler:queue": "thumbnails",
        "autoscaler:messages-per-instance": "100",
    }
    for name, reserved, tags in [
        ("orders-worker", 5, {}),
        ("reports-api", None, {}),
        ("thumbnails-worker", 2, {}),
        ("resize-worker", None, resize_tags),
    ]:
        lam.create_function(
            FunctionName=name,
            Runtime="provided.al2023",
            Role=f"arn:aws:iam::{ACCOUNT}:role/{ROLE}",
            Handler="bootstrap",
            Code={"ZipFile": b"demo code is never run"},
            Tags={"autoscaler:enabled": "true", **tags},
        )
        if reserved is not None:
            lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=reserved)
    set_alarm(endpoint, "orders-backlog-high", "ALARM")
    client(endpoint, "dynamodb").create_table(
        TableName=STATE_TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "function", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "function", "KeyType": "HASH"}],
    )
    # A backlog of 230 messages for the queue-following targets.
    sqs = client(endpoint, "sqs")
    url = sqs.create_queue(QueueName="thumbnails")["QueueUrl"]
    for batch in range(23):
        sqs.send_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "MessageBody": f"image {batch * 10 + i}"} for i in range(10)],
        )
    # orders-db-overloaded is a composite alarm, which moto cannot hold: its state comes
    # from the event, as it does on AWS for any alarm DescribeAlarms does not return.


def consumer(endpoint, function, queue):
    """An SQS queue and its event source mapping to FUNCTION, as a user creates one: enabled,
    without ScalingConfig.MaximumConcurrency. moto invokes the function when a message is sent
    to a queue with an enabled mapping (and cannot run it): send messages before mapping."""
    url = client(endpoint, "sqs").create_queue(QueueName=queue)["QueueUrl"]
    arn = client(endpoint, "sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    client(endpoint, "lambda").create_event_source_mapping(
        FunctionName=function, EventSourceArn=arn["Attributes"]["QueueArn"], BatchSize=10
    )


def show(endpoint, functions):
    """Each function's reservation, and its SQS event source mappings under it."""
    lam = client(endpoint, "lambda")
    for name in functions:
        value = lam.get_function_concurrency(FunctionName=name).get("ReservedConcurrentExecutions")
        print(f"  {name:<18} reserved concurrency: {'unreserved' if value is None else value}")
        for m in lam.list_event_source_mappings(FunctionName=name)["EventSourceMappings"]:
            limit = m.get("ScalingConfig", {}).get("MaximumConcurrency", "none")
            queue = m["EventSourceArn"].split(":")[-1]
            print(f"  {'':<18} SQS {queue} mapping: MaximumConcurrency {limit}, {m['State']}")


def metrics(endpoint, namespace):
    cloudwatch = client(endpoint, "cloudwatch")
    names = sorted(
        {
            (m["MetricName"], d["Value"])
            for m in cloudwatch.list_metrics(Namespace=namespace)["Metrics"]
            for d in m["Dimensions"]
        }
    )
    for metric, function in names:
        print(f"  {namespace}/{metric} FunctionName={function}")
    for metric in sorted({m["MetricName"] for m in cloudwatch.list_metrics(Namespace=namespace)["Metrics"] if not m["Dimensions"]}):
        print(f"  {namespace}/{metric} (per invocation)")


def transition(previous, desired, show=str):
    """`a -> b`, or just `a` when nothing changes."""
    return show(previous) if previous == desired else f"{show(previous)} -> {show(desired)}"


def event_source(s):
    """One mapping of a decision: its maximum and state before and after, and what was done."""
    limit = transition(**s["maximumConcurrency"], show=lambda v: "none" if v is None else str(v))
    state = transition(**s["enabled"], show=lambda v: "Enabled" if v else "Disabled")
    if "error" in s:
        status = f"failed: {s['error']}"
    elif s["maximumConcurrency"]["previous"] == s["maximumConcurrency"]["desired"] and \
            s["enabled"]["previous"] == s["enabled"]["desired"]:
        status = "unchanged"
    else:
        status = f"applied: {s['applied']}"
    return f"SQS {s['queue']} mapping: MaximumConcurrency {limit}, {state} ({status})"


def summary(record):
    """A decision record, one line per decision, its reasons and its event source mappings."""
    for d in record["decisions"]:
        show = lambda v: "unreserved" if v is None else v
        status = "deferred" if d.get("deferred") else f"applied: {d['applied']}"
        print(f"  {d['function']}: {show(d['previous'])} -> {show(d['desired'])} ({status})")
        for reason in d["reasons"]:
            print(f"      - {reason}")
        for s in d.get("eventSources", []):
            print(f"    {event_source(s)}")
    for failure in record.get("recordErrors", []):
        print(f"  record {failure['messageId']} failed: {failure['error']}")


def main(argv):
    if argv[1] == "serve":
        return serve(argv[2:])
    endpoint, command, args = argv[1], argv[2], argv[3:]
    if command == "setup":
        setup(endpoint)
    elif command == "consumer":
        consumer(endpoint, *args)
    elif command == "alarm":
        set_alarm(endpoint, *args)
    elif command == "show":
        show(endpoint, args)
    elif command == "summary":
        summary(json.load(sys.stdin))
    elif command == "metrics":
        metrics(endpoint, args[0])
    else:
        sys.exit(f"unknown command {command}")


if __name__ == "__main__":
    main(sys.argv)
