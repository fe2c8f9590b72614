//! The server's layers, checked on its source (docs/architecture.md, "Layers"): modules
//! import downward only, and SQL is written in `server/src/db/` alone.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn server_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../server/src")
}

/// Every `.rs` file of the server library with its module path (`db::runs`; the root
/// is ``), its code without the `#[cfg(test)]` module that ends a file (tests may
/// import from anywhere).
fn modules() -> Vec<(String, PathBuf, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let root = server_src();
    let mut files = Vec::new();
    walk(&root, &mut files);
    files.sort();
    files
        .into_iter()
        .filter(|p| !p.ends_with("main.rs"))
        .map(|p| {
            let rel = p.strip_prefix(&root).unwrap().with_extension("");
            let mut parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
                parts.pop();
            }
            let text = std::fs::read_to_string(&p).unwrap();
            let code = match text.find("#[cfg(test)]") {
                Some(i) => text[..i].to_owned(),
                None => text,
            };
            (parts.join("::"), p, code)
        })
        .collect()
}

fn ident_at(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// The paths a file names after `crate::` (with `crate::{a, b}` groups) and `super::`,
/// as module paths from the crate root (maybe longer than a module: `db::runs::Run`).
fn references(module: &str, is_mod_file: bool, code: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in code.lines() {
        let line = line.trim_start();
        if line.starts_with("//") {
            continue;
        }
        let mut rest = line;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let inner = &group[..group.find('}').unwrap_or(group.len())];
                out.extend(
                    inner
                        .split(',')
                        .map(|s| s.trim().replace(' ', ""))
                        .filter(|s| !s.is_empty()),
                );
            } else {
                let end = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                    .unwrap_or(rest.len());
                out.push(rest[..end].trim_end_matches(':').to_owned());
            }
        }
        let mut rest = line;
        while let Some(i) = rest.find("super::") {
            rest = &rest[i + "super::".len()..];
            // `super` of `a/b.rs` is `a`; of `a/b/mod.rs` it is `a` too.
            let mut parent: Vec<&str> = module.split("::").collect();
            parent.pop();
            if is_mod_file && parent.is_empty() {
                continue;
            }
            let name = ident_at(rest);
            if !name.is_empty() {
                parent.push(name);
                out.push(parent.join("::"));
            }
        }
    }
    out
}

/// The module graph of the server: for each module, the modules it imports.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let mods = modules();
    let known: BTreeSet<String> = mods.iter().map(|(m, _, _)| m.clone()).collect();
    let mut g = BTreeMap::new();
    for (m, path, code) in &mods {
        let is_mod = path.ends_with("mod.rs");
        let mut deps = BTreeSet::new();
        for r in references(m, is_mod, code) {
            // The longest module that the path starts with.
            let mut parts: Vec<&str> = r.split("::").collect();
            while !parts.is_empty() && !known.contains(&parts.join("::")) {
                parts.pop();
            }
            let target = parts.join("::");
            if !target.is_empty() && &target != m {
                deps.insert(target);
            }
        }
        g.insert(m.clone(), deps);
    }
    g
}

/// A cycle in `g`, as the list of its nodes, if there is one.
fn find_cycle(g: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(n.to_owned(), 1);
        stack.push(n.to_owned());
        for d in g.get(n).into_iter().flatten() {
            match state.get(d.as_str()).copied().unwrap_or(0) {
                1 => {
                    let from = stack.iter().position(|s| s == d).unwrap();
                    let mut cycle = stack[from..].to_vec();
                    cycle.push(d.clone());
                    return Some(cycle);
                }
                0 => {
                    if let Some(c) = visit(d, g, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(n.to_owned(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in g.keys() {
        if state.get(n.as_str()).copied().unwrap_or(0) == 0
            && let Some(c) = visit(n, g, &mut state, &mut Vec::new())
        {
            return Some(c);
        }
    }
    None
}

#[test]
fn the_server_s_modules_import_downward_only() {
    let g = graph();
    assert!(
        g.contains_key("sync::run") && g["sync::run"].contains("db::runs"),
        "the graph is read: {g:?}"
    );
    if let Some(c) = find_cycle(&g) {
        panic!("an import circle between files: {}", c.join(" -> "));
    }
    // Between top-level modules too: `sync` may not use `agents` if `agents` uses `sync`.
    let mut top: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (m, deps) in &g {
        let head = m.split("::").next().unwrap().to_owned();
        let entry = top.entry(head.clone()).or_default();
        for d in deps {
            let dh = d.split("::").next().unwrap();
            if dh != head && !head.is_empty() {
                entry.insert(dh.to_owned());
            }
        }
    }
    if let Some(c) = find_cycle(&top) {
        panic!("an import circle between layers: {}", c.join(" -> "));
    }
    // The run engine takes what it uses, not the whole application.
    for (m, deps) in &g {
        if m.starts_with("sync") {
            for banned in ["state", "app", "routes", "agents", "error"] {
                assert!(
                    !deps.iter().any(|d| d.split("::").next() == Some(banned)),
                    "{m} imports {banned}: {deps:?}"
                );
            }
        }
    }
}

#[test]
fn the_import_check_sees_a_circle_when_there_is_one() {
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    g.insert("a".into(), ["b".to_owned()].into());
    g.insert("b".into(), ["c".to_owned()].into());
    g.insert("c".into(), BTreeSet::new());
    assert_eq!(find_cycle(&g), None);
    g.get_mut("c").unwrap().insert("a".into());
    assert_eq!(find_cycle(&g).unwrap(), ["a", "b", "c", "a"]);
    let mut refs = references(
        "agents::session",
        false,
        "use super::runs::RunSlot;\nuse crate::{db, state::AppState};",
    );
    refs.sort();
    assert_eq!(refs, ["agents::runs", "db", "state::AppState"]);
}

#[test]
fn no_sql_is_written_outside_the_database_layer() {
    const SQL: [&str; 10] = [
        "sqlx::query",
        "QueryBuilder",
        "raw_sql",
        "copy_in_raw",
        "PgListener",
        "on_db!",
        "\"SELECT ",
        "\"UPDATE ",
        "\"INSERT ",
        "\"DELETE ",
    ];
    let mut found = Vec::new();
    for (m, path, code) in modules() {
        if m == "db" || m.starts_with("db::") {
            continue;
        }
        for (i, line) in code.lines().enumerate() {
            if let Some(s) = SQL.iter().find(|s| line.contains(*s)) {
                found.push(format!("{}:{}: {s}", path.display(), i + 1));
            }
        }
    }
    assert!(
        found.is_empty(),
        "SQL outside server/src/db:\n{}",
        found.join("\n")
    );
}
