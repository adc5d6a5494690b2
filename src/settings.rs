//! Run-time settings other than the policy, read from the environment.

use std::fmt;

/// `true` makes every invocation compute and report but never write to Lambda.
pub const DRY_RUN_ENV: &str = "AUTOSCALER_DRY_RUN";
/// The CloudWatch namespace for the autoscaler's metrics.
pub const NAMESPACE_ENV: &str = "AUTOSCALER_METRIC_NAMESPACE";
pub const DEFAULT_NAMESPACE: &str = "LambdaAutoscaler";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub dry_run: bool,
    pub namespace: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            dry_run: false,
            namespace: DEFAULT_NAMESPACE.to_owned(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid setting {variable}: {message}")]
pub struct SettingsError {
    pub variable: &'static str,
    pub message: String,
}

impl fmt::Display for Settings {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "dry_run={} namespace={}", self.dry_run, self.namespace)
    }
}

impl Settings {
    pub fn from_env() -> Result<Settings, SettingsError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// `from_env` with the environment passed in.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Settings, SettingsError> {
        let dry_run = match lookup(DRY_RUN_ENV) {
            None => false,
            Some(text) => parse_bool(&text).ok_or_else(|| SettingsError {
                variable: DRY_RUN_ENV,
                message: format!("\"{text}\" is not a boolean (use true or false)"),
            })?,
        };
        let namespace = match lookup(NAMESPACE_ENV).filter(|v| !v.is_empty()) {
            None => DEFAULT_NAMESPACE.to_owned(),
            Some(ns) => check_namespace(ns)?,
        };
        Ok(Settings { dry_run, namespace })
    }
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" | "" => Some(false),
        _ => None,
    }
}

/// CloudWatch namespaces: 1 to 255 characters, and `AWS/` is reserved for AWS services.
fn check_namespace(namespace: String) -> Result<String, SettingsError> {
    let fail = |message: String| SettingsError {
        variable: NAMESPACE_ENV,
        message,
    };
    if namespace.len() > 255 {
        return Err(fail("longer than CloudWatch's 255 characters".into()));
    }
    if namespace.starts_with("AWS/") {
        return Err(fail(format!(
            "\"{namespace}\" is reserved: AWS/ namespaces belong to AWS services"
        )));
    }
    Ok(namespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        Settings::from_lookup(|name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn defaults_write_for_real_to_the_lambda_autoscaler_namespace() {
        assert_eq!(settings(&[]).unwrap(), Settings::default());
    }

    #[test]
    fn dry_run_and_namespace_are_read_and_checked() {
        let s = settings(&[(DRY_RUN_ENV, "TRUE"), (NAMESPACE_ENV, "Team/Scaling")]).unwrap();
        assert!(s.dry_run);
        assert_eq!(s.namespace, "Team/Scaling");
        assert!(settings(&[(DRY_RUN_ENV, "maybe")])
            .unwrap_err()
            .to_string()
            .contains("\"maybe\" is not a boolean"));
        assert!(settings(&[(NAMESPACE_ENV, "AWS/Lambda")])
            .unwrap_err()
            .to_string()
            .contains("reserved"));
    }
}
