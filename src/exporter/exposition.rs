//! The two text formats a scraper may ask for. prometheus-client writes OpenMetrics, which
//! Prometheus asks for first; curl, promtool and older scrapers read the classic text format
//! (0.0.4), where a counter's family is named with its `_total` and there is no `# UNIT` or
//! `# EOF`. The classic text is derived from the OpenMetrics text, line by line.

pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
pub const CLASSIC: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Whether an `Accept` header asks for OpenMetrics (Prometheus sends it first).
pub fn wants_openmetrics(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| a.contains("application/openmetrics-text"))
}

/// The classic text format of an OpenMetrics exposition.
pub fn classic(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len());
    // A family's HELP comes before its TYPE: held until the TYPE says whether it is a counter.
    let mut help: Option<(&str, &str)> = None;
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, text) = rest.split_once(' ').unwrap_or((rest, ""));
            help = Some((name, text));
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "untyped"));
            let family = if kind == "counter" {
                format!("{name}_total")
            } else {
                name.to_string()
            };
            if let Some((helped, text)) = help.take().filter(|(n, _)| *n == name) {
                debug_assert_eq!(helped, name);
                out.push_str(&format!("# HELP {family} {text}\n"));
            }
            out.push_str(&format!("# TYPE {family} {kind}\n"));
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_named_with_their_total_and_openmetrics_only_lines_go() {
        let openmetrics = "# HELP wsdash_probes GetConnection answers by result.\n\
             # TYPE wsdash_probes counter\n\
             wsdash_probes_total{result=\"live\"} 3\n\
             # HELP wsdash_scan_duration_seconds How long.\n\
             # TYPE wsdash_scan_duration_seconds gauge\n\
             # UNIT wsdash_scan_duration_seconds seconds\n\
             wsdash_scan_duration_seconds 0.5\n\
             # EOF\n";
        assert_eq!(
            classic(openmetrics),
            "# HELP wsdash_probes_total GetConnection answers by result.\n\
             # TYPE wsdash_probes_total counter\n\
             wsdash_probes_total{result=\"live\"} 3\n\
             # HELP wsdash_scan_duration_seconds How long.\n\
             # TYPE wsdash_scan_duration_seconds gauge\n\
             wsdash_scan_duration_seconds 0.5\n"
        );
    }

    #[test]
    fn prometheus_gets_openmetrics_and_curl_the_classic_text() {
        assert!(wants_openmetrics(Some(
            "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
        )));
        assert!(!wants_openmetrics(Some("*/*")));
        assert!(!wants_openmetrics(None));
    }
}
