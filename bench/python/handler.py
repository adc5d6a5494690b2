"""Reference: the minimal program's work (bench/src/bin/minimal.rs) as a Python 3.11 boto3
handler, run under awslambdaric as a container image would run it."""

import boto3

# Module scope, as in any Lambda handler: built once per cold start.
LAMBDA = boto3.client("lambda")
CLOUDWATCH = boto3.client("cloudwatch")


def handler(event, context):
    function, desired = event["function"], event["desiredConcurrency"]
    previous = LAMBDA.get_function_concurrency(FunctionName=function).get(
        "ReservedConcurrentExecutions"
    )
    applied = previous != desired
    if applied:
        LAMBDA.put_function_concurrency(FunctionName=function, ReservedConcurrentExecutions=desired)
    CLOUDWATCH.put_metric_data(
        Namespace="LambdaAutoscaler",
        MetricData=[
            {
                "MetricName": "DesiredConcurrency",
                "Dimensions": [{"Name": "FunctionName", "Value": function}],
                "Value": desired,
            }
        ],
    )
    return {"function": function, "previous": previous, "desired": desired, "applied": applied}
