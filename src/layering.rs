//! The module graph, checked: every `crate::` path in `src/` is an edge between two modules,
//! and the layers below may only point down. A circle between modules (or a layer reaching up)
//! fails here, with the files that make it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Bottom to top. A module may use modules of its own layer or below; within a layer, the
/// edges must not make a circle. The dashboard and the commands are two front ends of the
/// same operations: neither reaches into the other.
const LAYERS: &[&[&str]] = &[
    &[
        "model",
        "text",
        "token",
        "shutdown",
        "flags",
        "messages",
        "aws_env",
        "sdk_http_client",
    ],
    &[
        "store",
        "management",
        "config",
        "access_logs",
        "gateway_metrics",
    ],
    &["ops", "logging"],
    &["emulator", "doctor"],
    &["commands", "tui", "exporter"],
    &["cli"],
    &["launch"],
];

const NEVER: &[(&str, &str)] = &[("tui", "commands"), ("commands", "tui")];

/// Every module file of `src/` as its path (`tui::update`), with its text.
fn modules() -> BTreeMap<String, String> {
    fn walk(dir: &Path, root: &Path, out: &mut BTreeMap<String, String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, root, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let relative = path.strip_prefix(root).unwrap_or(&path).with_extension("");
                let mut parts: Vec<String> = relative
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                if parts.last().is_some_and(|p| p == "mod") {
                    parts.pop();
                }
                if parts == ["main"] || parts == ["lib"] {
                    continue;
                }
                out.insert(
                    parts.join("::"),
                    std::fs::read_to_string(&path).unwrap_or_default(),
                );
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = BTreeMap::new();
    walk(&root, &root, &mut out);
    out
}

/// `crate::a::b::Item` → the longest module path it names (`a::b`).
fn referenced_modules<'a>(text: &str, modules: &'a BTreeMap<String, String>) -> BTreeSet<&'a str> {
    let mut found = BTreeSet::new();
    for (at, _) in text.match_indices("crate::") {
        let path: String = text[at + "crate::".len()..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        let segments: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
        for n in (1..=segments.len()).rev() {
            if let Some((name, _)) = modules.get_key_value(&segments[..n].join("::")) {
                found.insert(name.as_str());
                break;
            }
        }
    }
    found
}

fn top(module: &str) -> &str {
    module.split("::").next().unwrap_or(module)
}

fn related(a: &str, b: &str) -> bool {
    a == b || a.starts_with(&format!("{b}::")) || b.starts_with(&format!("{a}::"))
}

/// Circles in `edges`, each as its members (Tarjan's strongly connected components).
fn circles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct Search<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        found: Vec<Vec<String>>,
    }
    impl<'a> Search<'a> {
        fn visit(&mut self, v: &'a str) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            for w in self.edges.get(v).into_iter().flatten() {
                let w = w.as_str();
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let low = self.low[v].min(self.low[w]);
                    self.low.insert(v, low);
                } else if self.stack.contains(&w) {
                    let low = self.low[v].min(self.index[w]);
                    self.low.insert(v, low);
                }
            }
            if self.low[v] == self.index[v] {
                let mut members = Vec::new();
                while let Some(w) = self.stack.pop() {
                    members.push(w.to_string());
                    if w == v {
                        break;
                    }
                }
                if members.len() > 1 {
                    self.found.push(members);
                }
            }
        }
    }
    let mut search = Search {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        found: Vec::new(),
    };
    for v in edges.keys() {
        if !search.index.contains_key(v.as_str()) {
            search.visit(v);
        }
    }
    search.found
}

#[test]
fn no_module_circle_and_layers_only_point_down() {
    let modules = modules();
    assert!(modules.len() > 30, "read the sources: {}", modules.len());
    let layer_of = |module: &str| LAYERS.iter().position(|l| l.contains(&top(module)));
    let mut files: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut tops: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut problems = Vec::new();
    // This file names modules in its own text; it is a test, not a layer.
    for (module, text) in modules.iter().filter(|(m, _)| m.as_str() != "layering") {
        let Some(layer) = layer_of(module) else {
            problems.push(format!("{module} is in no layer: add it to LAYERS"));
            continue;
        };
        for used in referenced_modules(text, &modules) {
            if related(module, used) {
                continue;
            }
            files
                .entry(module.clone())
                .or_default()
                .insert(used.to_string());
            if top(module) != top(used) {
                tops.entry(top(module).to_string())
                    .or_default()
                    .insert(top(used).to_string());
            }
            if layer_of(used).is_some_and(|l| l > layer) {
                problems.push(format!("{module} reaches up to {used}"));
            }
            if NEVER.contains(&(top(module), top(used))) {
                problems.push(format!("{module} reaches into {used}"));
            }
        }
    }
    // One error style: typed errors in the library, anyhow only where the binary wires it up.
    for (module, text) in &modules {
        if module != "launch" && module != "layering" && text.contains("anyhow::") {
            problems.push(format!(
                "{module} uses anyhow: give it a typed error (thiserror)"
            ));
        }
    }
    for circle in circles(&files).into_iter().chain(circles(&tops)) {
        problems.push(format!("circle: {}", circle.join(" → ")));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_check_sees_a_circle() {
    let edges: BTreeMap<String, BTreeSet<String>> =
        [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")]
            .into_iter()
            .fold(BTreeMap::new(), |mut m, (x, y)| {
                m.entry(x.to_string()).or_default().insert(y.to_string());
                m
            });
    let found = circles(&edges);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].len(), 3);
}

#[test]
fn the_architecture_page_names_every_layer_and_its_modules() {
    let page =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/architecture.md"))
            .expect("docs/architecture.md");
    for (n, layer) in LAYERS.iter().enumerate() {
        let row = page
            .lines()
            .find(|l| l.starts_with(&format!("| {} |", n + 1)))
            .unwrap_or_else(|| panic!("docs/architecture.md has no row for layer {}", n + 1));
        for module in *layer {
            assert!(
                row.contains(&format!("`{module}`")),
                "docs/architecture.md's layer {} row does not name {module}",
                n + 1
            );
        }
    }
}

/// Errors are told apart by their type, code or SQLSTATE, never by searching their text: a
/// reworded message (or another language) must not change what wsdash does. Test modules may
/// check messages; the dashboard's filter searches the operator's rows, not errors.
#[test]
fn no_error_is_classified_by_its_text() {
    const TEXT_SEARCHES: [&str; 6] = [
        ".to_string().contains(",
        ".to_string().starts_with(",
        ".message().contains(",
        ".to_lowercase().contains(",
        "format!(\"{e}\").contains(",
        "format!(\"{err}\").contains(",
    ];
    // The filter searches rows; this module is the test itself.
    const SEARCHES_ROWS_NOT_ERRORS: &[&str] = &["tui::filter", "tui::text_column", "layering"];
    let mut found = Vec::new();
    for (module, text) in modules() {
        if SEARCHES_ROWS_NOT_ERRORS.contains(&module.as_str()) {
            continue;
        }
        // Test modules come last in a file, after `#[cfg(test)]`.
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for (n, line) in code.lines().enumerate() {
            if TEXT_SEARCHES.iter().any(|pattern| line.contains(pattern)) {
                found.push(format!("{module}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "errors classified by their text:\n{}",
        found.join("\n")
    );
}
