//! The Management API endpoint as operators paste it: the AWS console shows a stage's WebSocket
//! URL (`wss://API_ID.execute-api.REGION.amazonaws.com/STAGE`) and its @connections URL
//! (`https://…/STAGE/@connections`); the SDKs want the stage URL (`https://…/STAGE`). All three
//! are accepted and normalised here, once; the region an execute-api host names is the region
//! calls must be signed for.

/// A stage URL, and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageUrl {
    /// `https://API_ID.execute-api.REGION.amazonaws.com/STAGE` (or the local emulator's).
    pub url: String,
    /// What was rewritten, to be said once ("the @connections URL, used as its stage URL …").
    pub rewritten_from: Option<&'static str>,
}

/// The forms that work, for every refusal.
pub const ACCEPTED_FORMS: &str = "the stage URL https://API_ID.execute-api.REGION.amazonaws.com/STAGE, the console's @connections URL https://API_ID.execute-api.REGION.amazonaws.com/STAGE/@connections, or its WebSocket URL wss://API_ID.execute-api.REGION.amazonaws.com/STAGE (locally: http://127.0.0.1:4510/production)";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {given:?} is not a Management API endpoint ({problem}); use {ACCEPTED_FORMS}")]
pub struct EndpointError {
    pub what: String,
    pub given: String,
    pub problem: String,
}

/// Normalise `given` to its stage URL; `what` names the flag in the refusal.
pub fn stage_url(given: &str, what: &str) -> Result<StageUrl, EndpointError> {
    let refuse = |problem: &str| EndpointError {
        what: what.to_string(),
        given: given.to_string(),
        problem: problem.to_string(),
    };
    let mut url = url::Url::parse(given.trim()).map_err(|_| refuse("not a URL"))?;
    if url.host().is_none() {
        return Err(refuse("no host"));
    }
    let mut rewritten_from = None;
    let scheme = match url.scheme() {
        "https" | "http" => None,
        "wss" => Some("https"),
        "ws" => Some("http"),
        _ => return Err(refuse("the scheme must be https, http, wss or ws")),
    };
    if let Some(scheme) = scheme {
        // The url crate refuses to switch between "special" schemes in place; rebuild instead.
        let rebuilt = format!("{scheme}{}", &url.as_str()[url.scheme().len()..]);
        url = url::Url::parse(&rebuilt).map_err(|_| refuse("not a URL"))?;
        rewritten_from = Some("the WebSocket URL");
    }
    if url.query().is_some() || url.fragment().is_some() {
        // A pasted WebSocket URL may still carry a client's ?token=…: never keep it.
        url.set_query(None);
        url.set_fragment(None);
        rewritten_from = rewritten_from.or(Some("a URL with a query string"));
    }
    let segments: Vec<String> = url
        .path_segments()
        .map(|s| s.filter(|p| !p.is_empty()).map(str::to_string).collect())
        .unwrap_or_default();
    let stage = match segments.as_slice() {
        [stage] if stage != "@connections" => stage.clone(),
        [stage, connections] if connections == "@connections" && stage != "@connections" => {
            rewritten_from = Some("the @connections URL");
            stage.clone()
        }
        [] => return Err(refuse("it names no stage")),
        [first, ..] if first == "@connections" => return Err(refuse("it names no stage")),
        _ => return Err(refuse("its path is more than a stage")),
    };
    url.set_path(&stage);
    Ok(StageUrl {
        url: url.as_str().trim_end_matches('/').to_string(),
        rewritten_from,
    })
}

/// The region an execute-api host names (`API_ID.execute-api.REGION.amazonaws.com`, also
/// `.amazonaws.com.cn`), which wins over the profile's: AWS refuses a signature for another.
pub fn region_in_host(endpoint: &str) -> Option<String> {
    let url = url::Url::parse(endpoint).ok()?;
    let host = url.host_str()?.to_ascii_lowercase();
    let rest = host
        .strip_suffix(".amazonaws.com")
        .or_else(|| host.strip_suffix(".amazonaws.com.cn"))?;
    let mut labels = rest.split('.');
    let (_api_id, service, region) = (labels.next()?, labels.next()?, labels.next()?);
    let region_shaped = !region.is_empty()
        && region.contains('-')
        && region
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-');
    (service == "execute-api" && labels.next().is_none() && region_shaped)
        .then(|| region.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAGE: &str = "https://abc123.execute-api.eu-west-1.amazonaws.com/production";

    #[test]
    fn the_three_console_urls_become_the_stage_url() {
        for (given, from) in [
            (STAGE, None),
            (&format!("{STAGE}/") as &str, None),
            (
                &format!("{STAGE}/@connections"),
                Some("the @connections URL"),
            ),
            (
                &format!("{STAGE}/@connections/"),
                Some("the @connections URL"),
            ),
            (
                "wss://abc123.execute-api.eu-west-1.amazonaws.com/production",
                Some("the WebSocket URL"),
            ),
        ] {
            let got = stage_url(given, "--endpoint").expect(given);
            assert_eq!(got.url, STAGE, "{given}");
            assert_eq!(got.rewritten_from, from, "{given}");
        }
        let local = stage_url(
            "ws://127.0.0.1:4510/production?token=dev:alice",
            "--endpoint",
        )
        .expect("local");
        assert_eq!(local.url, "http://127.0.0.1:4510/production");
    }

    #[test]
    fn anything_else_is_refused_naming_the_forms_that_work() {
        for given in [
            "https://abc123.execute-api.eu-west-1.amazonaws.com",
            "https://abc123.execute-api.eu-west-1.amazonaws.com/@connections",
            "https://abc123.execute-api.eu-west-1.amazonaws.com/production/@connections/abc=",
            "ftp://example.com/production",
            "not a url",
        ] {
            let err = stage_url(given, "--endpoint").expect_err(given).to_string();
            assert!(
                err.contains("@connections URL") && err.contains("wss://"),
                "{err}"
            );
        }
    }

    #[test]
    fn an_execute_api_host_names_the_signing_region() {
        assert_eq!(region_in_host(STAGE).as_deref(), Some("eu-west-1"));
        assert_eq!(
            region_in_host("https://abc.execute-api.cn-north-1.amazonaws.com.cn/p").as_deref(),
            Some("cn-north-1")
        );
        assert_eq!(region_in_host("https://ws.example.com/production"), None);
        assert_eq!(region_in_host("http://127.0.0.1:4510/production"), None);
    }
}
