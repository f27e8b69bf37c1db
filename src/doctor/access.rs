//! Checks of what the operator's credentials can reach: identity, the connection table, and the
//! execute-api:ManageConnections permission.

use super::Check;
use crate::management::{GatewayError, ManagementApi};
use crate::store::dynamo::describe_schema;
use crate::store::schema::SchemaOverrides;
use crate::store::{DynamoStore, StoreError};
use aws_config::SdkConfig;
use aws_sdk_sts::error::{DisplayErrorContext, ProvideErrorMetadata};

/// Who we are, per STS; returns the account id for the policy fix.
pub async fn credentials(sdk: &SdkConfig) -> (Check, Option<String>) {
    let region = sdk
        .region()
        .map(|r| r.to_string())
        .unwrap_or_else(|| "none".into());
    match aws_sdk_sts::Client::new(sdk).get_caller_identity().send().await {
        Ok(identity) => (
            Check::pass("credentials", format!("{} (account {}), region {region}", identity.arn().unwrap_or("?"), identity.account().unwrap_or("?"))),
            identity.account().map(str::to_string),
        ),
        Err(e) => (
            Check::fail(
                "credentials",
                format!("STS GetCallerIdentity failed: {}", e.message().map(str::to_string).unwrap_or_else(|| DisplayErrorContext(&e).to_string())),
                "configure credentials: aws sso login --profile NAME, or set AWS_PROFILE / AWS_ACCESS_KEY_ID",
            ),
            None,
        ),
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

/// A GetConnection on a made-up id must answer Gone; Forbidden means the policy or endpoint is wrong.
pub async fn permission(
    gateway: &dyn ManagementApi,
    api_id: &str,
    region: &str,
    stage: &str,
    account: Option<&str>,
) -> Check {
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Action": "execute-api:ManageConnections",
            "Resource": format!("arn:aws:execute-api:{region}:{}:{api_id}/{stage}/POST/@connections/*", account.unwrap_or("*")),
        }]
    });
    match gateway.get_connection("wsdashDoctor000=").await {
        Err(GatewayError::Gone) => Check::pass("manage connections", format!("GetConnection on a made-up id answered Gone (410) at {}: the permission works", gateway.endpoint())),
        Ok(_) => Check::warn("manage connections", "GetConnection on a made-up id answered 200; is this really API Gateway?", None),
        Err(GatewayError::Forbidden(message)) => Check::fail(
            "manage connections",
            format!("Forbidden (403) from {}: {message}. Pushes will fail silently", gateway.endpoint()),
            format!("attach this policy to the backend's role (and check the endpoint's stage): {policy}"),
        ),
        Err(e) => Check::fail("manage connections", format!("GetConnection failed: {e}"), format!("check that {} is reachable", gateway.endpoint())),
    }
}
