//! Architecture checks over the source text of `src/edge` (compiled for wasm32 only, so
//! these read it rather than import it): its modules import each other without cycles,
//! the request context and storage stay leaves, and SQL lives only in `edge::repo`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module path (`repo::users`) → source text, for every file under `src/edge`.
fn edge_modules() -> BTreeMap<String, String> {
    fn walk(dir: &Path, prefix: &str, out: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let stem = path.file_stem().unwrap().to_str().unwrap().to_owned();
            let name = if prefix.is_empty() { stem.clone() } else { format!("{prefix}::{stem}") };
            if path.is_dir() {
                walk(&path, &name, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let module = if stem == "mod" { prefix.to_owned() } else { name };
                out.insert(module, std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src/edge"), "", &mut out);
    out
}

fn parent(module: &str) -> String {
    module.rsplit_once("::").map(|(p, _)| p.to_owned()).unwrap_or_default()
}

/// The edge modules `module` imports (`crate::edge::a::b`, `super::a`, `super::{a, b::c}`),
/// each resolved to the deepest module that exists; self and ancestors excluded.
fn imports(module: &str, text: &str, known: &BTreeSet<String>) -> BTreeSet<String> {
    let join = |a: &str, b: &str| if a.is_empty() { b.to_owned() } else { format!("{a}::{b}") };
    let mut paths: Vec<String> = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.starts_with("//")) {
        for (marker, root) in [("crate::edge::", String::new()), ("super::", parent(module))] {
            let mut rest = line;
            while let Some(i) = rest.find(marker) {
                rest = &rest[i + marker.len()..];
                let path: String = rest.chars().take_while(|c| !matches!(c, ';' | '(' | ')' | '=' | '>')).collect();
                let (prefix, list) = path.split_once('{').unwrap_or((&path, ""));
                let prefix = prefix.trim().trim_end_matches("::");
                let prefix = if prefix.is_empty() { root.clone() } else { join(&root, prefix) };
                let names = list.split('}').next().unwrap_or_default().split(',');
                let names: Vec<String> =
                    names.map(|n| n.trim().split("::").next().unwrap_or_default().to_owned()).collect();
                if list.is_empty() {
                    paths.push(prefix.split_whitespace().next().unwrap_or_default().to_owned());
                } else {
                    paths.extend(names.iter().map(|n| join(&prefix, n)));
                }
            }
        }
    }
    paths
        .into_iter()
        .filter_map(|p| {
            let mut m = p.as_str();
            loop {
                if known.contains(m) {
                    return Some(m.to_owned());
                }
                m = m.rsplit_once("::")?.0;
            }
        })
        .filter(|m| m != module && !module.starts_with(&format!("{m}::")) && !m.is_empty())
        .collect()
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let modules = edge_modules();
    let known: BTreeSet<String> = modules.keys().cloned().collect();
    modules.iter().map(|(m, text)| (m.clone(), imports(m, text, &known))).collect()
}

#[test]
fn the_edge_modules_import_each_other_without_cycles() {
    let g = graph();
    assert!(g["handlers::account"].contains("repo::users"), "{g:?}");
    assert!(g["repo::users"].contains("repo::sessions"), "{g:?}");
    // Depth-first search for a back edge.
    fn visit<'a>(
        m: &'a str,
        g: &'a BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) {
        if done.contains(m) {
            return;
        }
        if let Some(i) = stack.iter().position(|s| *s == m) {
            panic!("import cycle: {} -> {m}", stack[i..].join(" -> "));
        }
        stack.push(m);
        for next in g.get(m).into_iter().flatten() {
            visit(next, g, stack, done);
        }
        stack.pop();
        done.insert(m);
    }
    let mut done = BTreeSet::new();
    for m in g.keys() {
        visit(m, &g, &mut Vec::new(), &mut done);
    }
}

#[test]
fn the_context_and_storage_are_leaves() {
    let g = graph();
    let upper = ["pipeline", "dispatch", "handlers", "authn", "throttle", "credentials"];
    for (m, deps) in &g {
        if m == "ctx" || m == "reply" || m == "repo" || m.starts_with("repo::") {
            for d in deps {
                let top = d.split("::").next().unwrap_or_default();
                assert!(!upper.contains(&top), "{m} imports {d}");
            }
        }
        if m.starts_with("handlers::") {
            let siblings: Vec<_> = deps.iter().filter(|d| d.starts_with("handlers::")).collect();
            assert!(siblings.is_empty(), "handler {m} imports handler {siblings:?}");
        }
    }
}

#[test]
fn sql_lives_only_in_the_repo_modules() {
    for (m, text) in edge_modules() {
        if m == "repo" || m.starts_with("repo::") {
            continue;
        }
        for keyword in ["SELECT ", "INSERT INTO", "UPDATE ", "DELETE FROM"] {
            assert!(!text.contains(keyword), "{m} contains SQL ({keyword})");
        }
    }
}
