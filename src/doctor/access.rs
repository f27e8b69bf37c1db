//! Checks of what the operator's credentials can reach: identity, the connection table, and the
//! execute-api:ManageConnections permission.

use super::Check;
use crate::management::{DenialCause, GatewayError, ManagementApi, Verb};
use crate::store::dynamo::describe_schema;
use crate::store::schema::SchemaOverrides;
use crate::store::{DynamoStore, StoreError};
use aws_config::SdkConfig;
use aws_sdk_sts::error::ProvideErrorMetadata;

/// Who we are, per STS; returns the account id for the policy fix.
pub async fn credentials(sdk: &SdkConfig) -> (Check, Option<String>) {
    let region = sdk
        .region()
        .map(|r| r.to_string())
        .unwrap_or_else(|| "none".into());
    match aws_sdk_sts::Client::new(sdk)
        .get_caller_identity()
        .send()
        .await
    {
        Ok(identity) => (
            Check::pass(
                "credentials",
                format!(
                    "{} (account {}), region {region}",
                    identity.arn().unwrap_or("?"),
                    identity.account().unwrap_or("?")
                ),
            ),
            identity.account().map(str::to_string),
        ),
        Err(e) => {
            let found = match (e.code(), e.message()) {
                (Some(code), Some(message)) => format!("{code}: {message}"),
                (Some(code), None) => code.to_string(),
                _ => crate::aws_env::describe_unanswered_call(&e, "STS (GetCallerIdentity)"),
            };
            (
                Check::fail(
                    "credentials",
                    format!("STS GetCallerIdentity failed: {found}"),
                    "configure credentials: aws sso login --profile NAME, or set AWS_PROFILE / AWS_ACCESS_KEY_ID",
                ),
                None,
            )
        }
    }
}

/// The table exists, its key schema fits the mapping, and a sample of its items parses.
/// The table's schema and a sample of its items, then its TTL.
pub async fn table(
    sdk: &SdkConfig,
    endpoint: Option<&str>,
    table: Option<&str>,
    names: SchemaOverrides,
    region: &str,
) -> Vec<Check> {
    let (check, store) = table_and_sample(sdk, endpoint, table, names, region).await;
    let mut checks = vec![check];
    if let (Some(store), Some(table)) = (store, table) {
        checks.push(time_to_live(&store, table, region).await);
    }
    checks
}

/// A record whose $disconnect was lost and that no purge reached stays for ever unless the
/// table expires it: TTL is the safety net (deleted within about two days, by DynamoDB).
async fn time_to_live(store: &DynamoStore, table: &str, region: &str) -> Check {
    match store.time_to_live().await {
        Ok(Some(attribute)) => Check::pass(
            "table TTL",
            format!("{table} expires records on {attribute}: the records nothing else deletes go eventually"),
        ),
        Ok(None) => Check::warn(
            "table TTL",
            format!("{table} has no TTL: a record whose $disconnect was lost stays until a purge finds it Gone"),
            Some(format!(
                "aws dynamodb update-time-to-live --table-name {table} --time-to-live-specification Enabled=true,AttributeName=expires_at --region {region}   # and have the backend write expires_at = connected_at + 7200 (API Gateway's 2 h maximum), in epoch seconds"
            )),
        ),
        Err(e) => Check::warn(
            "table TTL",
            format!("cannot read {table}'s TTL setting: {e}"),
            Some("grant dynamodb:DescribeTimeToLive on the table".into()),
        ),
    }
}

async fn table_and_sample(
    sdk: &SdkConfig,
    endpoint: Option<&str>,
    table: Option<&str>,
    names: SchemaOverrides,
    region: &str,
) -> (Check, Option<DynamoStore>) {
    let Some(table) = table else {
        return (
            Check::warn(
                "table",
                "no connection table configured, so records are not checked",
                Some("--table NAME (or table = \"...\" in the environment)".into()),
            ),
            None,
        );
    };
    let store = match DynamoStore::connect(sdk, endpoint, table, names, 1).await {
        Ok(store) => store,
        Err(StoreError::TableNotFound(_)) => {
            return (
                Check::fail(
                    "table",
                    format!("table {table} does not exist in {region}"),
                    format!(
                        "check --table and --region (aws dynamodb list-tables --region {region})"
                    ),
                ),
                None,
            )
        }
        Err(e) => {
            return (
                Check::fail(
                    "table",
                    format!("table {table}: {e}"),
                    "set [env.NAME.schema] user_id / connection_id / connected_at to the table's attribute names",
                ),
                None,
            )
        }
    };
    let check = match store.sample(25).await {
        Ok(sample) if sample.malformed.is_empty() => Check::pass(
            "table",
            format!(
                "{table}: {}; {} sampled item(s) parse",
                describe_schema(store.schema()),
                sample.records.len()
            ),
        ),
        Ok(sample) => Check::warn(
            "table",
            format!(
                "{table}: {}; {} of {} sampled item(s) do not parse, e.g. the item with {}: {}",
                describe_schema(store.schema()),
                sample.malformed.len(),
                sample.malformed.len() + sample.records.len(),
                item_name(&sample.malformed[0]),
                sample.malformed[0].reason
            ),
            Some("fix the writer, or map the attribute names under [env.NAME.schema]".into()),
        ),
        Err(e) => Check::fail(
            "table",
            format!("cannot read {table}: {e}"),
            "grant dynamodb:Scan on the table",
        ),
    };
    (check, Some(store))
}

/// Which item an example is about: its ids as stored (the item itself, when it has neither).
fn item_name(malformed: &crate::store::MalformedRecord) -> String {
    let mut parts = Vec::new();
    if let Some(user) = &malformed.user_id {
        parts.push(format!("user_id {user:?}"));
    }
    if let Some(id) = &malformed.connection_id {
        parts.push(format!(
            "connection_id {:?}",
            id.chars().take(40).collect::<String>()
        ));
    }
    if parts.is_empty() {
        let raw = malformed.raw.to_string();
        parts.push(raw.chars().take(80).collect());
    }
    parts.join(", ")
}

/// A connection id no client holds: every verb on it answers Gone (410) when allowed, so the
/// checks below change nothing (no message reaches anyone, no socket closes).
pub const MADE_UP_CONNECTION_ID: &str = "wsdashDoctor000=";

/// What one verb on a made-up id showed.
#[derive(Debug)]
enum VerbResult {
    Allowed,
    Denied(GatewayError),
    Failed(GatewayError),
}

async fn try_verb(gateway: &dyn ManagementApi, verb: Verb) -> VerbResult {
    let result = match verb {
        Verb::Post => {
            gateway
                .post_to_connection(MADE_UP_CONNECTION_ID, bytes::Bytes::from_static(b"{}"))
                .await
        }
        Verb::Get => gateway
            .get_connection(MADE_UP_CONNECTION_ID)
            .await
            .map(|_| ()),
        Verb::Delete => gateway.delete_connection(MADE_UP_CONNECTION_ID).await,
    };
    match result {
        Ok(()) | Err(GatewayError::Gone) => VerbResult::Allowed,
        Err(e @ GatewayError::Forbidden(_)) => VerbResult::Denied(e),
        Err(e) => VerbResult::Failed(e),
    }
}

/// The least-privilege policy for the verbs in `verbs`, for this API and stage.
pub fn manage_connections_policy(
    verbs: &[Verb],
    region: &str,
    account: Option<&str>,
    api_id: &str,
    stage: &str,
) -> serde_json::Value {
    let resources: Vec<String> = verbs
        .iter()
        .map(|verb| {
            format!(
                "arn:aws:execute-api:{region}:{}:{api_id}/{stage}/{}/@connections/*",
                account.unwrap_or("*"),
                verb.as_str()
            )
        })
        .collect();
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Action": "execute-api:ManageConnections",
            "Resource": resources,
        }]
    })
}

/// The region calls are signed for, and why: AWS refuses a signature for any other.
pub fn signing_region(region: &str, from_host: bool, endpoint: &str) -> Check {
    let why = if from_host {
        "named by the endpoint's execute-api host, whatever the profile says"
    } else {
        "from --region, the environment or the profile: the endpoint's host names none, so this must be the API's own region"
    };
    Check::pass(
        "signing region",
        format!("Management API calls to {endpoint} are signed for {region} ({why})"),
    )
}

/// PostToConnection, GetConnection and DeleteConnection on a made-up id: Gone means the verb is
/// allowed; a 403 from IAM means it is denied, and says which features that turns off. The fix
/// grants exactly the missing verbs. A refusal that is not IAM's (signature, key, clock,
/// session) is one check with its own cause and fix: every verb would fail the same way.
pub async fn verbs(
    gateway: &dyn ManagementApi,
    api_id: &str,
    region: &str,
    stage: &str,
    account: Option<&str>,
) -> Vec<Check> {
    let mut checks = Vec::new();
    let mut missing = Vec::new();
    for verb in Verb::ALL {
        let name = format!("{} @connections", verb.as_str());
        match try_verb(gateway, verb).await {
            VerbResult::Allowed => checks.push(Check::pass(
                name,
                format!(
                    "{} on a made-up id answered Gone: allowed ({} work)",
                    verb.operation(),
                    verb.features()
                ),
            )),
            VerbResult::Denied(e) => match e.denial() {
                Some(denial) if denial.cause == DenialCause::IamDenied => {
                    missing.push(verb);
                    checks.push(Check::fail_with_cause(
                        name,
                        format!(
                            "{} denied by IAM: {} off (AWS: {})",
                            verb.operation(),
                            verb.features(),
                            denial.aws_message.trim()
                        ),
                        denial.cause.as_str(),
                    ));
                }
                Some(denial) => {
                    // Not IAM: every verb fails the same way; one check says why and the fix.
                    return vec![Check {
                        fix: Some(denial.fix()),
                        ..Check::fail_with_cause(
                            "manage connections",
                            format!(
                                "{} from {}: {} (AWS: {})",
                                verb.operation(),
                                gateway.endpoint(),
                                denial.summary(),
                                denial.aws_message.trim()
                            ),
                            denial.cause.as_str(),
                        )
                    }];
                }
                None => checks.push(Check::fail(name, e.to_string(), "check the endpoint")),
            },
            VerbResult::Failed(e @ GatewayError::Credentials(_)) => {
                return vec![Check {
                    fix: Some(e.to_string()),
                    ..Check::fail_with_cause(
                        "manage connections",
                        format!("no call could be signed: {e}"),
                        e.cause(),
                    )
                }];
            }
            VerbResult::Failed(e) => checks.push(Check::fail(
                name,
                format!("{} failed: {e}", verb.operation()),
                format!("check that {} is reachable", gateway.endpoint()),
            )),
        }
    }
    if !missing.is_empty() {
        let policy = manage_connections_policy(&missing, region, account, api_id, stage);
        let names: Vec<&str> = missing.iter().map(|v| v.as_str()).collect();
        let fix = format!(
            "add this statement to the policy of the role wsdash runs as: it grants exactly the missing verb(s) {} for this API and stage (the guide's policy grants POST only): {policy}",
            names.join(", ")
        );
        for check in checks
            .iter_mut()
            .filter(|c| c.status == super::Status::Fail)
        {
            check.fix = Some(fix.clone());
        }
    }
    checks
}
