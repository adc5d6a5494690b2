"""Demo and smoke-test fixtures in a local moto server (uses the venv's boto3).

    python scripts/moto_fixtures.py ENDPOINT setup
    python scripts/moto_fixtures.py ENDPOINT alarm NAME STATE
    python scripts/moto_fixtures.py ENDPOINT show FUNCTION...
    python scripts/moto_fixtures.py ENDPOINT metrics NAMESPACE
    autoscaler invoke ... | python scripts/moto_fixtures.py ENDPOINT summary
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


def show(endpoint, functions):
    lam = client(endpoint, "lambda")
    for name in functions:
        value = lam.get_function_concurrency(FunctionName=name).get("ReservedConcurrentExecutions")
        print(f"  {name:<18} reserved concurrency: {'unreserved' if value is None else value}")


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


def summary(record):
    """A decision record, one line per decision and its reasons."""
    for d in record["decisions"]:
        show = lambda v: "unreserved" if v is None else v
        status = "deferred" if d.get("deferred") else f"applied: {d['applied']}"
        print(f"  {d['function']}: {show(d['previous'])} -> {show(d['desired'])} ({status})")
        for reason in d["reasons"]:
            print(f"      - {reason}")
    for failure in record.get("recordErrors", []):
        print(f"  record {failure['messageId']} failed: {failure['error']}")


def main(argv):
    endpoint, command, args = argv[1], argv[2], argv[3:]
    if command == "setup":
        setup(endpoint)
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
