//! CloudWatch alarm vocabulary shared by policies, events and observations.

use serde::{Deserialize, Serialize};
use std::fmt;

/// CloudWatch's limit on alarm names.
pub const MAX_ALARM_NAME_LEN: usize = 255;

/// The three states a CloudWatch alarm can be in, spelled as CloudWatch spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AlarmState {
    #[serde(rename = "OK")]
    Ok,
    #[serde(rename = "ALARM")]
    Alarm,
    #[serde(rename = "INSUFFICIENT_DATA")]
    InsufficientData,
}

impl AlarmState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlarmState::Ok => "OK",
            AlarmState::Alarm => "ALARM",
            AlarmState::InsufficientData => "INSUFFICIENT_DATA",
        }
    }
}

impl fmt::Display for AlarmState {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Alarm names must be 1 to 255 characters, as in CloudWatch.
pub fn check_alarm_name(name: &str) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err("alarm name is empty".into());
    }
    let len = name.chars().count();
    if len > MAX_ALARM_NAME_LEN {
        return Err(format!(
            "alarm name is {len} characters long; CloudWatch allows at most {MAX_ALARM_NAME_LEN}"
        ));
    }
    Ok(())
}
