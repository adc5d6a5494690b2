//! Functions, their reservations and tags, and the account's concurrency pool.

use super::{lock, Parts};
use crate::function_ref::FunctionRef;
use crate::ports::{
    AccountConcurrency, AwsError, FunctionFinder, FunctionView, Lambda, TaggedFunction,
};
use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "123456789012";

struct Function {
    reserved: Option<u32>,
    tags: HashMap<String, String>,
}

/// The account's concurrency limit and the part of it Lambda keeps unreserved.
#[derive(Debug, Clone, Copy)]
struct Pool {
    limit: u32,
    floor: u32,
}

pub struct MemoryLambda {
    parts: Parts,
    functions: Mutex<BTreeMap<String, Function>>,
    pool: Mutex<Pool>,
}

impl MemoryLambda {
    pub(super) fn new(parts: Parts) -> MemoryLambda {
        MemoryLambda {
            parts,
            functions: Mutex::default(),
            // A default account: 1000 concurrent executions, 100 always unreserved.
            pool: Mutex::new(Pool {
                limit: 1000,
                floor: 100,
            }),
        }
    }

    /// The ARN this world gives function `name`.
    pub fn arn(name: &str) -> String {
        format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}")
    }

    /// Creates (or replaces) a function.
    pub fn add(&self, name: &str, reserved: Option<u32>, tags: &[(&str, &str)]) {
        lock(&self.functions).insert(
            name.to_owned(),
            Function {
                reserved,
                tags: tags
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            },
        );
    }

    /// Sets the account's concurrency limit and its unreserved floor.
    pub fn set_pool(&self, limit: u32, floor: u32) {
        *lock(&self.pool) = Pool { limit, floor };
    }

    /// A function's reservation; `None` for no reservation (panics for an unknown function,
    /// which is a mistake in the test or fixture).
    pub fn reserved(&self, name: &str) -> Option<u32> {
        lock(&self.functions)
            .get(name)
            .unwrap_or_else(|| panic!("no function {name} in this world"))
            .reserved
    }

    fn unreserved(&self, functions: &BTreeMap<String, Function>) -> u32 {
        let reserved: u32 = functions.values().filter_map(|f| f.reserved).sum();
        lock(&self.pool).limit.saturating_sub(reserved)
    }

    fn not_found(operation: &'static str, function: &FunctionRef) -> AwsError {
        AwsError {
            operation,
            resource: function.api_id().to_owned(),
            code: Some("ResourceNotFoundException".into()),
            message: format!("Function not found: {}", Self::arn(function.name())),
        }
    }
}

#[async_trait]
impl Lambda for MemoryLambda {
    async fn get_function(&self, function: &FunctionRef) -> Result<FunctionView, AwsError> {
        self.parts.call("GetFunction", function.api_id())?;
        let functions = lock(&self.functions);
        let f = functions
            .get(function.name())
            .ok_or_else(|| Self::not_found("GetFunction", function))?;
        Ok(FunctionView {
            arn: Self::arn(function.name()),
            reserved: f.reserved,
            tags: f.tags.clone(),
        })
    }

    async fn put_reserved(&self, function: &FunctionRef, value: u32) -> Result<(), AwsError> {
        const OPERATION: &str = "PutFunctionConcurrency";
        self.parts.call(OPERATION, function.api_id())?;
        let mut functions = lock(&self.functions);
        let unreserved = self.unreserved(&functions);
        let floor = lock(&self.pool).floor;
        let f = functions
            .get_mut(function.name())
            .ok_or_else(|| Self::not_found(OPERATION, function))?;
        let freed = f.reserved.unwrap_or(0);
        if i64::from(unreserved) + i64::from(freed) - i64::from(value) < i64::from(floor) {
            // Lambda's own wording, with the floor in brackets.
            return Err(AwsError {
                operation: OPERATION,
                resource: function.api_id().to_owned(),
                code: Some("InvalidParameterValueException".into()),
                message: format!(
                    "Specified ReservedConcurrentExecutions for function decreases account's \
                     UnreservedConcurrentExecution below its minimum value of [{floor}]."
                ),
            });
        }
        f.reserved = Some(value);
        Ok(())
    }

    async fn account(&self) -> Result<AccountConcurrency, AwsError> {
        self.parts.call("GetAccountSettings", "account")?;
        let functions = lock(&self.functions);
        let unreserved = self.unreserved(&functions);
        let limit = lock(&self.pool).limit;
        Ok(AccountConcurrency { limit, unreserved })
    }
}

#[async_trait]
impl FunctionFinder for MemoryLambda {
    async fn tagged(&self, key: &str, value: &str) -> Result<Vec<TaggedFunction>, AwsError> {
        self.parts.call("GetResources", &format!("{key}={value}"))?;
        Ok(lock(&self.functions)
            .iter()
            .filter(|(_, f)| f.tags.get(key).map(String::as_str) == Some(value))
            .map(|(name, f)| TaggedFunction {
                arn: Self::arn(name),
                tags: f.tags.clone(),
            })
            .collect())
    }
}
