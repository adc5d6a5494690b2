//! Naming a Lambda function the way `PutFunctionConcurrency` accepts it.

use crate::arn::{Arn, LambdaResource};
use std::fmt;

/// A function named by its plain name or its unqualified ARN. Reserved concurrency belongs
/// to the function as a whole, so version or alias qualifiers are refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionRef {
    /// What the user wrote; passed unchanged to the Lambda API.
    as_written: String,
    /// The function's name, used to match events to targets and as the metric dimension.
    name: String,
}

impl FunctionRef {
    pub fn parse(text: &str) -> Result<Self, String> {
        let name = if text.starts_with("arn:") {
            name_from_arn(text)?
        } else {
            text
        };
        check_name(name)?;
        Ok(FunctionRef {
            as_written: text.to_owned(),
            name: name.to_owned(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The identifier to send to Lambda.
    pub fn api_id(&self) -> &str {
        &self.as_written
    }

    /// The ARN's parts, when the function was named by its ARN.
    pub fn arn(&self) -> Option<Arn<'_>> {
        Arn::parse(&self.as_written)
    }

    /// True when `other` (a name or an ARN) names this function.
    pub fn matches(&self, other: &str) -> bool {
        match FunctionRef::parse(other) {
            Ok(other) => other.name == self.name,
            Err(_) => false,
        }
    }
}

impl fmt::Display for FunctionRef {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.as_written)
    }
}

/// `arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME`, nothing after the name.
fn name_from_arn(arn: &str) -> Result<&str, String> {
    let parts = Arn::parse(arn);
    let lambda = parts.filter(|p| p.service == "lambda");
    if let Some(missing) = lambda.and_then(|p| {
        [
            ("partition", p.partition),
            ("Region", p.region),
            ("account", p.account),
        ]
        .into_iter()
        .find(|(_, part)| part.is_empty())
    }) {
        return Err(format!(
            "\"{arn}\" has no {}: a function ARN names its partition, Region and account",
            missing.0
        ));
    }
    match parts.and_then(|parts| parts.lambda()) {
        Some(LambdaResource::Function(name)) => Ok(name),
        Some(LambdaResource::Qualified { qualifier, .. }) => Err(format!(
            "\"{arn}\" names version or alias \"{qualifier}\"; reserved concurrency applies to the \
             whole function, so use the unqualified ARN"
        )),
        _ => Err(format!(
            "\"{arn}\" is not a Lambda function ARN (expected arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME)"
        )),
    }
}

/// Lambda function names: 1 to 64 letters, digits, hyphens or underscores.
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("function name is empty".into());
    }
    if name.len() > 64 {
        return Err(format!(
            "function name is {} characters long; Lambda allows at most 64",
            name.len()
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        return Err(format!(
            "function name \"{name}\" contains {bad:?}; Lambda names use only letters, digits, '-' and '_'"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_and_unqualified_arns_are_accepted_and_match_each_other() {
        let by_name = FunctionRef::parse("orders-worker").unwrap();
        let by_arn =
            FunctionRef::parse("arn:aws:lambda:eu-west-1:123456789012:function:orders-worker")
                .unwrap();
        assert_eq!(by_arn.name(), "orders-worker");
        assert_eq!(
            by_arn.api_id(),
            "arn:aws:lambda:eu-west-1:123456789012:function:orders-worker"
        );
        assert!(by_name.matches(by_arn.api_id()));
        assert!(by_arn.matches("orders-worker"));
        assert!(!by_arn.matches("orders-worker-2"));
    }

    #[test]
    fn qualified_arns_bad_characters_and_long_names_are_refused() {
        let err = FunctionRef::parse("arn:aws:lambda:eu-west-1:123456789012:function:f:live")
            .unwrap_err();
        assert!(err.contains("alias \"live\""), "{err}");
        assert!(FunctionRef::parse("arn:aws:s3:::bucket")
            .unwrap_err()
            .contains("not a Lambda function ARN"));
        assert!(FunctionRef::parse("my function")
            .unwrap_err()
            .contains("contains ' '"));
        assert!(FunctionRef::parse(&"x".repeat(65))
            .unwrap_err()
            .contains("at most 64"));
        assert!(FunctionRef::parse("").unwrap_err().contains("empty"));
        // The Lambda API would refuse it only later, and the origin check could not compare.
        for (arn, part) in [
            ("arn:aws:lambda:::function:f", "Region"),
            ("arn:aws:lambda:eu-west-1::function:f", "account"),
            ("arn::lambda:eu-west-1:123456789012:function:f", "partition"),
        ] {
            let err = FunctionRef::parse(arn).unwrap_err();
            assert!(err.contains(&format!("has no {part}")), "{arn}: {err}");
        }
    }
}
