//! Functions, their reservations and tags, and the account's concurrency pool.

use super::{lock, Later, Parts};
use crate::function_ref::FunctionRef;
use crate::ports::Clock as _;
use crate::ports::{
    AccountConcurrency, AwsError, EventSourceMapping, FunctionFinder, FunctionView, Lambda,
    MappingPage, MappingUpdate, TaggedFunction,
};
use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

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

/// Event source mappings by UUID, and how the world answers about them.
#[derive(Default)]
struct Mappings {
    by_uuid: BTreeMap<String, EventSourceMapping>,
    /// Mappings per `ListEventSourceMappings` page (100, as Lambda's largest).
    page_size: usize,
    /// How many reads an update stays `Updating`/`Enabling`/`Disabling` before it settles.
    settle_after_reads: u32,
    /// Reads left before each mapping settles, by UUID.
    settling: HashMap<String, (u32, String)>,
}

/// What another writer does while an answer is lost ([`MemoryLambda::lose_answers`]).
pub type Meanwhile = Arc<dyn Fn(&mut Option<u32>) + Send + Sync>;

pub struct MemoryLambda {
    parts: Parts,
    functions: Mutex<BTreeMap<String, Function>>,
    pool: Mutex<Pool>,
    mappings: Mutex<Mappings>,
    /// Another writer's reservation writes still on their way, by function.
    landing: Later<u32>,
    /// Another writer's `MaximumConcurrency` writes still on their way, by mapping UUID.
    mapping_landing: Later<u32>,
    /// `PutFunctionConcurrency` calls that land and then lose their answer, by function: how
    /// many more, and what another writer does before the answer would have come.
    lost_answers: Mutex<HashMap<String, (u32, Option<Meanwhile>)>>,
    /// Whether `GetFunction` answers without the tags, as Lambda does to a caller not
    /// allowed `lambda:ListTags`.
    tags_hidden: Mutex<bool>,
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
            mappings: Mutex::new(Mappings {
                page_size: 100,
                ..Mappings::default()
            }),
            landing: Later::default(),
            mapping_landing: Later::default(),
            lost_answers: Mutex::default(),
            tags_hidden: Mutex::default(),
        }
    }

    /// Makes the next `times` `PutFunctionConcurrency` calls on `name` land, then fail as a
    /// connection that broke before the answer came (no error code); `meanwhile`, another
    /// writer acts in between (it is given the function's reservation).
    pub fn lose_answers(&self, name: &str, times: u32, meanwhile: Option<Meanwhile>) {
        lock(&self.lost_answers).insert(name.to_owned(), (times, meanwhile));
    }

    /// Makes `GetFunction` answer without the tags and with a `TagsError`, as Lambda answers
    /// a caller that is not allowed `lambda:ListTags`.
    pub fn hide_tags(&self) {
        *lock(&self.tags_hidden) = true;
    }

    /// Another writer's `PutFunctionConcurrency` of `value` that lands at `at` (the clock's
    /// monotonic scale): any call or [`Self::reserved`] from then on finds it applied.
    pub fn land_at(&self, name: &str, value: u32, at: Duration) {
        self.landing.add(at, name, value);
    }

    /// Another writer's `UpdateEventSourceMapping` of the mapping's maximum to `max` that
    /// lands at `at`, as [`Self::land_at`] does for a reservation.
    pub fn raise_mapping_at(&self, uuid: &str, max: u32, at: Duration) {
        self.mapping_landing.add(at, uuid, max);
    }

    /// Applies the landings that are due.
    fn land_due(&self) {
        let now = self.parts.clock.elapsed();
        let due = self.landing.due(now);
        let mut functions = lock(&self.functions);
        for (name, value) in due {
            if let Some(f) = functions.get_mut(&name) {
                f.reserved = Some(value);
            }
        }
        let mut mappings = lock(&self.mappings);
        for (uuid, max) in self.mapping_landing.due(now) {
            if let Some(m) = mappings.by_uuid.get_mut(&uuid) {
                m.maximum_concurrency = Some(max);
            }
        }
    }

    /// Adds an SQS event source mapping from `queue` (a name) to function `name`; returns
    /// its UUID (`<name>-<queue>`).
    pub fn add_mapping(
        &self,
        name: &str,
        queue: &str,
        maximum_concurrency: Option<u32>,
        enabled: bool,
    ) -> String {
        let uuid = format!("{name}-{queue}");
        let mapping = EventSourceMapping {
            uuid: uuid.clone(),
            function_arn: Self::arn(name),
            queue_arn: format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{queue}"),
            state: if enabled { "Enabled" } else { "Disabled" }.into(),
            maximum_concurrency,
            provisioned: false,
            batch_size: Some(10),
        };
        lock(&self.mappings).by_uuid.insert(uuid.clone(), mapping);
        uuid
    }

    /// Points a mapping at another function (`UpdateEventSourceMapping` with `FunctionName`).
    pub fn move_mapping(&self, uuid: &str, name: &str) {
        if let Some(m) = lock(&self.mappings).by_uuid.get_mut(uuid) {
            m.function_arn = Self::arn(name);
        }
    }

    /// Turns a mapping into provisioned mode (no `MaximumConcurrency`).
    pub fn make_provisioned(&self, uuid: &str) {
        if let Some(m) = lock(&self.mappings).by_uuid.get_mut(uuid) {
            m.provisioned = true;
            m.maximum_concurrency = None;
        }
    }

    /// A mapping as the world holds it now (panics for an unknown UUID).
    pub fn mapping(&self, uuid: &str) -> EventSourceMapping {
        self.land_due();
        lock(&self.mappings)
            .by_uuid
            .get(uuid)
            .cloned()
            .unwrap_or_else(|| panic!("no mapping {uuid} in this world"))
    }

    /// Mappings per list page.
    pub fn set_mapping_page_size(&self, size: usize) {
        lock(&self.mappings).page_size = size.max(1);
    }

    /// Updates stay in progress for this many `GetEventSourceMapping` reads (0: at once).
    pub fn set_mapping_settle_reads(&self, reads: u32) {
        lock(&self.mappings).settle_after_reads = reads;
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
        self.land_due();
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
        self.land_due();
        let functions = lock(&self.functions);
        let f = functions
            .get(function.name())
            .ok_or_else(|| Self::not_found("GetFunction", function))?;
        let hidden = *lock(&self.tags_hidden);
        Ok(FunctionView {
            arn: Self::arn(function.name()),
            reserved: f.reserved,
            tags: if hidden {
                HashMap::new()
            } else {
                f.tags.clone()
            },
            tags_error: hidden.then(|| {
                "AccessDeniedException: not authorized to perform lambda:ListTags".to_owned()
            }),
        })
    }

    async fn put_reserved(&self, function: &FunctionRef, value: u32) -> Result<(), AwsError> {
        const OPERATION: &str = "PutFunctionConcurrency";
        self.parts.call(OPERATION, function.api_id())?;
        self.land_due();
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
        if let Some((lost, meanwhile)) = lock(&self.lost_answers)
            .get_mut(function.name())
            .filter(|(n, _)| *n > 0)
        {
            *lost -= 1;
            if let Some(meanwhile) = meanwhile {
                meanwhile(&mut f.reserved);
            }
            return Err(AwsError {
                operation: OPERATION,
                resource: function.api_id().to_owned(),
                code: None,
                message: "connection closed before the answer".into(),
            });
        }
        Ok(())
    }

    async fn account(&self) -> Result<AccountConcurrency, AwsError> {
        self.parts.call("GetAccountSettings", "account")?;
        // Another writer's reservation that has landed counts in the pool, as in Lambda.
        self.land_due();
        let functions = lock(&self.functions);
        let unreserved = self.unreserved(&functions);
        let limit = lock(&self.pool).limit;
        Ok(AccountConcurrency { limit, unreserved })
    }

    async fn list_mappings(
        &self,
        function: Option<&FunctionRef>,
        marker: Option<&str>,
    ) -> Result<MappingPage, AwsError> {
        let resource = function.map_or("account", |f| f.api_id());
        self.parts.call("ListEventSourceMappings", resource)?;
        self.land_due();
        let mappings = lock(&self.mappings);
        let selected: Vec<&EventSourceMapping> = mappings
            .by_uuid
            .values()
            .filter(|m| function.is_none_or(|f| m.function_arn == Self::arn(f.name())))
            .collect();
        let start: usize = marker.and_then(|m| m.parse().ok()).unwrap_or(0);
        let end = (start + mappings.page_size).min(selected.len());
        Ok(MappingPage {
            mappings: selected[start.min(end)..end]
                .iter()
                .map(|m| (*m).clone())
                .collect(),
            next_marker: (end < selected.len()).then(|| end.to_string()),
        })
    }

    async fn get_mapping(&self, uuid: &str) -> Result<EventSourceMapping, AwsError> {
        const OPERATION: &str = "GetEventSourceMapping";
        self.parts.call(OPERATION, uuid)?;
        self.land_due();
        let mut mappings = lock(&self.mappings);
        let settled = match mappings.settling.get_mut(uuid) {
            Some((0, state)) => Some(state.clone()),
            Some((left, _)) => {
                *left -= 1;
                None
            }
            None => None,
        };
        if let Some(state) = settled {
            mappings.settling.remove(uuid);
            if let Some(m) = mappings.by_uuid.get_mut(uuid) {
                m.state = state;
            }
        }
        mappings
            .by_uuid
            .get(uuid)
            .cloned()
            .ok_or_else(|| mapping_not_found(OPERATION, uuid))
    }

    async fn update_mapping(
        &self,
        uuid: &str,
        update: MappingUpdate,
    ) -> Result<EventSourceMapping, AwsError> {
        const OPERATION: &str = "UpdateEventSourceMapping";
        self.parts.call(OPERATION, uuid)?;
        self.land_due();
        let mut mappings = lock(&self.mappings);
        let settle = mappings.settle_after_reads;
        let m = mappings
            .by_uuid
            .get_mut(uuid)
            .ok_or_else(|| mapping_not_found(OPERATION, uuid))?;
        if m.is_settling() {
            return Err(AwsError {
                operation: OPERATION,
                resource: uuid.to_owned(),
                code: Some("ResourceInUseException".into()),
                message: format!("The event source mapping {uuid} is being updated"),
            });
        }
        if let Some(n) = update.maximum_concurrency {
            if !(2..=1000).contains(&n) || m.provisioned {
                return Err(AwsError {
                    operation: OPERATION,
                    resource: uuid.to_owned(),
                    code: Some("InvalidParameterValueException".into()),
                    message: format!("MaximumConcurrency {n} is not accepted here"),
                });
            }
            m.maximum_concurrency = Some(n);
        }
        let enabled = update.enabled.unwrap_or(m.state != "Disabled");
        let (passing, settled) = match (update.enabled, enabled) {
            (Some(true), _) if m.state == "Disabled" => ("Enabling", "Enabled"),
            (Some(false), _) if m.state != "Disabled" => ("Disabling", "Disabled"),
            (_, true) => ("Updating", "Enabled"),
            (_, false) => ("Updating", "Disabled"),
        };
        let answer_state = if settle == 0 { settled } else { passing };
        m.state = answer_state.to_owned();
        let answer = m.clone();
        if settle > 0 {
            mappings
                .settling
                .insert(uuid.to_owned(), (settle - 1, settled.to_owned()));
        }
        Ok(answer)
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
fn mapping_not_found(operation: &'static str, uuid: &str) -> AwsError {
    AwsError {
        operation,
        resource: uuid.to_owned(),
        code: Some("ResourceNotFoundException".into()),
        message: format!(
            "The resource you requested does not exist. (Service: Lambda, uuid {uuid})"
        ),
    }
}
