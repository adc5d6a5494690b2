#!/usr/bin/env python3
"""Security properties of the SAM template (template.yaml), checked without AWS.

Run: .venv/bin/python tests/template_security.py [path/to/template.yaml]
     .venv/bin/python tests/template_security.py --print-cli-policy   (the policy for docs/deploy.md)

Each check is a function that raises CheckFailed with a message. After the checks on the
real template, every check is also run against copies of the template with the property it
guards removed or weakened (the mutations at the end), and must fail there: a check that
cannot fail proves nothing. The last line is "N passed, M failed"; the exit code is 1 when
anything failed.

The template is read with cfn-lint's own YAML loader, which understands the CloudFormation
short forms (!Ref, !Sub, !If, ...) and turns them into their long forms ({"Ref": ...}).
"""

import copy
import fnmatch
import json
import os
import sys
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TEMPLATE = ROOT / "template.yaml"

# Actions that change other functions. They may only be allowed on functions that opted in.
WRITE_ACTIONS = (
    "lambda:PutFunctionConcurrency",
    "lambda:DeleteFunctionConcurrency",
    "lambda:TagResource",
    "lambda:UntagResource",
)
OPT_IN_CONDITION_KEY = "aws:ResourceTag/autoscaler:enabled"
ALARM_PRINCIPAL = "lambda.alarms.cloudwatch.amazonaws.com"
AUTOSCALER_BINARY = "lambda-autoscaler"


class CheckFailed(Exception):
    pass


def require(condition, message):
    if not condition:
        raise CheckFailed(message)


def load_template(path):
    from cfnlint.decode import cfn_yaml

    # Round-trip through JSON: plain dicts and lists, free of the loader's node classes.
    return json.loads(json.dumps(cfn_yaml.load(str(path))))


# ---------------------------------------------------------------- template helpers


def resources(template):
    return template.get("Resources") or {}


def resources_of_type(template, type_name):
    return {k: v for k, v in resources(template).items() if v.get("Type") == type_name}


def functions(template):
    """(logical id, resource) of every function built from the lambda-autoscaler binary: the
    autoscaler, and the watcher when the template has one."""
    found = [
        (logical_id, r)
        for logical_id, r in resources_of_type(template, "AWS::Serverless::Function").items()
        if ((r.get("Metadata") or {}).get("BuildProperties") or {}).get("Binary")
        == AUTOSCALER_BINARY
    ]
    require(
        found,
        f"no AWS::Serverless::Function is built from the {AUTOSCALER_BINARY} binary "
        f"(Metadata.BuildProperties.Binary)",
    )
    return found


def autoscaler(template):
    """(logical id, resource) of the autoscaler: the function built from the
    lambda-autoscaler binary that every deployment has (no Condition). It takes the events."""
    found = [(i, r) for i, r in functions(template) if "Condition" not in r]
    require(
        len(found) == 1,
        f"expected exactly one unconditional AWS::Serverless::Function built from the "
        f"{AUTOSCALER_BINARY} binary, found {len(found)}",
    )
    return found[0]


def autoscaler_properties(template):
    return autoscaler(template)[1].get("Properties") or {}


WATCH_SECONDS_ENV = "AUTOSCALER_WATCH_SECONDS"
WATCH_PARAMETER = "WatchSeconds"


def watcher(template):
    """(logical id, resource) of the watcher: the function built from the binary whose
    environment sets AUTOSCALER_WATCH_SECONDS."""
    found = [
        (i, r) for i, r in functions(template)
        if WATCH_SECONDS_ENV in ((((r.get("Properties") or {}).get("Environment")) or {}).get("Variables") or {})
    ]
    require(
        len(found) == 1,
        f"expected exactly one function built from the binary with {WATCH_SECONDS_ENV} "
        f"(the watcher), found {len(found)}",
    )
    return found[0]


def properties(resource):
    return resource.get("Properties") or {}


def environment(resource):
    return ((properties(resource).get("Environment") or {}).get("Variables")) or {}


def referenced_logical_id(value):
    """The logical id a Ref or Fn::GetAtt points at, else None."""
    if isinstance(value, dict):
        if "Ref" in value and isinstance(value["Ref"], str):
            return value["Ref"]
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            if isinstance(target, list) and target:
                return target[0]
            if isinstance(target, str):
                return target.split(".")[0]
    return None


def sub_text(value):
    """A name-like property as Fn::Sub text: "x" -> "x", !Sub "x" -> "x", !Ref X -> "${X}"."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        if "Fn::Sub" in value:
            text = value["Fn::Sub"]
            text = text[0] if isinstance(text, list) else text
            return text if isinstance(text, str) else None
        if isinstance(value.get("Ref"), str):
            return "${" + value["Ref"] + "}"
    return None


def is_no_value(value):
    return isinstance(value, dict) and value.get("Ref") == "AWS::NoValue"


def possible_items(value):
    """Every item a (possibly list-valued, possibly Fn::If-guarded) property could hold,
    over all branches: conservative for 'is anything here unsafe?' questions."""
    if is_no_value(value) or value is None:
        return []
    if isinstance(value, dict) and "Fn::If" in value:
        args = value["Fn::If"]
        return possible_items(args[1]) + possible_items(args[2])
    if isinstance(value, list):
        items = []
        for element in value:
            items.extend(possible_items(element))
        return items
    return [value]


def branches(value):
    """The alternatives of a property that may be guarded by Fn::If, each as a list."""
    if isinstance(value, dict) and "Fn::If" in value:
        args = value["Fn::If"]
        return branches(args[1]) + branches(args[2])
    if is_no_value(value) or value is None:
        return [[]]
    return [value if isinstance(value, list) else [value]]


def policy_statements(template):
    """(where, statement) for every statement of every identity policy in the template."""
    found = []

    def add(where, document):
        if not isinstance(document, dict):
            return
        for statement in possible_items(document.get("Statement")):
            sid = statement.get("Sid", "?") if isinstance(statement, dict) else "?"
            found.append((f"{where} statement {sid}", statement))

    for logical_id, r in resources_of_type(template, "AWS::IAM::Role").items():
        for policy in possible_items((r.get("Properties") or {}).get("Policies")):
            name = policy.get("PolicyName", "?") if isinstance(policy, dict) else "?"
            add(f"{logical_id} policy {name}", (policy or {}).get("PolicyDocument"))
    for type_name in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy"):
        for logical_id, r in resources_of_type(template, type_name).items():
            add(logical_id, (r.get("Properties") or {}).get("PolicyDocument"))
    for logical_id, r in resources_of_type(template, "AWS::Serverless::Function").items():
        for policy in possible_items((r.get("Properties") or {}).get("Policies")):
            if isinstance(policy, dict) and "Statement" in policy:
                add(f"{logical_id} Policies", policy)
    return found


def allow_statements(template):
    return [(w, s) for w, s in policy_statements(template) if s.get("Effect") == "Allow"]


def action_patterns(statement):
    return [a for a in possible_items(statement.get("Action")) if isinstance(a, str)]


def grants(statement, action):
    """True when an Allow statement's Action (with IAM wildcards) or NotAction covers action."""
    action = action.lower()
    if "NotAction" in statement:
        excluded = [a for a in possible_items(statement["NotAction"]) if isinstance(a, str)]
        return not any(fnmatch.fnmatchcase(action, p.lower()) for p in excluded)
    return any(fnmatch.fnmatchcase(action, p.lower()) for p in action_patterns(statement))


def granted_writes(statement):
    return [a for a in WRITE_ACTIONS if grants(statement, a)]


def condition_values(statement, operator, key):
    """The values a statement's Condition tests `key` against with `operator`, or None when
    it does not test it (operators and keys are case-insensitive in IAM)."""
    condition = statement.get("Condition")
    if not isinstance(condition, dict):
        return None
    for op, tests in condition.items():
        if op.lower() != operator.lower() or not isinstance(tests, dict):
            continue
        for k, v in tests.items():
            if k.lower() == key.lower():
                return v if isinstance(v, list) else [v]
    return None


def has_opt_in_condition(statement):
    values = condition_values(statement, "StringEquals", OPT_IN_CONDITION_KEY)
    return values == ["true"]


def is_explicit_resource(value):
    """A resource that names specific ARNs: a literal or Fn::Sub string without '*', or a
    GetAtt of a resource in the template. A Ref to a parameter is not explicit: whoever
    deploys can pass '*'."""
    if isinstance(value, str):
        return "*" not in value
    if isinstance(value, dict):
        if "Fn::Sub" in value:
            text = value["Fn::Sub"]
            text = text[0] if isinstance(text, list) else text
            return isinstance(text, str) and "*" not in text
        if "Fn::GetAtt" in value:
            return True
    return False


def statement_resources(statement):
    if "NotResource" in statement:
        return ["*"]  # everything but a list: as broad as "*" for our purpose
    return possible_items(statement.get("Resource"))


def resource_is_wildcard(value):
    if isinstance(value, str):
        return "*" in value
    if isinstance(value, dict) and "Fn::Sub" in value:
        text = value["Fn::Sub"]
        text = text[0] if isinstance(text, list) else text
        return not isinstance(text, str) or "*" in text
    if isinstance(value, dict) and "Ref" in value:
        return True  # a parameter could be "*"
    return False


# ---------------------------------------------------------------- the checks


def check_write_actions_require_opt_in_tag_or_explicit_arns(template):
    """Concurrency and tag writes appear only in Allow statements with the condition
    StringEquals aws:ResourceTag/autoscaler:enabled = "true", or on an explicit ARN list."""
    for where, statement in allow_statements(template):
        writes = granted_writes(statement)
        if not writes or has_opt_in_condition(statement):
            continue
        resources_ = statement_resources(statement)
        require(
            resources_ and all(is_explicit_resource(r) for r in resources_),
            f"{where} allows {', '.join(writes)} without the condition StringEquals "
            f'{OPT_IN_CONDITION_KEY} = "true" and without an explicit ARN list '
            f"(resources: {json.dumps(resources_)})",
        )


def check_code_revealing_reads_require_opt_in_tag(template):
    """lambda:GetFunction (which also returns a link to download the function's code) is
    granted only with the opt-in tag condition, so the autoscaler cannot read other code."""
    granted = False
    for where, statement in allow_statements(template):
        if not grants(statement, "lambda:GetFunction"):
            continue
        granted = True
        require(
            has_opt_in_condition(statement),
            f"{where} allows lambda:GetFunction without the condition StringEquals "
            f'{OPT_IN_CONDITION_KEY} = "true"',
        )
    require(granted, "no statement grants lambda:GetFunction, which the function needs")


def check_tags_are_returned_on_opted_in_functions(template):
    """GetFunction returns a function's tags (the opt-in and tag policies) only to a role also
    allowed lambda:ListTags: a statement grants it, with the opt-in tag condition."""
    found = [
        where for where, statement in allow_statements(template)
        if grants(statement, "lambda:ListTags") and has_opt_in_condition(statement)
    ]
    require(
        found,
        "no statement grants lambda:ListTags with the opt-in condition: GetFunction would "
        "return no tags, and a tagged function not in the document would read as untagged",
    )


def check_no_write_on_wildcard_resource_without_condition(template):
    """No Allow statement grants a write on "*" (or any wildcard ARN) without the tag condition."""
    for where, statement in allow_statements(template):
        writes = granted_writes(statement)
        if not writes or has_opt_in_condition(statement):
            continue
        wild = [r for r in statement_resources(statement) if resource_is_wildcard(r)]
        require(
            not wild,
            f"{where} allows {', '.join(writes)} on {json.dumps(wild)} without the "
            f"{OPT_IN_CONDITION_KEY} condition",
        )


def check_concurrency_writes_are_granted_somewhere(template):
    """The writes the function needs are granted at all (so the checks above are not
    vacuously true on a template that lost its write statement)."""
    for action in ("lambda:PutFunctionConcurrency", "lambda:DeleteFunctionConcurrency"):
        require(
            any(grants(s, action) for _, s in allow_statements(template)),
            f"no statement allows {action}; the autoscaler could not change or roll back "
            f"reserved concurrency",
        )


def check_no_service_wide_actions(template):
    """No Allow statement uses "*", "service:*" or NotAction."""
    for where, statement in allow_statements(template):
        require("NotAction" not in statement, f"{where} uses NotAction")
        for pattern in action_patterns(statement):
            require(
                pattern != "*" and not pattern.endswith(":*"),
                f'{where} allows "{pattern}"; name the actions',
            )


def check_no_put_metric_data(template):
    """No statement allows cloudwatch:PutMetricData: the function writes its metrics as
    Embedded Metric Format lines in its log, which CloudWatch Logs turns into metrics, so the
    permission would only let it write into namespaces it does not need."""
    for where, statement in allow_statements(template):
        require(
            not grants(statement, "cloudwatch:PutMetricData"),
            f"{where} allows cloudwatch:PutMetricData; the function's metrics are EMF log "
            f"lines and need no API call",
        )


def check_application_log_level_keeps_metrics(template):
    """Each function's ApplicationLogLevel is INFO or lower (or unset, which is INFO): its
    metrics are EMF lines without a level, which Lambda counts as INFO, so WARN, ERROR or
    FATAL would drop every one and leave the dashboard empty."""
    for logical_id, function in functions(template):
        logging = properties(function).get("LoggingConfig") or {}
        level = logging.get("ApplicationLogLevel", "INFO")
        require(
            isinstance(level, str) and level.upper() in ("TRACE", "DEBUG", "INFO"),
            f"{logical_id}: ApplicationLogLevel {json.dumps(level)} drops the EMF metric lines "
            f"(Lambda counts a line without a level as INFO); use INFO",
        )


def check_role_is_fully_visible(template):
    """The autoscaler's permissions are all in this template: its Role is an AWS::IAM::Role
    defined here, with no managed policies, and the function has no SAM Policies (whose
    templates and managed policies the checks above could not read). The watcher has the
    same role: its first pass is the full reconciliation, and nothing more."""
    roles = set()
    for logical_id, function in functions(template):
        props = properties(function)
        require("Policies" not in props, f"{logical_id} has SAM Policies; use the explicit role")
        role_id = referenced_logical_id(props.get("Role"))
        role = resources(template).get(role_id) if role_id else None
        require(
            role is not None and role.get("Type") == "AWS::IAM::Role",
            f"{logical_id}.Role must be !GetAtt of an AWS::IAM::Role in this template",
        )
        role_props = role.get("Properties") or {}
        require(
            not role_props.get("ManagedPolicyArns"),
            f"{role_id} attaches managed policies ({json.dumps(role_props.get('ManagedPolicyArns'))}); "
            f"put every permission inline so it can be read and checked",
        )
        roles.add(role_id)
    require(len(roles) == 1, f"the functions have different roles ({sorted(roles)}); the checks read one")


def check_autoscaler_cannot_change_itself(template):
    """A Deny statement forbids concurrency writes on each of the autoscaler's own functions
    (the watcher's too), so a reserved concurrency of 1 cannot be lifted by a policy that
    names it."""
    for logical_id, function in functions(template):
        name_text = sub_text(properties(function).get("FunctionName"))
        require(name_text is not None, f"{logical_id} needs a FunctionName (a string, !Sub or !Ref) to deny writes on itself")
        if not denies_concurrency_writes_on(template, name_text):
            raise CheckFailed(
                "no Deny statement forbids lambda:PutFunctionConcurrency and "
                f"lambda:DeleteFunctionConcurrency on {logical_id}'s own function ({name_text})"
            )


def denies_concurrency_writes_on(template, name_text):
    for _, statement in policy_statements(template):
        if statement.get("Effect") != "Deny":
            continue
        actions = action_patterns(statement)
        covers = all(
            any(fnmatch.fnmatchcase(a.lower(), p.lower()) for p in actions)
            for a in ("lambda:PutFunctionConcurrency", "lambda:DeleteFunctionConcurrency")
        )
        for r in possible_items(statement.get("Resource")):
            text = sub_text(r)
            if covers and text is not None and (text == "*" or text.endswith(f":function:{name_text}")):
                return True
    return False


def check_own_reserved_concurrency_is_one(template):
    """ReservedConcurrentExecutions: 1 on each function: events are handled one at a time,
    and the watcher runs one loop at a time."""
    for logical_id, function in functions(template):
        value = properties(function).get("ReservedConcurrentExecutions")
        require(
            value is not None and str(value) == "1",
            f"{logical_id}'s ReservedConcurrentExecutions must be 1, got {json.dumps(value)}",
        )


def check_failed_events_have_an_sqs_destination(template):
    """Each function's EventInvokeConfig has MaximumRetryAttempts and an OnFailure
    destination that is an SQS queue of this template, and the role may send to it."""
    for logical_id, function in functions(template):
        config = properties(function).get("EventInvokeConfig")
        require(isinstance(config, dict), f"{logical_id} has no EventInvokeConfig")
        retries = config.get("MaximumRetryAttempts")
        require(
            isinstance(retries, int) and 0 <= retries <= 2,
            f"{logical_id}: EventInvokeConfig.MaximumRetryAttempts must be set (0-2), got {json.dumps(retries)}",
        )
        on_failure = ((config.get("DestinationConfig") or {}).get("OnFailure")) or {}
        require(
            on_failure.get("Type") == "SQS",
            f"{logical_id}: EventInvokeConfig.DestinationConfig.OnFailure.Type must be SQS",
        )
        queue_id = referenced_logical_id(on_failure.get("Destination"))
        queue = resources(template).get(queue_id) if queue_id else None
        require(
            queue is not None and queue.get("Type") == "AWS::SQS::Queue",
            f"{logical_id}: the OnFailure destination must be !GetAtt <queue>.Arn of an "
            f"AWS::SQS::Queue in this template",
        )
        require(
            any(
                grants(statement, "sqs:SendMessage")
                and any(referenced_logical_id(r) == queue_id for r in statement_resources(statement))
                for _, statement in allow_statements(template)
            ),
            f"no statement allows sqs:SendMessage on {queue_id}; failed events could not be delivered",
        )


TAG_WRITES = ("lambda:TagResource", "lambda:UntagResource")
STATE_TABLE_ACTIONS = {"dynamodb:batchgetitem", "dynamodb:putitem"}


def check_no_tag_writes(template):
    """The autoscaler writes no tags at all: its bookkeeping stays off Lambda's shared
    control plane (the state lives in DynamoDB)."""
    for where, statement in allow_statements(template):
        for action in TAG_WRITES:
            require(not grants(statement, action), f"{where} allows {action}; the autoscaler writes no tags")


def state_table(template):
    """(logical id, resource) of the one DynamoDB table: the state table."""
    tables = resources_of_type(template, "AWS::DynamoDB::Table")
    require(len(tables) == 1, f"expected exactly one AWS::DynamoDB::Table (the state table), found {len(tables)}")
    return next(iter(tables.items()))


def check_state_table_is_on_demand_keyed_by_function_with_ttl(template):
    """The state table: on-demand billing, partition key `function` (String) and nothing
    else, the TTL attribute `expires_at` enabled, and the function told its name."""
    logical_id, table = state_table(template)
    props = table.get("Properties") or {}
    require(props.get("BillingMode") == "PAY_PER_REQUEST", f"{logical_id}.BillingMode must be PAY_PER_REQUEST")
    require(
        props.get("KeySchema") == [{"AttributeName": "function", "KeyType": "HASH"}],
        f"{logical_id}.KeySchema must be the one HASH key `function`, got {json.dumps(props.get('KeySchema'))}",
    )
    require(
        props.get("AttributeDefinitions") == [{"AttributeName": "function", "AttributeType": "S"}],
        f"{logical_id}: `function` must be a String",
    )
    ttl = props.get("TimeToLiveSpecification") or {}
    require(
        ttl.get("AttributeName") == "expires_at" and ttl.get("Enabled") is True,
        f"{logical_id}: TTL on expires_at must be enabled, got {json.dumps(ttl)}",
    )
    for function_id, function in functions(template):
        require(
            referenced_logical_id(environment(function).get("AUTOSCALER_STATE_TABLE")) == logical_id,
            f"{function_id}: AUTOSCALER_STATE_TABLE must be !Ref {logical_id}",
        )


def check_state_table_outlives_the_stack(template):
    """The state table is retained when the stack is deleted or the table replaced: it records
    the SQS mappings the autoscaler paused or lowered, which nothing else remembers; and it has
    no fixed name, so a retained table never blocks a redeploy."""
    logical_id, table = state_table(template)
    for policy in ("DeletionPolicy", "UpdateReplacePolicy"):
        require(table.get(policy) == "Retain", f"{logical_id}.{policy} must be Retain, got {table.get(policy)}")
    require(
        "TableName" not in (table.get("Properties") or {}),
        f"{logical_id} must not fix its TableName: a retained table would block a redeploy",
    )


def check_state_table_access_is_scoped(template):
    """DynamoDB actions are allowed only on the state table, and only the two the function
    makes (BatchGetItem, PutItem)."""
    logical_id, _ = state_table(template)
    found = False
    for where, statement in allow_statements(template):
        dynamo = [a for a in action_patterns(statement) if a.lower().startswith("dynamodb:")]
        if not dynamo:
            continue
        found = True
        extra = [a for a in dynamo if a.lower() not in STATE_TABLE_ACTIONS]
        require(not extra, f"{where} allows {extra}; the function needs only BatchGetItem and PutItem")
        resources_ = statement_resources(statement)
        require(
            resources_ and all(referenced_logical_id(r) == logical_id for r in resources_),
            f"{where} allows DynamoDB on {json.dumps(resources_)}; only !GetAtt {logical_id}.Arn",
        )
    require(found, "no statement allows the state table's BatchGetItem and PutItem")


def check_checkov_skips_say_why(template):
    """Every checkov finding skipped in a resource's Metadata names the check and gives a
    reason of at least a sentence."""
    for logical_id, resource in resources(template).items():
        skips = (((resource.get("Metadata") or {}).get("checkov")) or {}).get("skip") or []
        for skip in skips:
            check_id = (skip or {}).get("id")
            comment = (skip or {}).get("comment") or ""
            require(
                isinstance(check_id, str) and check_id.startswith("CKV"),
                f"{logical_id}: a checkov skip without a check id: {json.dumps(skip)}",
            )
            require(
                isinstance(comment, str) and len(comment.split()) >= 8,
                f"{logical_id}: skipping {check_id} needs a comment that says why",
            )


def check_logs_are_json(template):
    """LoggingConfig.LogFormat is JSON (the function's tracing honours AWS_LAMBDA_LOG_FORMAT)."""
    for logical_id, function in functions(template):
        logging = properties(function).get("LoggingConfig") or {}
        require(logging.get("LogFormat") == "JSON", f"{logical_id}'s LoggingConfig.LogFormat must be JSON")


def log_group_of(template, function):
    """The logical id of the log group a function logs to, if the template declares it."""
    props = properties(function)
    group_id = referenced_logical_id((props.get("LoggingConfig") or {}).get("LogGroup"))
    if group_id is None:
        # Otherwise, Lambda's default group /aws/lambda/<FunctionName> must be declared here.
        name = sub_text(props.get("FunctionName"))
        for gid, group in resources_of_type(template, "AWS::Logs::LogGroup").items():
            group_name = sub_text((group.get("Properties") or {}).get("LogGroupName"))
            if name is not None and group_name == f"/aws/lambda/{name}":
                group_id = gid
    return group_id


def check_log_group_has_retention(template):
    """Each function logs to a log group of this template that has RetentionInDays."""
    for logical_id, function in functions(template):
        group_id = log_group_of(template, function)
        group = resources(template).get(group_id) if group_id else None
        require(
            group is not None and group.get("Type") == "AWS::Logs::LogGroup",
            f"{logical_id} must log to an AWS::Logs::LogGroup of this template (LoggingConfig.LogGroup)",
        )
        require(
            (group.get("Properties") or {}).get("RetentionInDays") is not None,
            f"log group {group_id} has no RetentionInDays (logs would be kept forever)",
        )


def check_alarm_permission_is_scoped(template):
    """The direct-alarm example: an AWS::Lambda::Permission for the autoscaler with principal
    lambda.alarms.cloudwatch.amazonaws.com and a SourceArn naming one alarm; every such
    permission has a SourceArn."""
    function_id, _ = autoscaler(template)
    alarm_permissions = [
        (pid, p.get("Properties") or {})
        for pid, p in resources_of_type(template, "AWS::Lambda::Permission").items()
        if (p.get("Properties") or {}).get("Principal") == ALARM_PRINCIPAL
    ]
    require(alarm_permissions, f"no AWS::Lambda::Permission with principal {ALARM_PRINCIPAL}")
    for pid, props in alarm_permissions:
        require(
            referenced_logical_id(props.get("FunctionName")) == function_id,
            f"{pid} must grant invoke on the autoscaler ({function_id})",
        )
        require(props.get("Action") == "lambda:InvokeFunction", f"{pid} must grant lambda:InvokeFunction only")
        source = props.get("SourceArn")
        require(source is not None, f"{pid} has no SourceArn: any alarm of any account could invoke the function")
        text = source.get("Fn::Sub") if isinstance(source, dict) and "Fn::Sub" in source else source
        require(
            referenced_logical_id(source) is not None
            or (isinstance(text, str) and ":alarm:" in text and "*" not in text),
            f"{pid}.SourceArn must name one alarm, got {json.dumps(source)}",
        )


def check_build_shape(template):
    """SAM builds the lambda-autoscaler binary with cargo-lambda for arm64 on provided.al2023."""
    for logical_id, function in functions(template):
        props = properties(function)
        require((function.get("Metadata") or {}).get("BuildMethod") == "rust-cargolambda", f"{logical_id}: BuildMethod must be rust-cargolambda")
        require(props.get("Runtime") == "provided.al2023", f"{logical_id}: Runtime must be provided.al2023")
        require(props.get("Handler") == "bootstrap", f"{logical_id}: Handler must be bootstrap")
        require(props.get("Architectures") == ["arm64"], f"{logical_id}: Architectures must be [arm64]")


# ---------------------------------------------------------------- dashboard and alarm topic

SNS_PRINCIPAL = "sns.amazonaws.com"
# The metrics the function publishes (src/report.rs); the dashboard shows every one.
# PausedConsumers: per function, how many of its SQS mappings the autoscaler has disabled.
PUBLISHED_METRICS = ("DesiredConcurrency", "ReservedConcurrency", "ScalingActions", "PausedConsumers", "DeferredTargets")


def parameter_of(template, value):
    """The parameter a value is a plain !Ref of, else None."""
    name = referenced_logical_id(value)
    return name if name in (template.get("Parameters") or {}) else None


def condition_definition(template, resource):
    name = resource.get("Condition")
    return (template.get("Conditions") or {}).get(name) if isinstance(name, str) else None


def is_equals_test(condition, parameter, literal):
    """condition is Fn::Equals of !Ref parameter and literal (either order)."""
    args = condition.get("Fn::Equals") if isinstance(condition, dict) else None
    return (
        isinstance(args, list)
        and len(args) == 2
        and sorted(args, key=lambda a: isinstance(a, str)) == [{"Ref": parameter}, literal]
    )


def is_set_test(condition, parameter):
    """condition is Fn::Not [Fn::Equals [!Ref parameter, ""]]: true only when it is set."""
    args = condition.get("Fn::Not") if isinstance(condition, dict) else None
    return isinstance(args, list) and len(args) == 1 and is_equals_test(args[0], parameter, "")


def dashboard(template):
    """(logical id, resource) of the one AWS::CloudWatch::Dashboard."""
    found = resources_of_type(template, "AWS::CloudWatch::Dashboard")
    require(len(found) == 1, f"expected exactly one AWS::CloudWatch::Dashboard, found {len(found)}")
    return next(iter(found.items()))


def dashboard_widgets(template):
    """The dashboard's widgets, parsed from its Fn::Sub body with every ${Name} replaced by
    the marker @@Name@@ (and ${!Literal} by ${Literal}), so that checks can see which
    placeholder fills which field."""
    import re

    logical_id, resource = dashboard(template)
    body = (resource.get("Properties") or {}).get("DashboardBody")
    text = sub_text(body) if isinstance(body, dict) and "Fn::Sub" in body else None
    require(isinstance(text, str), f"{logical_id}.DashboardBody must be a !Sub string")
    resolved = re.sub(
        r"\$\{([^}]+)\}",
        lambda m: "${" + m.group(1)[1:] + "}" if m.group(1).startswith("!") else f"@@{m.group(1)}@@",
        text,
    )
    try:
        widgets = json.loads(resolved).get("widgets")
    except (ValueError, AttributeError) as e:
        raise CheckFailed(f"{logical_id}.DashboardBody is not a JSON object: {e}") from e
    require(isinstance(widgets, list) and widgets, f"{logical_id}.DashboardBody has no widgets")
    return logical_id, widgets


def check_dashboard_uses_the_namespace_parameter_and_log_group(template):
    """Every metric on the dashboard is read from the namespace the function publishes to
    (the parameter passed as AUTOSCALER_METRIC_NAMESPACE, also in SEARCH expressions), every
    published metric is shown, and the log widget queries the function's own log group for
    its decision lines: a renamed namespace or stack cannot leave the dashboard empty."""
    import re

    logical_id, widgets = dashboard_widgets(template)
    props = autoscaler_properties(template)
    env = ((props.get("Environment") or {}).get("Variables")) or {}
    namespace = parameter_of(template, env.get("AUTOSCALER_METRIC_NAMESPACE"))
    require(namespace, "AUTOSCALER_METRIC_NAMESPACE must be !Ref of a parameter")
    group = referenced_logical_id((props.get("LoggingConfig") or {}).get("LogGroup"))
    require(group, "the autoscaler's LoggingConfig.LogGroup must be !Ref of a log group")
    marker, shown, queries = f"@@{namespace}@@", set(), []
    for widget in widgets:
        properties = widget.get("properties") or {}
        if widget.get("type") == "log":
            queries.append(properties.get("query") or "")
            continue
        for metric in properties.get("metrics") or []:
            options = metric[-1] if metric and isinstance(metric[-1], dict) else {}
            if "expression" in options:
                expression = options["expression"]
                schemas = re.findall(r"\{([^,}]+),", expression)
                # Quoted: a namespace may hold spaces, which SEARCH reads only in quotes.
                require(
                    schemas and all(s == f'"{marker}"' for s in schemas),
                    f"{logical_id}: the expression {expression} must search the namespace "
                    f'"${{{namespace}}}" (quoted)',
                )
                shown.update(re.findall(r'MetricName="([^"]+)"', expression))
            elif metric and isinstance(metric[0], str) and not metric[0].startswith("."):
                require(
                    metric[0] == marker,
                    f"{logical_id}: the metric {json.dumps(metric)} must be in the namespace ${{{namespace}}}",
                )
                shown.add(metric[1])
    missing = [m for m in PUBLISHED_METRICS if m not in shown]
    require(not missing, f"{logical_id} does not show {', '.join(missing)}")
    require(
        any(
            q.startswith(f"SOURCE '@@{group}@@'")
            and 'fields.message = "scaling decision"' in q
            and "fields.reasons" in q
            for q in queries
        ),
        f"{logical_id} needs a log widget with SOURCE '${{{group}}}' listing the "
        f'"scaling decision" lines with fields.reasons',
    )
    require(
        any(
            q.startswith(f"SOURCE '@@{group}@@'")
            and "latest(fields.schedules)" in q
            and "by fields.function" in q
            for q in queries
        ),
        f"{logical_id} needs a log widget with SOURCE '${{{group}}}' showing each function's "
        f"active schedules (latest(fields.schedules) by fields.function)",
    )


def check_dashboard_is_optional(template):
    """The dashboard is created only under a condition that tests a true/false parameter,
    so a deployer can leave it out."""
    logical_id, resource = dashboard(template)
    condition = condition_definition(template, resource)
    require(condition is not None, f"{logical_id} has no Condition (it must be optional)")
    parameters = template.get("Parameters") or {}
    switch = [
        p for p, spec in parameters.items()
        if sorted(map(str, spec.get("AllowedValues") or [])) == ["false", "true"]
        and is_equals_test(condition, p, "true")
    ]
    require(
        switch,
        f"{logical_id}'s condition must be Fn::Equals [!Ref P, \"true\"] of a parameter P "
        f'with AllowedValues ["true", "false"], got {json.dumps(condition)}',
    )


def check_alarm_topic_subscription_is_scoped(template):
    """The function subscribes to an SNS topic only when the topic parameter is set, and the
    permission for sns.amazonaws.com names that topic as SourceArn, under the same condition:
    no other topic, and no topic at all when the parameter is empty, may invoke it."""
    function_id, _ = autoscaler(template)
    subscriptions = {
        sid: r for sid, r in resources_of_type(template, "AWS::SNS::Subscription").items()
        if referenced_logical_id((r.get("Properties") or {}).get("Endpoint")) == function_id
    }
    require(subscriptions, f"no AWS::SNS::Subscription with the autoscaler ({function_id}) as Endpoint")
    permissions = {
        pid: p for pid, p in resources_of_type(template, "AWS::Lambda::Permission").items()
        if (p.get("Properties") or {}).get("Principal") == SNS_PRINCIPAL
    }
    topics = {}
    for sid, subscription in subscriptions.items():
        props = subscription.get("Properties") or {}
        require(props.get("Protocol") == "lambda", f"{sid}.Protocol must be lambda")
        topic = parameter_of(template, props.get("TopicArn"))
        require(topic, f"{sid}.TopicArn must be !Ref of the topic parameter")
        require(
            is_set_test(condition_definition(template, subscription), topic),
            f"{sid} must have a Condition that is true only when {topic} is set",
        )
        topics[topic] = sid
    require(permissions, f"no AWS::Lambda::Permission with principal {SNS_PRINCIPAL}")
    for pid, permission in permissions.items():
        props = permission.get("Properties") or {}
        require(
            referenced_logical_id(props.get("FunctionName")) == function_id,
            f"{pid} must grant invoke on the autoscaler ({function_id})",
        )
        require(props.get("Action") == "lambda:InvokeFunction", f"{pid} must grant lambda:InvokeFunction only")
        topic = parameter_of(template, props.get("SourceArn"))
        require(
            topic in topics,
            f"{pid}.SourceArn must be !Ref of the subscribed topic parameter, got {json.dumps(props.get('SourceArn'))}",
        )
        require(
            is_set_test(condition_definition(template, permission), topic),
            f"{pid} must have a Condition that is true only when {topic} is set",
        )
    granted = {parameter_of(template, (p.get("Properties") or {}).get("SourceArn")) for p in permissions.values()}
    for topic, sid in topics.items():
        require(topic in granted, f"{sid} subscribes to {topic}, but no permission lets that topic invoke the function")


# The role policy as docs/deploy.md shows it for the cargo-lambda path: the template's
# statements with the defaults filled in and the account and region left as placeholders.
DOCS = ROOT / "docs" / "deploy.md"
DOCS_BEGIN = "<!-- iam-policy:begin -->"
DOCS_END = "<!-- iam-policy:end -->"
CLI_VALUES = {
    "AWS::Partition": "aws",
    "AWS::Region": "REGION",
    "AWS::AccountId": "ACCOUNT_ID",
    "AWS::StackName": "lambda-autoscaler",
    "MetricNamespace": "LambdaAutoscaler",
    "AutoscalerLogGroup.Arn": "arn:aws:logs:REGION:ACCOUNT_ID:log-group:/aws/lambda/lambda-autoscaler:*",
    "FailedEventsQueue.Arn": "arn:aws:sqs:REGION:ACCOUNT_ID:lambda-autoscaler-failed-events",
    "StateTable.Arn": "arn:aws:dynamodb:REGION:ACCOUNT_ID:table/lambda-autoscaler-state",
}


def render(value, values, conditions):
    """Resolves the intrinsics of a policy (or of a condition definition) with fixed values;
    conditions default to false."""
    import re

    if isinstance(value, list):
        return [render(v, values, conditions) for v in value]
    if not isinstance(value, dict):
        return value
    if "Fn::If" in value:
        name, yes, no = value["Fn::If"]
        return render(yes if conditions.get(name, False) else no, values, conditions)
    if "Fn::Join" in value:
        separator, items = value["Fn::Join"]
        return separator.join(render(items, values, conditions))
    if "Fn::Split" in value:
        separator, text = value["Fn::Split"]
        return render(text, values, conditions).split(separator)
    if "Fn::Equals" in value:
        left, right = render(value["Fn::Equals"], values, conditions)
        return left == right
    if "Fn::Not" in value:
        return not render(value["Fn::Not"][0], values, conditions)
    if "Fn::And" in value:
        return all(render(value["Fn::And"], values, conditions))
    if "Fn::Or" in value:
        return any(render(value["Fn::Or"], values, conditions))
    if len(value) == 1 and isinstance(value.get("Condition"), str):
        return conditions.get(value["Condition"], False)
    if "Fn::Sub" in value:
        text = value["Fn::Sub"]
        return re.sub(r"\$\{([^}]+)\}", lambda m: values[m.group(1)], text)
    if value.get("Ref") == "AWS::NoValue":
        return None
    if "Ref" in value:
        return values[value["Ref"]]
    if "Fn::GetAtt" in value:
        target = value["Fn::GetAtt"]
        return values[".".join(target) if isinstance(target, list) else target]
    return {k: render(v, values, conditions) for k, v in value.items()}


def cli_policy(template):
    """The autoscaler role's policy document, rendered for the cargo-lambda path."""
    _, function = autoscaler(template)
    role_id = referenced_logical_id((function.get("Properties") or {}).get("Role"))
    role = resources(template).get(role_id) or {}
    policies = (role.get("Properties") or {}).get("Policies") or []
    require(len(policies) == 1, f"expected one inline policy on {role_id}, found {len(policies)}")
    return render(policies[0]["PolicyDocument"], CLI_VALUES, {})


def documented_policy(path=DOCS):
    text = path.read_text(encoding="utf-8")
    require(DOCS_BEGIN in text and DOCS_END in text, f"{path} has no {DOCS_BEGIN} ... {DOCS_END} block")
    block = text.split(DOCS_BEGIN, 1)[1].split(DOCS_END, 1)[0]
    require("```json" in block, f"the policy block in {path} has no ```json fence")
    body = block.split("```json", 1)[1].split("```", 1)[0]
    return json.loads(body)


def check_documented_policy_matches_template(template):
    """docs/deploy.md shows exactly the template's role policy (rendered with the defaults),
    so the cargo-lambda path gets the same least privilege as the SAM stack.
    Regenerate it with: python tests/template_security.py --print-cli-policy"""
    require(
        documented_policy() == cli_policy(template),
        f"the IAM policy in {DOCS} differs from the template's role policy; replace it with the "
        f"output of `python tests/template_security.py --print-cli-policy`",
    )


# ---------------------------------------------------------------- event source mappings
# The autoscaler lowers the MaximumConcurrency of a target's SQS event source mappings before
# it lowers the target's reservation, and disables a mapping to pause the consumer. Those
# writes cannot carry the opt-in tag condition (on a mapping, aws:ResourceTag tests the
# mapping's own tags), so they are scoped by the function the mapping invokes instead.

ESM_LIST = "lambda:ListEventSourceMappings"
ESM_READ = "lambda:GetEventSourceMapping"
ESM_WRITE = "lambda:UpdateEventSourceMapping"
ESM_CREATE_DELETE = ("lambda:CreateEventSourceMapping", "lambda:DeleteEventSourceMapping")
FUNCTION_ARN_CONDITION_KEY = "lambda:FunctionArn"
LAMBDA_ARN_PREFIX = "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:"
MANAGED_ARNS_PARAMETER = "ManagedFunctionArns"
# Example values for ManagedFunctionArns when the checks evaluate the policy with it set.
EXAMPLE_MANAGED_ARNS = [
    "arn:aws:lambda:REGION:ACCOUNT_ID:function:orders-worker",
    "arn:aws:lambda:REGION:ACCOUNT_ID:function:billing-worker",
]
# Every action the role may have on Resource "*", each because it has no resource type or
# must see every resource (template.yaml says which, statement by statement). A new "*"
# grant has to be added here, on purpose.
ACTIONS_ON_EVERY_RESOURCE = {
    "lambda:getaccountsettings",
    "cloudwatch:describealarms",
    "cloudwatch:getmetricdata",
    "tag:getresources",
    "lambda:listeventsourcemappings",
}


def parameter_values(template, **overrides):
    """Each parameter's value as CloudFormation passes it: its default unless overridden;
    a CommaDelimitedList as a list."""
    values = dict(CLI_VALUES)
    for name, spec in (template.get("Parameters") or {}).items():
        value = overrides.get(name, spec.get("Default", ""))
        if spec.get("Type") == "CommaDelimitedList" and isinstance(value, str):
            value = value.split(",")
        values[name] = value if isinstance(value, list) else str(value)
    return values


def evaluate_conditions(template, values):
    """The template's Conditions, true or false, for the given parameter values."""
    conditions = {}
    for name, definition in (template.get("Conditions") or {}).items():
        conditions[name] = bool(render(definition, values, conditions))
    return conditions


def rendered_condition_values(template, statement, operator, key, **parameters):
    """The values a statement's condition tests `key` against with `operator`, resolved for
    the given parameter values (defaults for the others): a list of strings, or None when
    the statement does not test the key with that operator."""
    values = condition_values(statement, operator, key)
    if values is None:
        return None
    params = parameter_values(template, **parameters)
    try:
        rendered = render(values, params, evaluate_conditions(template, params))
    except (KeyError, ValueError, TypeError, AttributeError) as e:
        raise CheckFailed(f"cannot resolve the {operator} {key} values {json.dumps(values)}: {e!r}") from e
    flat = []

    def add(value):
        for item in value if isinstance(value, list) else [value]:
            add(item) if isinstance(item, list) else flat.append(item)

    add(rendered)
    return flat


def esm_write_statements(template):
    granting = [(w, s) for w, s in allow_statements(template) if grants(s, ESM_WRITE)]
    require(
        granting,
        f"no statement allows {ESM_WRITE}; the autoscaler could not lower a consumer's "
        f"MaximumConcurrency before its reservation, nor pause it",
    )
    return granting


def check_event_source_mapping_writes_require_function_arn_condition(template):
    """lambda:UpdateEventSourceMapping is granted only with the condition ArnLike
    lambda:FunctionArn, whose values are function ARNs of this account and region (with
    ManagedFunctionArns set or empty): never "*", never an ...IfExists operator (which lets
    a request without the key through), never the opt-in tag instead (on a mapping it tests
    the mapping's own tags, not its function's)."""
    prefix = render({"Fn::Sub": LAMBDA_ARN_PREFIX + "function:"}, CLI_VALUES, {})
    for where, statement in esm_write_statements(template):
        for managed in ("", ",".join(EXAMPLE_MANAGED_ARNS)):
            values = rendered_condition_values(
                template, statement, "ArnLike", FUNCTION_ARN_CONDITION_KEY, **{MANAGED_ARNS_PARAMETER: managed}
            )
            require(
                values is not None,
                f"{where} allows {ESM_WRITE} without the condition ArnLike {FUNCTION_ARN_CONDITION_KEY} "
                f"(the opt-in tag cannot scope it: on a mapping it tests the mapping's own tags)",
            )
            bad = [v for v in values if not isinstance(v, str) or not v.startswith(prefix) or v == prefix]
            require(
                values and not bad,
                f"{where}: with {MANAGED_ARNS_PARAMETER}={managed!r}, {FUNCTION_ARN_CONDITION_KEY} must "
                f"name functions of this account and region ({prefix}NAME or {prefix}*), got {json.dumps(bad or values)}",
            )


def check_event_source_mapping_writes_follow_managed_function_arns(template):
    """With ManagedFunctionArns set, UpdateEventSourceMapping is allowed only for mappings of
    exactly those functions (each may also appear as ARN:*, its versions and aliases, which
    share its reservation), as for the concurrency writes; with it empty, for the functions
    of this account and region (arn:...:function:*)."""
    require(
        (template.get("Parameters") or {}).get(MANAGED_ARNS_PARAMETER, {}).get("Type") == "CommaDelimitedList",
        f"the parameter {MANAGED_ARNS_PARAMETER} (CommaDelimitedList) is missing",
    )
    allowed = set(EXAMPLE_MANAGED_ARNS) | {arn + ":*" for arn in EXAMPLE_MANAGED_ARNS}
    account_wide = render({"Fn::Sub": LAMBDA_ARN_PREFIX + "function:*"}, CLI_VALUES, {})
    for where, statement in esm_write_statements(template):
        values = rendered_condition_values(
            template, statement, "ArnLike", FUNCTION_ARN_CONDITION_KEY,
            **{MANAGED_ARNS_PARAMETER: ",".join(EXAMPLE_MANAGED_ARNS)},
        )
        require(values is not None, f"{where} allows {ESM_WRITE} without ArnLike {FUNCTION_ARN_CONDITION_KEY}")
        extra = [v for v in values if v not in allowed]
        missing = [arn for arn in EXAMPLE_MANAGED_ARNS if arn not in values]
        require(
            not extra and not missing,
            f"{where}: with {MANAGED_ARNS_PARAMETER} set to {json.dumps(EXAMPLE_MANAGED_ARNS)}, "
            f"{FUNCTION_ARN_CONDITION_KEY} must be those ARNs (and ARN:*), got {json.dumps(values)}",
        )
        values = rendered_condition_values(
            template, statement, "ArnLike", FUNCTION_ARN_CONDITION_KEY, **{MANAGED_ARNS_PARAMETER: ""}
        )
        require(
            values == [account_wide],
            f"{where}: with {MANAGED_ARNS_PARAMETER} empty, {FUNCTION_ARN_CONDITION_KEY} must be "
            f"{account_wide}, got {json.dumps(values)}",
        )


def check_event_source_mapping_access_is_on_mapping_resources(template):
    """UpdateEventSourceMapping and GetEventSourceMapping are allowed on event source
    mappings of this account and region only (arn:...:event-source-mapping:*), not on "*"
    or on functions; both are granted."""
    for action in (ESM_WRITE, ESM_READ):
        granting = [(w, s) for w, s in allow_statements(template) if grants(s, action)]
        require(granting, f"no statement allows {action}, which the function needs")
        for where, statement in granting:
            resources_ = statement_resources(statement)
            texts = [sub_text(r) for r in resources_]
            require(
                resources_ and all(
                    isinstance(text, str) and text.startswith(LAMBDA_ARN_PREFIX + "event-source-mapping:")
                    for text in texts
                ),
                f"{where} allows {action} on {json.dumps(resources_)}; only "
                f"{LAMBDA_ARN_PREFIX}event-source-mapping:...",
            )


def check_only_listed_actions_on_every_resource(template):
    """Resource "*" carries only the actions that cannot be narrower (no resource type) or
    must see everything: GetAccountSettings, DescribeAlarms, GetMetricData, tag:GetResources
    and ListEventSourceMappings. ListEventSourceMappings is
    granted: without it the autoscaler cannot find a consumer's mappings."""
    for where, statement in allow_statements(template):
        if not any(r == "*" for r in statement_resources(statement)):
            continue
        extra = [a for a in action_patterns(statement) if a.lower() not in ACTIONS_ON_EVERY_RESOURCE]
        require(
            "NotAction" not in statement and not extra,
            f'{where} allows {json.dumps(extra or "NotAction")} on "*"; only '
            f"{', '.join(sorted(ACTIONS_ON_EVERY_RESOURCE))} may be",
        )
    require(
        any(grants(s, ESM_LIST) for _, s in allow_statements(template)),
        f"no statement allows {ESM_LIST}; the autoscaler could not find a consumer's mappings",
    )


def check_no_event_source_mapping_create_or_delete(template):
    """The autoscaler changes existing mappings only: no statement allows
    CreateEventSourceMapping or DeleteEventSourceMapping (which would let it point a queue at
    any function, or drop a consumer's trigger)."""
    for where, statement in allow_statements(template):
        for action in ESM_CREATE_DELETE:
            require(not grants(statement, action), f"{where} allows {action}; the autoscaler only updates mappings")


# ---------------------------------------------------------------- watch mode
# With WatchSeconds set, a second function (the watcher, same code and role) takes the
# reconciliation schedule and watches between runs; the autoscaler keeps the events, so
# that they never wait behind a loop (docs/deploy.md, "Watch mode").

# src/settings.rs: the GetFunction budget a function takes unless told otherwise, and
# Lambda's quota for it.
DEFAULT_GET_FUNCTION_RPS = 50.0
GET_FUNCTION_QUOTA = 100.0


def is_watch_switch(condition):
    """condition is Fn::Not [Fn::Equals [!Ref WatchSeconds, "0"]]: true only when watching."""
    args = condition.get("Fn::Not") if isinstance(condition, dict) else None
    return isinstance(args, list) and len(args) == 1 and is_equals_test(args[0], WATCH_PARAMETER, "0")


def deployed_functions(template, watch_seconds):
    """(logical id, resource, parameter values, conditions) of the functions that exist when
    WatchSeconds is watch_seconds (other parameters at their defaults)."""
    params = parameter_values(template, **{WATCH_PARAMETER: watch_seconds})
    conditions = evaluate_conditions(template, params)
    return [
        (fid, f, params, conditions)
        for fid, f in functions(template)
        if "Condition" not in f or conditions.get(f["Condition"], False)
    ]


def check_watcher_takes_the_schedule_and_the_autoscaler_keeps_the_events(template):
    """The watcher exists only when WatchSeconds is set, is told that interval, and has no
    trigger but a schedule (alarm, SNS and direct events stay with the autoscaler, so they
    never wait behind a loop). For WatchSeconds 0 and set, exactly one enabled schedule
    reconciles, on the autoscaler or on the watcher respectively: runs neither double nor
    stop. A failed watch is not retried (the next scheduled run does the same work)."""
    watcher_id, w = watcher(template)
    require(
        is_watch_switch(condition_definition(template, w)),
        f"{watcher_id} needs a Condition that is Fn::Not [Fn::Equals [!Ref {WATCH_PARAMETER}, \"0\"]]",
    )
    require(
        parameter_of(template, environment(w).get(WATCH_SECONDS_ENV)) == WATCH_PARAMETER,
        f"{watcher_id}: {WATCH_SECONDS_ENV} must be !Ref {WATCH_PARAMETER}",
    )
    events = properties(w).get("Events") or {}
    require(
        events and all((e or {}).get("Type") == "ScheduleV2" for e in events.values()),
        f"{watcher_id} may be triggered by its schedule only, got {json.dumps(sorted(events))}",
    )
    retries = (properties(w).get("EventInvokeConfig") or {}).get("MaximumRetryAttempts")
    require(retries == 0, f"{watcher_id}: a failed watch must not be retried (MaximumRetryAttempts 0), got {retries}")
    autoscaler_id, _ = autoscaler(template)
    for watch_seconds, owner in (("0", autoscaler_id), ("10", watcher_id)):
        enabled = []
        for fid, f, params, conditions in deployed_functions(template, watch_seconds):
            for name, event in (properties(f).get("Events") or {}).items():
                if (event or {}).get("Type") not in ("ScheduleV2", "Schedule"):
                    continue
                state = render((event.get("Properties") or {}).get("State", "ENABLED"), params, conditions)
                if state == "ENABLED":
                    enabled.append(f"{fid}.{name}")
        require(
            len(enabled) == 1 and enabled[0].startswith(owner + "."),
            f"with {WATCH_PARAMETER}={watch_seconds}, exactly one enabled schedule on {owner} must "
            f"reconcile, found {enabled}",
        )


def check_watch_needs_the_one_minute_schedule(template):
    """With WatchSeconds set the stack refuses any ReconcileScheduleRate but rate(1 minute): the
    watcher watches 50 s of each run, and its 60 s timeout must end before the next one (a
    slower schedule would leave minutes unwatched). A Rule says so at deploy time."""
    rules = (template.get("Rules") or {}).values()
    require(
        any(
            is_watch_switch(rule.get("RuleCondition"))
            and any(
                is_equals_test(a.get("Assert"), "ReconcileScheduleRate", "rate(1 minute)")
                for a in rule.get("Assertions") or []
            )
            for rule in rules
        ),
        f"a Rule must assert ReconcileScheduleRate = rate(1 minute) when {WATCH_PARAMETER} is set",
    )


def is_not_empty_test(condition, parameter):
    """condition is Fn::Not of Fn::Equals of !Ref parameter and ""."""
    args = condition.get("Fn::Not") if isinstance(condition, dict) else None
    return isinstance(args, list) and len(args) == 1 and is_equals_test(args[0], parameter, "")


def check_policy_file_needs_a_layer(template):
    """With SAM the package holds only the bootstrap binary, so a PolicyFile must come from
    the layer in PolicyLayerArn: a Rule refuses PolicyFile without it at deploy time, instead
    of a function that fails at every start."""
    rules = (template.get("Rules") or {}).values()
    require(
        any(
            is_not_empty_test(rule.get("RuleCondition"), "PolicyFile")
            and any(
                is_not_empty_test(a.get("Assert"), "PolicyLayerArn")
                for a in rule.get("Assertions") or []
            )
            for rule in rules
        ),
        "a Rule must assert PolicyLayerArn is set when PolicyFile is",
    )


def check_watcher_logs_to_its_own_group_and_may_write_there(template):
    """The watcher logs to a log group of its own, which exists exactly when it does, and the
    role may write there."""
    watcher_id, w = watcher(template)
    _, a = autoscaler(template)
    group = log_group_of(template, w)
    require(
        group is not None and group != log_group_of(template, a),
        f"{watcher_id} must log to a log group of its own, not {group}",
    )
    require(
        resources(template)[group].get("Condition") == w.get("Condition"),
        f"{group} must exist exactly when {watcher_id} does (the same Condition)",
    )
    require(
        any(
            grants(statement, "logs:PutLogEvents")
            and any(referenced_logical_id(r) == group for r in statement_resources(statement))
            for _, statement in allow_statements(template)
        ),
        f"no statement allows logs:PutLogEvents on {group}",
    )


def check_control_plane_budget_is_split_not_doubled(template):
    """Both functions read the stack's control-plane budget from the same parameter, and the
    shares they take (AUTOSCALER_CONTROL_PLANE_SHARE, 1 when unset) add up to at most all of
    it, with or without the watcher; their GetFunction budgets add up to no more than
    Lambda's quota."""
    for watch_seconds in ("0", "10"):
        deployed = deployed_functions(template, watch_seconds)
        budgets, share, get_function = set(), 0.0, 0.0
        for fid, f, params, conditions in deployed:
            env = environment(f)
            budgets.add(parameter_of(template, env.get("AUTOSCALER_CONTROL_PLANE_RPS")))
            value = render(env.get("AUTOSCALER_CONTROL_PLANE_SHARE"), params, conditions)
            share += 1.0 if value is None else float(value)
            value = render(env.get("AUTOSCALER_GET_FUNCTION_RPS"), params, conditions)
            get_function += DEFAULT_GET_FUNCTION_RPS if value is None else float(value)
        require(
            len(budgets) == 1 and None not in budgets,
            f"with {WATCH_PARAMETER}={watch_seconds}, every function's AUTOSCALER_CONTROL_PLANE_RPS "
            f"must be !Ref of one parameter, got {sorted(map(str, budgets))}",
        )
        require(
            share <= 1.0 + 1e-9,
            f"with {WATCH_PARAMETER}={watch_seconds}, the functions take {share:g} times the "
            f"stack's control-plane budget; their shares must add up to at most 1",
        )
        require(
            get_function <= GET_FUNCTION_QUOTA,
            f"with {WATCH_PARAMETER}={watch_seconds}, the functions' GetFunction budgets add up to "
            f"{get_function:g}, above Lambda's {GET_FUNCTION_QUOTA:g} per second",
        )


def check_dashboard_reads_the_watchers_log_group_when_watching(template):
    """The dashboard's log widgets read the watcher's log group too when it exists (it makes
    most decisions then), through a Fn::Sub variable guarded by the watcher's condition."""
    logical_id, widgets = dashboard_widgets(template)
    body = dashboard(template)[1]["Properties"]["DashboardBody"]["Fn::Sub"]
    watcher_id, w = watcher(template)
    group = log_group_of(template, w)
    variables = body[1] if isinstance(body, list) and len(body) == 2 else {}
    found = [
        name for name, value in variables.items()
        if isinstance(value, dict) and "Fn::If" in value
        and value["Fn::If"][0] == w.get("Condition")
        and f"SOURCE '${{{group}}}'" in (sub_text(value["Fn::If"][1]) or "")
        and value["Fn::If"][2] == ""
    ]
    require(
        found,
        f"{logical_id} needs a Fn::Sub variable that is SOURCE '${{{group}}}' when {watcher_id} "
        f"exists and empty otherwise",
    )
    _, a = autoscaler(template)
    own = log_group_of(template, a)
    queries = [(x.get("properties") or {}).get("query") or "" for x in widgets if x.get("type") == "log"]
    require(
        queries and all(q.startswith(f"SOURCE '@@{own}@@'@@{found[0]}@@ |") for q in queries),
        f"every log widget of {logical_id} must start with SOURCE '${{{own}}}'${{{found[0]}}}",
    )


def mentions_arn_of(value, logical_id):
    """value holds !GetAtt logical_id.Arn somewhere."""
    if isinstance(value, dict):
        if value.get("Fn::GetAtt") in ([logical_id, "Arn"], f"{logical_id}.Arn"):
            return True
        return any(mentions_arn_of(v, logical_id) for v in value.values())
    if isinstance(value, list):
        return any(mentions_arn_of(v, logical_id) for v in value)
    return False


def check_stack_alarms_reach_the_function_once(template):
    """An alarm of the stack that invokes the function by its actions does so only while
    AlarmNamePrefix narrows the EventBridge rule: without a prefix the rule delivers every
    alarm of the account, and the actions would deliver each state change a second time
    (docs/deploy.md "Wire an existing alarm": one way per alarm)."""
    autoscaler_id, _ = autoscaler(template)
    conditions = template.get("Conditions") or {}
    prefix_set = {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmNamePrefix"}, ""]}]}
    for logical_id, alarm in resources_of_type(template, "AWS::CloudWatch::Alarm").items():
        props = alarm.get("Properties") or {}
        for key in ("AlarmActions", "OKActions", "InsufficientDataActions"):
            actions = props.get(key)
            if not mentions_arn_of(actions, autoscaler_id):
                continue
            branches = actions.get("Fn::If") if isinstance(actions, dict) else None
            require(
                isinstance(branches, list)
                and len(branches) == 3
                and conditions.get(branches[0]) == prefix_set
                and branches[2] == {"Ref": "AWS::NoValue"},
                f"{logical_id}.{key} invokes {autoscaler_id} whatever AlarmNamePrefix is: with "
                "no prefix the EventBridge rule delivers the alarm too",
            )


CHECKS = [
    check_write_actions_require_opt_in_tag_or_explicit_arns,
    check_no_write_on_wildcard_resource_without_condition,
    check_code_revealing_reads_require_opt_in_tag,
    check_tags_are_returned_on_opted_in_functions,
    check_concurrency_writes_are_granted_somewhere,
    check_no_service_wide_actions,
    check_no_put_metric_data,
    check_application_log_level_keeps_metrics,
    check_role_is_fully_visible,
    check_autoscaler_cannot_change_itself,
    check_own_reserved_concurrency_is_one,
    check_failed_events_have_an_sqs_destination,
    check_logs_are_json,
    check_log_group_has_retention,
    check_alarm_permission_is_scoped,
    check_build_shape,
    check_documented_policy_matches_template,
    check_no_tag_writes,
    check_state_table_is_on_demand_keyed_by_function_with_ttl,
    check_state_table_outlives_the_stack,
    check_state_table_access_is_scoped,
    check_checkov_skips_say_why,
    check_dashboard_uses_the_namespace_parameter_and_log_group,
    check_dashboard_is_optional,
    check_alarm_topic_subscription_is_scoped,
    check_event_source_mapping_writes_require_function_arn_condition,
    check_event_source_mapping_writes_follow_managed_function_arns,
    check_event_source_mapping_access_is_on_mapping_resources,
    check_only_listed_actions_on_every_resource,
    check_no_event_source_mapping_create_or_delete,
    check_watcher_takes_the_schedule_and_the_autoscaler_keeps_the_events,
    check_watch_needs_the_one_minute_schedule,
    check_watcher_logs_to_its_own_group_and_may_write_there,
    check_control_plane_budget_is_split_not_doubled,
    check_dashboard_reads_the_watchers_log_group_when_watching,
    check_stack_alarms_reach_the_function_once,
    check_policy_file_needs_a_layer,
]


# ---------------------------------------------------------------- mutations
# Each mutation removes or weakens one property on a copy of the template; the named check
# must then fail. Mutations find their targets by what they grant, not by Sid, so renaming a
# statement does not silence them.


def role_statements(template):
    """The Statement lists of every inline role policy (mutable, in place)."""
    lists = []
    for r in resources_of_type(template, "AWS::IAM::Role").values():
        for policy in (r.get("Properties") or {}).get("Policies") or []:
            lists.append(policy["PolicyDocument"]["Statement"])
    return lists


def statement_granting(template, action):
    for statements in role_statements(template):
        for s in statements:
            if s.get("Effect") == "Allow" and grants(s, action):
                return s
    raise CheckFailed(f"mutation target not found: a statement allowing {action}")


def drop_statement(template, predicate):
    for statements in role_statements(template):
        statements[:] = [s for s in statements if not predicate(s)]


def mutate_drop_opt_in_condition(t):
    statement_granting(t, "lambda:PutFunctionConcurrency").pop("Condition")


def mutate_opt_in_value_wildcard(t):
    statement_granting(t, "lambda:PutFunctionConcurrency")["Condition"]["StringEquals"][OPT_IN_CONDITION_KEY] = "*"


def mutate_opt_in_as_string_like(t):
    s = statement_granting(t, "lambda:PutFunctionConcurrency")
    s["Condition"]["StringLike"] = s["Condition"].pop("StringEquals")


def mutate_drop_list_tags(t):
    statement = statement_granting(t, "lambda:ListTags")
    statement["Action"] = [a for a in statement["Action"] if a != "lambda:ListTags"]


def mutate_get_function_without_condition(t):
    statement_granting(t, "lambda:GetFunction").pop("Condition")


def mutate_writes_on_star_without_condition(t):
    s = statement_granting(t, "lambda:PutFunctionConcurrency")
    s.pop("Condition")
    s["Resource"] = "*"


def mutate_add_lambda_star(t):
    role_statements(t)[0].append({"Effect": "Allow", "Action": "lambda:*", "Resource": "*"})


def mutate_add_untag_on_star(t):
    role_statements(t)[0].append({"Effect": "Allow", "Action": ["lambda:Untag*"], "Resource": "*"})


def mutate_drop_concurrency_writes(t):
    drop_statement(t, lambda s: s.get("Effect") == "Allow" and grants(s, "lambda:PutFunctionConcurrency"))


def mutate_grant_put_metric_data(t):
    role_statements(t)[0].append({
        "Effect": "Allow",
        "Action": "cloudwatch:PutMetricData",
        "Resource": "*",
        "Condition": {"StringEquals": {"cloudwatch:namespace": {"Ref": "MetricNamespace"}}},
    })


def mutate_put_metric_wildcard_joins_describe_alarms(t):
    s = statement_granting(t, "cloudwatch:DescribeAlarms")
    s["Action"] = ["cloudwatch:DescribeAlarms", "cloudwatch:PutMetric*"]


def mutate_application_log_level_warn(t):
    autoscaler_properties(t)["LoggingConfig"]["ApplicationLogLevel"] = "WARN"


def mutate_sam_policies(t):
    autoscaler_properties(t)["Policies"] = ["AWSLambdaRole"]


def mutate_managed_policy(t):
    for r in resources_of_type(t, "AWS::IAM::Role").values():
        r["Properties"]["ManagedPolicyArns"] = ["arn:aws:iam::aws:policy/AWSLambda_FullAccess"]


def mutate_drop_self_deny(t):
    drop_statement(t, lambda s: s.get("Effect") == "Deny" and grants(s, "lambda:PutFunctionConcurrency"))


def mutate_drop_reserved_concurrency(t):
    autoscaler_properties(t).pop("ReservedConcurrentExecutions")


def mutate_reserved_concurrency_five(t):
    autoscaler_properties(t)["ReservedConcurrentExecutions"] = 5


def mutate_drop_destination(t):
    autoscaler_properties(t)["EventInvokeConfig"].pop("DestinationConfig")


def mutate_drop_retries(t):
    autoscaler_properties(t)["EventInvokeConfig"].pop("MaximumRetryAttempts")


def mutate_drop_event_invoke_config(t):
    autoscaler_properties(t).pop("EventInvokeConfig")


def mutate_drop_send_to_queue(t):
    drop_statement(t, lambda s: s.get("Effect") == "Allow" and grants(s, "sqs:SendMessage"))


def mutate_drop_log_format(t):
    autoscaler_properties(t)["LoggingConfig"].pop("LogFormat")


def mutate_drop_retention(t):
    for r in resources_of_type(t, "AWS::Logs::LogGroup").values():
        r["Properties"].pop("RetentionInDays", None)


def mutate_drop_source_arn(t):
    for r in resources_of_type(t, "AWS::Lambda::Permission").values():
        r["Properties"].pop("SourceArn", None)


def mutate_wildcard_source_arn(t):
    for r in resources_of_type(t, "AWS::Lambda::Permission").values():
        r["Properties"]["SourceArn"] = {"Fn::Sub": "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:*"}


def mutate_wrong_principal(t):
    for r in resources_of_type(t, "AWS::Lambda::Permission").values():
        r["Properties"]["Principal"] = "lambda.amazonaws.com"


def mutate_allow_tag_writes(t):
    statement_granting(t, "lambda:PutFunctionConcurrency")["Action"].append("lambda:TagResource")


def mutate_state_table_on_star(t):
    statement_granting(t, "dynamodb:PutItem")["Resource"] = "*"


def mutate_state_table_delete_table(t):
    statement_granting(t, "dynamodb:PutItem")["Action"].append("dynamodb:DeleteTable")


def mutate_state_table_deleted_with_the_stack(t):
    state_table(t)[1]["DeletionPolicy"] = "Delete"


def mutate_state_table_named(t):
    state_table(t)[1]["Properties"]["TableName"] = "lambda-autoscaler-state"


def mutate_state_table_without_ttl(t):
    _, table = state_table(t)
    table["Properties"].pop("TimeToLiveSpecification")


def mutate_state_table_provisioned(t):
    _, table = state_table(t)
    table["Properties"]["BillingMode"] = "PROVISIONED"


def mutate_state_table_numeric_key(t):
    _, table = state_table(t)
    table["Properties"]["AttributeDefinitions"][0]["AttributeType"] = "N"


def mutate_state_table_not_passed(t):
    autoscaler_properties(t)["Environment"]["Variables"].pop("AUTOSCALER_STATE_TABLE")


def mutate_checkov_skip_without_reason(t):
    _, table = state_table(t)
    table["Metadata"]["checkov"]["skip"][0].pop("comment")


def dashboard_body_replace(t, old, new):
    _, resource = dashboard(t)
    body = resource["Properties"]["DashboardBody"]
    # !Sub "text", or !Sub [text, {variables}]
    holder, key = (body["Fn::Sub"], 0) if isinstance(body["Fn::Sub"], list) else (body, "Fn::Sub")
    require(old in holder[key], f"mutation target not found: {old} in the dashboard body")
    holder[key] = holder[key].replace(old, new)


def mutate_dashboard_literal_namespace(t):
    dashboard_body_replace(t, "${MetricNamespace}", "LambdaAutoscaler")


def mutate_dashboard_unquoted_namespace(t):
    dashboard_body_replace(t, '\\"${MetricNamespace}\\"', "${MetricNamespace}")


def mutate_dashboard_literal_log_group(t):
    dashboard_body_replace(t, "${AutoscalerLogGroup}", "/aws/lambda/lambda-autoscaler")


def mutate_dashboard_without_deferred_targets(t):
    dashboard_body_replace(t, "DeferredTargets", "Deferred")


def mutate_dashboard_without_active_schedules(t):
    dashboard_body_replace(t, "latest(fields.schedules)", "latest(fields.schedule)")


def mutate_dashboard_unconditional(t):
    dashboard(t)[1].pop("Condition")


def mutate_dashboard_condition_always_true(t):
    t["Conditions"][dashboard(t)[1]["Condition"]] = {"Fn::Equals": ["true", "true"]}


def sns_permissions(t):
    return [
        p["Properties"] for p in resources_of_type(t, "AWS::Lambda::Permission").values()
        if p["Properties"].get("Principal") == SNS_PRINCIPAL
    ]


def mutate_sns_permission_without_source_arn(t):
    for props in sns_permissions(t):
        props.pop("SourceArn")


def mutate_sns_permission_any_topic(t):
    for props in sns_permissions(t):
        props["SourceArn"] = {"Fn::Sub": "arn:${AWS::Partition}:sns:${AWS::Region}:${AWS::AccountId}:*"}


def mutate_sns_permission_unconditional(t):
    for r in resources_of_type(t, "AWS::Lambda::Permission").values():
        if r["Properties"].get("Principal") == SNS_PRINCIPAL:
            r.pop("Condition")


def mutate_sns_subscription_unconditional(t):
    for r in resources_of_type(t, "AWS::SNS::Subscription").values():
        r.pop("Condition")


def mutate_x86(t):
    autoscaler_properties(t)["Architectures"] = ["x86_64"]


def add_action(statement, action):
    actions = statement["Action"]
    statement["Action"] = (actions if isinstance(actions, list) else [actions]) + [action]


def esm_function_arn_condition(t):
    """The mutable ArnLike block of the statement allowing UpdateEventSourceMapping."""
    return statement_granting(t, ESM_WRITE)["Condition"]["ArnLike"]


ACCOUNT_FUNCTIONS = {"Fn::Sub": LAMBDA_ARN_PREFIX + "function:*"}


def mutate_esm_write_without_condition(t):
    statement_granting(t, ESM_WRITE).pop("Condition")


def mutate_esm_write_condition_star(t):
    esm_function_arn_condition(t)[FUNCTION_ARN_CONDITION_KEY] = "*"


def mutate_esm_write_condition_any_account(t):
    esm_function_arn_condition(t)[FUNCTION_ARN_CONDITION_KEY] = "arn:aws:lambda:*:*:function:*"


def mutate_esm_write_condition_if_exists(t):
    s = statement_granting(t, ESM_WRITE)
    s["Condition"]["ArnLikeIfExists"] = s["Condition"].pop("ArnLike")


def mutate_esm_write_condition_on_tag(t):
    statement_granting(t, ESM_WRITE)["Condition"] = {"StringEquals": {OPT_IN_CONDITION_KEY: "true"}}


def mutate_drop_esm_write(t):
    drop_statement(t, lambda s: s.get("Effect") == "Allow" and grants(s, ESM_WRITE))


def mutate_esm_write_ignores_managed_arns(t):
    esm_function_arn_condition(t)[FUNCTION_ARN_CONDITION_KEY] = ACCOUNT_FUNCTIONS


def mutate_esm_write_managed_arns_as_prefixes(t):
    # "orders-worker*" would also match orders-worker-2, a function nobody listed.
    condition = esm_function_arn_condition(t)
    condition[FUNCTION_ARN_CONDITION_KEY] = {"Fn::If": [
        condition[FUNCTION_ARN_CONDITION_KEY]["Fn::If"][0],
        {"Fn::Split": [",", {"Fn::Join": ["", [{"Fn::Join": ["*,", {"Ref": MANAGED_ARNS_PARAMETER}]}, "*"]]}]},
        ACCOUNT_FUNCTIONS,
    ]}


def mutate_esm_write_managed_arns_plus_another(t):
    condition = esm_function_arn_condition(t)
    condition[FUNCTION_ARN_CONDITION_KEY]["Fn::If"][1] = {"Fn::Split": [",", {"Fn::Join": [",", [
        {"Fn::Join": [",", {"Ref": MANAGED_ARNS_PARAMETER}]},
        {"Fn::Sub": LAMBDA_ARN_PREFIX + "function:payments"},
    ]]}]}


def mutate_esm_write_on_star(t):
    statement_granting(t, ESM_WRITE)["Resource"] = "*"


def mutate_esm_write_on_functions(t):
    statement_granting(t, ESM_WRITE)["Resource"] = ACCOUNT_FUNCTIONS


def mutate_esm_read_on_star(t):
    statement_granting(t, ESM_READ)["Resource"] = "*"


def mutate_esm_read_joins_list_on_star(t):
    add_action(statement_granting(t, ESM_LIST), ESM_READ)


def mutate_esm_write_on_star_with_condition(t):
    s = copy.deepcopy(statement_granting(t, ESM_WRITE))
    s["Sid"], s["Resource"] = "UpdateMappingsAnywhere", "*"
    role_statements(t)[0].append(s)


def mutate_drop_esm_list(t):
    drop_statement(t, lambda s: s.get("Effect") == "Allow" and grants(s, ESM_LIST))


def mutate_esm_delete_joins_update(t):
    add_action(statement_granting(t, ESM_WRITE), "lambda:DeleteEventSourceMapping")


def mutate_esm_create_on_star(t):
    role_statements(t)[0].append({"Effect": "Allow", "Action": "lambda:CreateEventSourceMapping", "Resource": "*"})


def mutate_esm_wildcard_action(t):
    add_action(statement_granting(t, ESM_WRITE), "lambda:*EventSourceMapping")


def mutate_dashboard_without_paused_consumers(t):
    dashboard_body_replace(t, "PausedConsumers", "Paused")


def watcher_properties(t):
    return properties(watcher(t)[1])


def mutate_watcher_reserved_concurrency_dropped(t):
    watcher_properties(t).pop("ReservedConcurrentExecutions")


def mutate_watcher_without_failure_destination(t):
    watcher_properties(t)["EventInvokeConfig"].pop("DestinationConfig")


def mutate_watcher_retried(t):
    watcher_properties(t)["EventInvokeConfig"]["MaximumRetryAttempts"] = 2


def mutate_watcher_unconditional(t):
    watcher(t)[1].pop("Condition")


def mutate_policy_file_without_a_layer(t):
    t["Rules"].pop("PolicyFileNeedsALayer")


def mutate_example_alarm_always_acts(t):
    props = resources(t)["ExampleBacklogAlarm"]["Properties"]
    props["AlarmActions"] = props["AlarmActions"]["Fn::If"][1]


def mutate_watch_with_any_schedule(t):
    t.pop("Rules")


def mutate_watch_rule_always_off(t):
    t["Rules"]["WatchNeedsTheOneMinuteSchedule"]["RuleCondition"] = {"Fn::Equals": ["a", "b"]}


def mutate_watcher_takes_alarm_events(t):
    watcher_properties(t)["Events"]["Alarms"] = {
        "Type": "EventBridgeRule",
        "Properties": {"Pattern": {"source": ["aws.cloudwatch"]}},
    }


def mutate_both_schedules_enabled(t):
    for event in (autoscaler_properties(t).get("Events") or {}).values():
        if event.get("Type") == "ScheduleV2":
            event["Properties"]["State"] = {"Ref": "ReconcileScheduleState"}


def mutate_watcher_logs_to_the_autoscalers_group(t):
    watcher_properties(t)["LoggingConfig"]["LogGroup"] = autoscaler_properties(t)["LoggingConfig"]["LogGroup"]


def mutate_watcher_log_group_not_writable(t):
    statement = statement_granting(t, "logs:PutLogEvents")
    statement["Resource"] = {"Fn::GetAtt": ["AutoscalerLogGroup", "Arn"]}


def mutate_watcher_takes_the_whole_budget(t):
    watcher_properties(t)["Environment"]["Variables"]["AUTOSCALER_CONTROL_PLANE_SHARE"] = "1"


def mutate_events_keep_the_whole_get_function_budget(t):
    autoscaler_properties(t)["Environment"]["Variables"]["AUTOSCALER_GET_FUNCTION_RPS"] = "80"


def mutate_watcher_budget_from_another_parameter(t):
    watcher_properties(t)["Environment"]["Variables"]["AUTOSCALER_CONTROL_PLANE_RPS"] = "5"


def mutate_watcher_may_change_itself(t):
    for statements in role_statements(t):
        for statement in statements:
            if statement.get("Effect") == "Deny" and isinstance(statement.get("Resource"), list):
                statement["Resource"] = statement["Resource"][:1]


def mutate_dashboard_ignores_the_watcher(t):
    _, resource = dashboard(t)
    variables = resource["Properties"]["DashboardBody"]["Fn::Sub"][1]
    for name in variables:
        variables[name] = ""


MUTATIONS = [
    ("GetFunction loses the opt-in tag condition", mutate_get_function_without_condition, check_code_revealing_reads_require_opt_in_tag),
    ("ListTags is not granted", mutate_drop_list_tags, check_tags_are_returned_on_opted_in_functions),
    ("the opt-in tag condition is removed", mutate_drop_opt_in_condition, check_write_actions_require_opt_in_tag_or_explicit_arns),
    ("the opt-in tag value is a wildcard", mutate_opt_in_value_wildcard, check_write_actions_require_opt_in_tag_or_explicit_arns),
    ("the opt-in tag is tested with StringLike", mutate_opt_in_as_string_like, check_write_actions_require_opt_in_tag_or_explicit_arns),
    ("writes on * without the condition", mutate_writes_on_star_without_condition, check_no_write_on_wildcard_resource_without_condition),
    ("an extra lambda:* on *", mutate_add_lambda_star, check_no_write_on_wildcard_resource_without_condition),
    ("an extra lambda:* on *", mutate_add_lambda_star, check_no_service_wide_actions),
    ("an extra lambda:Untag* on *", mutate_add_untag_on_star, check_write_actions_require_opt_in_tag_or_explicit_arns),
    ("the concurrency write statement is removed", mutate_drop_concurrency_writes, check_concurrency_writes_are_granted_somewhere),
    ("PutMetricData is granted, even to the namespace only", mutate_grant_put_metric_data, check_no_put_metric_data),
    ("cloudwatch:PutMetric* joins DescribeAlarms", mutate_put_metric_wildcard_joins_describe_alarms, check_no_put_metric_data),
    ("ApplicationLogLevel is WARN", mutate_application_log_level_warn, check_application_log_level_keeps_metrics),
    ("SAM Policies are added to the function", mutate_sam_policies, check_role_is_fully_visible),
    ("a managed policy is attached to the role", mutate_managed_policy, check_role_is_fully_visible),
    ("the self-protection Deny is removed", mutate_drop_self_deny, check_autoscaler_cannot_change_itself),
    ("ReservedConcurrentExecutions is removed", mutate_drop_reserved_concurrency, check_own_reserved_concurrency_is_one),
    ("ReservedConcurrentExecutions is 5", mutate_reserved_concurrency_five, check_own_reserved_concurrency_is_one),
    ("EventInvokeConfig is removed", mutate_drop_event_invoke_config, check_failed_events_have_an_sqs_destination),
    ("the OnFailure destination is removed", mutate_drop_destination, check_failed_events_have_an_sqs_destination),
    ("MaximumRetryAttempts is removed", mutate_drop_retries, check_failed_events_have_an_sqs_destination),
    ("sqs:SendMessage to the queue is removed", mutate_drop_send_to_queue, check_failed_events_have_an_sqs_destination),
    ("LogFormat JSON is removed", mutate_drop_log_format, check_logs_are_json),
    ("RetentionInDays is removed", mutate_drop_retention, check_log_group_has_retention),
    ("the alarm permission's SourceArn is removed", mutate_drop_source_arn, check_alarm_permission_is_scoped),
    ("the alarm permission's SourceArn is a wildcard", mutate_wildcard_source_arn, check_alarm_permission_is_scoped),
    ("the permission's principal is not the alarm service", mutate_wrong_principal, check_alarm_permission_is_scoped),
    ("the architecture is x86_64", mutate_x86, check_build_shape),
    ("UpdateEventSourceMapping loses its condition", mutate_esm_write_without_condition, check_event_source_mapping_writes_require_function_arn_condition),
    ("UpdateEventSourceMapping's FunctionArn is *", mutate_esm_write_condition_star, check_event_source_mapping_writes_require_function_arn_condition),
    ("UpdateEventSourceMapping's FunctionArn is any account's", mutate_esm_write_condition_any_account, check_event_source_mapping_writes_require_function_arn_condition),
    ("UpdateEventSourceMapping's condition is ArnLikeIfExists", mutate_esm_write_condition_if_exists, check_event_source_mapping_writes_require_function_arn_condition),
    ("UpdateEventSourceMapping is scoped by the opt-in tag", mutate_esm_write_condition_on_tag, check_event_source_mapping_writes_require_function_arn_condition),
    ("UpdateEventSourceMapping is removed", mutate_drop_esm_write, check_event_source_mapping_writes_require_function_arn_condition),
    ("UpdateEventSourceMapping ignores ManagedFunctionArns", mutate_esm_write_ignores_managed_arns, check_event_source_mapping_writes_follow_managed_function_arns),
    ("ManagedFunctionArns become name prefixes", mutate_esm_write_managed_arns_as_prefixes, check_event_source_mapping_writes_follow_managed_function_arns),
    ("an unlisted function joins ManagedFunctionArns", mutate_esm_write_managed_arns_plus_another, check_event_source_mapping_writes_follow_managed_function_arns),
    ("UpdateEventSourceMapping on *", mutate_esm_write_on_star, check_event_source_mapping_access_is_on_mapping_resources),
    ("UpdateEventSourceMapping on functions", mutate_esm_write_on_functions, check_event_source_mapping_access_is_on_mapping_resources),
    ("GetEventSourceMapping on *", mutate_esm_read_on_star, check_event_source_mapping_access_is_on_mapping_resources),
    ("GetEventSourceMapping joins the * statement", mutate_esm_read_joins_list_on_star, check_only_listed_actions_on_every_resource),
    ("UpdateEventSourceMapping on * with its condition", mutate_esm_write_on_star_with_condition, check_only_listed_actions_on_every_resource),
    ("ListEventSourceMappings is removed", mutate_drop_esm_list, check_only_listed_actions_on_every_resource),
    ("DeleteEventSourceMapping joins the update", mutate_esm_delete_joins_update, check_no_event_source_mapping_create_or_delete),
    ("CreateEventSourceMapping on *", mutate_esm_create_on_star, check_no_event_source_mapping_create_or_delete),
    ("lambda:*EventSourceMapping joins the update", mutate_esm_wildcard_action, check_no_event_source_mapping_create_or_delete),
    ("the dashboard leaves out PausedConsumers", mutate_dashboard_without_paused_consumers, check_dashboard_uses_the_namespace_parameter_and_log_group),
    ("a statement is added to the template only", mutate_add_untag_on_star, check_documented_policy_matches_template),
    ("tag writes are allowed again", mutate_allow_tag_writes, check_no_tag_writes),
    ("the state table statement is on *", mutate_state_table_on_star, check_state_table_access_is_scoped),
    ("DeleteTable joins the state table statement", mutate_state_table_delete_table, check_state_table_access_is_scoped),
    ("the state table loses its TTL", mutate_state_table_without_ttl, check_state_table_is_on_demand_keyed_by_function_with_ttl),
    ("the state table is deleted with the stack", mutate_state_table_deleted_with_the_stack, check_state_table_outlives_the_stack),
    ("the state table has a fixed name", mutate_state_table_named, check_state_table_outlives_the_stack),
    ("the state table is provisioned", mutate_state_table_provisioned, check_state_table_is_on_demand_keyed_by_function_with_ttl),
    ("the state table's key is a number", mutate_state_table_numeric_key, check_state_table_is_on_demand_keyed_by_function_with_ttl),
    ("the function is not told the table", mutate_state_table_not_passed, check_state_table_is_on_demand_keyed_by_function_with_ttl),
    ("a checkov skip loses its reason", mutate_checkov_skip_without_reason, check_checkov_skips_say_why),
    ("the dashboard names the default namespace", mutate_dashboard_literal_namespace, check_dashboard_uses_the_namespace_parameter_and_log_group),
    ("the dashboard's SEARCH leaves the namespace unquoted", mutate_dashboard_unquoted_namespace, check_dashboard_uses_the_namespace_parameter_and_log_group),
    ("the dashboard names the default log group", mutate_dashboard_literal_log_group, check_dashboard_uses_the_namespace_parameter_and_log_group),
    ("the dashboard leaves out DeferredTargets", mutate_dashboard_without_deferred_targets, check_dashboard_uses_the_namespace_parameter_and_log_group),
    ("the dashboard leaves out the active schedules", mutate_dashboard_without_active_schedules, check_dashboard_uses_the_namespace_parameter_and_log_group),
    ("the dashboard loses its Condition", mutate_dashboard_unconditional, check_dashboard_is_optional),
    ("the dashboard's condition is always true", mutate_dashboard_condition_always_true, check_dashboard_is_optional),
    ("the SNS permission loses its SourceArn", mutate_sns_permission_without_source_arn, check_alarm_topic_subscription_is_scoped),
    ("the SNS permission allows every topic", mutate_sns_permission_any_topic, check_alarm_topic_subscription_is_scoped),
    ("the SNS permission exists without a topic", mutate_sns_permission_unconditional, check_alarm_topic_subscription_is_scoped),
    ("the subscription exists without a topic", mutate_sns_subscription_unconditional, check_alarm_topic_subscription_is_scoped),
    ("the watcher's reserved concurrency is removed", mutate_watcher_reserved_concurrency_dropped, check_own_reserved_concurrency_is_one),
    ("the watcher's OnFailure destination is removed", mutate_watcher_without_failure_destination, check_failed_events_have_an_sqs_destination),
    ("the watcher may change itself", mutate_watcher_may_change_itself, check_autoscaler_cannot_change_itself),
    ("a failed watch is retried", mutate_watcher_retried, check_watcher_takes_the_schedule_and_the_autoscaler_keeps_the_events),
    ("the watcher exists without WatchSeconds", mutate_watcher_unconditional, check_watcher_takes_the_schedule_and_the_autoscaler_keeps_the_events),
    ("the watcher takes alarm events", mutate_watcher_takes_alarm_events, check_watcher_takes_the_schedule_and_the_autoscaler_keeps_the_events),
    ("watching with any schedule rate", mutate_watch_with_any_schedule, check_watch_needs_the_one_minute_schedule),
    ("the example alarm acts whatever the prefix", mutate_example_alarm_always_acts, check_stack_alarms_reach_the_function_once),
    ("a policy file without a layer", mutate_policy_file_without_a_layer, check_policy_file_needs_a_layer),
    ("the watch rule never applies", mutate_watch_rule_always_off, check_watch_needs_the_one_minute_schedule),
    ("both schedules run while watching", mutate_both_schedules_enabled, check_watcher_takes_the_schedule_and_the_autoscaler_keeps_the_events),
    ("the watcher logs to the autoscaler's group", mutate_watcher_logs_to_the_autoscalers_group, check_watcher_logs_to_its_own_group_and_may_write_there),
    ("the role may not write the watcher's logs", mutate_watcher_log_group_not_writable, check_watcher_logs_to_its_own_group_and_may_write_there),
    ("the watcher takes the whole control-plane budget", mutate_watcher_takes_the_whole_budget, check_control_plane_budget_is_split_not_doubled),
    ("the events function keeps 80 GetFunction per second", mutate_events_keep_the_whole_get_function_budget, check_control_plane_budget_is_split_not_doubled),
    ("the watcher's budget is not the stack's parameter", mutate_watcher_budget_from_another_parameter, check_control_plane_budget_is_split_not_doubled),
    ("the dashboard ignores the watcher's log group", mutate_dashboard_ignores_the_watcher, check_dashboard_reads_the_watchers_log_group_when_watching),
]


# ---------------------------------------------------------------- runner


def run_check(check, template):
    try:
        check(template)
        return None
    except CheckFailed as e:
        return str(e)
    except Exception:  # a crash is a failure too, with its trace
        return "crashed:\n" + traceback.format_exc()


def ensure_cfnlint():
    """cfn-lint lives in the project venv; re-run with its python when this one lacks it."""
    try:
        import cfnlint.decode.cfn_yaml  # noqa: F401
    except ImportError:
        venv_python = ROOT / ".venv" / "bin" / "python"
        running_in_venv = Path(sys.prefix).resolve() == (ROOT / ".venv").resolve()
        if venv_python.exists() and not running_in_venv:
            os.execv(str(venv_python), [str(venv_python), *sys.argv])
        print("FAIL cfn-lint is not installed: run ./scripts/setup-venv.sh")
        print("0 passed, 1 failed")
        sys.exit(1)


def main(argv):
    ensure_cfnlint()
    if len(argv) > 1 and argv[1] == "--print-cli-policy":
        path = Path(argv[2]) if len(argv) > 2 else DEFAULT_TEMPLATE
        print(json.dumps(cli_policy(load_template(path)), indent=2))
        return 0
    path = Path(argv[1]) if len(argv) > 1 else DEFAULT_TEMPLATE
    try:
        template = load_template(path)
    except Exception as e:
        print(f"FAIL cannot read {path}: {e}")
        print("0 passed, 1 failed")
        return 1
    passed = failed = 0
    for check in CHECKS:
        error = run_check(check, template)
        if error is None:
            passed += 1
            print(f"PASS {check.__name__}")
        else:
            failed += 1
            print(f"FAIL {check.__name__}: {error}")
    for description, mutate, check in MUTATIONS:
        name = f"{check.__name__} catches: {description}"
        mutated = copy.deepcopy(template)
        try:
            mutate(mutated)
        except Exception as e:
            failed += 1
            print(f"FAIL {name}: the mutation could not be applied ({e})")
            continue
        if run_check(check, mutated) is None:
            failed += 1
            print(f"FAIL {name}: the check still passes, so it does not guard this property")
        else:
            passed += 1
            print(f"PASS {name}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
