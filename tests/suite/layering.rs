//! Architecture guard: reads every file under `src/` and fails when an import runs against the intended
//! layering in [`LAYERS`] (a module reaching up to a later layer), or when files import each other in a
//! circle. A textual scan, standard library only: comments and literals are blanked, the bodies of
//! `#[cfg(test)] mod … { … }` skipped, `use` trees and inline `crate::`/`super::`/`self::` paths collected,
//! each resolved to an absolute module path and mapped to the file that defines it. The unit tests at the
//! bottom pin the scanner's behaviour on small inputs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The intended layering of the top-level modules of `src/`, lowest first: a module may import itself and
/// modules of a lower layer only. The single source of truth; the reasoning is in docs/architecture.md.
/// `src/main.rs` and `src/lib.rs` may import anything and are not checked.
const LAYERS: &[(&str, u32)] = &[
    ("config", 0), // generic config toolkit: Ctx, spans, diagnostics
    ("vocab", 1),  // shared types: BBox, Detection, labels, Frame, Geometry, Resize
    ("source", 2), // the stages, in flow order
    ("decode", 3),
    ("infer", 4),
    ("track", 5),
    ("rules", 6),
    ("anonymize", 7),
    ("publish", 8),
    ("evidence", 9), // redacted, signed incident clips: pre-roll, encoding, manifests, verify
    ("observe", 10), // metrics and health
    ("console", 11), // the operator console: redacted live views, the editor, the incident feed
    ("plan", 12),    // the assembled, checked config: Plan, load, the [[cameras]] schema
    ("app", 13),     // wiring: threads, reload, lifecycle, replay
    ("fleet", 14),   // the office's side of many boxes on one hub: status, watch, the fleet simulation
];

/// Keys of `#[serde(key = "…")]` whose string is a path (a function or a type) that may lead into the crate.
const SERDE_PATH_KEYS: &str = "default with serialize_with deserialize_with skip_serializing_if from try_from into";

/// A module path as segments (`["rules", "zone"]`), or a path as written (`["super", "slot", "Delivery"]`).
type Segs = Vec<String>;
/// A token or a path found in a file, with its 1-based line.
type At<T> = (T, usize);

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Replaces comments and string and char literals with spaces, keeping newlines so line numbers stay right.
/// The one exception: the path in a `#[serde(default = "crate::…")]`-style string is kept.
fn blank(src: &str) -> String {
    let c: Vec<char> = src.chars().collect();
    let at = |i: usize| c.get(i).copied().unwrap_or('\0');
    let ident_before = |k: usize| k > 0 && is_ident(c[k - 1]);
    let (mut out, mut i) = (String::with_capacity(src.len()), 0);
    while i < c.len() {
        let start = i;
        // `r"…"`, `r#"…"#`, `br"…"`, `cr"…"`, but not the end of an identifier such as `bar"`
        let raw = at(i) == 'r' && (!ident_before(i) || (matches!(at(i - 1), 'b' | 'c') && !ident_before(i - 1)));
        let hashes = (i + 1..c.len()).take_while(|&k| c[k] == '#').count();
        if at(i) == '/' && at(i + 1) == '/' {
            i = (i..c.len()).find(|&k| c[k] == '\n').unwrap_or(c.len());
        } else if at(i) == '/' && at(i + 1) == '*' {
            let mut depth = 0; // block comments nest
            while i < c.len() {
                let step = [(at(i), at(i + 1)) == ('/', '*'), (at(i), at(i + 1)) == ('*', '/')];
                depth += step[0] as i32 - step[1] as i32;
                i += if step[0] || step[1] { 2 } else { 1 };
                if step[1] && depth == 0 {
                    break;
                }
            }
        } else if raw && at(i + 1 + hashes) == '"' {
            i += hashes + 2;
            while i < c.len() && !(c[i] == '"' && (1..=hashes).all(|h| at(i + h) == '#')) {
                i += 1;
            }
            i += hashes + 1;
        } else if at(i) == '"' {
            i += 1;
            while i < c.len() && c[i] != '"' {
                i += if c[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            let body: String = c[start + 1..(i - 1).min(c.len())].iter().collect();
            if body.contains("::") && body.chars().all(|ch| is_ident(ch) || ch == ':') && serde_path_slot(&out) {
                out.push_str(&format!(" {body} "));
                continue;
            }
        } else if at(i) == '\'' && (at(i + 1) == '\\' || (at(i + 2) == '\'' && at(i + 1) != '\'')) {
            i += if at(i + 1) == '\\' { 3 } else { 2 }; // a char literal, not a lifetime `'a`
            while i < c.len() && c[i] != '\'' {
                i += 1;
            }
            i += 1;
        } else {
            out.push(c[i]);
            i += 1;
            continue;
        }
        for &ch in &c[start..i.min(c.len())] {
            out.push(if ch == '\n' { '\n' } else { ' ' });
        }
    }
    out
}

/// Whether a string literal starting right after `out` is the value of a path-valued key of `#[serde(…)]`.
fn serde_path_slot(out: &str) -> bool {
    let Some(before) = out.trim_end().strip_suffix('=').map(str::trim_end) else {
        return false;
    };
    let key = &before[before.rfind(|ch: char| !is_ident(ch)).map_or(0, |k| k + 1)..];
    let attr = out.rfind("#[").map(|k| &out[k + 2..]);
    SERDE_PATH_KEYS.split(' ').any(|k| k == key)
        && attr.is_some_and(|a| a.trim_start().starts_with("serde") && !a.contains(']'))
}

/// Splits blanked text into tokens: identifiers (with a `$` prefix kept, so that macro metavariables such
/// as `$module` or `$crate` never look like modules), `::`, and any other character on its own.
fn tokens(text: &str) -> Vec<At<String>> {
    let c: Vec<char> = text.chars().collect();
    let (mut toks, mut line, mut i) = (Vec::new(), 1, 0);
    while i < c.len() {
        let start = i;
        i += 1;
        if c[start] == '\n' {
            line += 1;
        } else if c[start] == '$' || is_ident(c[start]) {
            while i < c.len() && is_ident(c[i]) {
                i += 1;
            }
        } else if c[start] == ':' && c.get(i) == Some(&':') {
            i += 1;
        }
        if !c[start].is_whitespace() {
            toks.push((c[start..i].iter().collect(), line));
        }
    }
    toks
}

/// Index just past the bracket group that opens at `t[i]`.
fn skip_group(t: &[At<String>], mut i: usize, open: &str, close: &str) -> usize {
    let mut depth = 0;
    while i < t.len() {
        depth += (t[i].0 == open) as i32 - (t[i].0 == close) as i32;
        i += 1;
        if depth == 0 {
            break;
        }
    }
    i
}

/// Parses the use tree at `t[*i]` below `prefix`, pushing every leaf as a full path (a `self` in a group
/// stands for the group's prefix, a glob `*` for the prefix itself; `as` renames are dropped).
fn use_tree(t: &[At<String>], i: &mut usize, prefix: &[String], out: &mut Vec<At<Segs>>) {
    let tok = |k: usize| t.get(k).map_or("", |x| x.0.as_str());
    let mut path = prefix.to_vec();
    loop {
        let (s, line) = (tok(*i), t.get(*i).map_or(0, |x| x.1));
        *i += 1;
        match s {
            "::" if path.is_empty() => path.push("::".into()), // `::name`: an external crate
            "{" => {
                while !matches!(tok(*i), "}" | ";" | "") {
                    let before = *i;
                    use_tree(t, i, &path, out);
                    *i += (tok(*i) == "," || *i == before) as usize;
                }
                *i += (tok(*i) == "}") as usize;
                return;
            }
            "*" => return out.push((path, line)),
            _ if !s.is_empty() && s.chars().all(|ch| is_ident(ch) || ch == '$') => {
                if s != "self" || path.is_empty() {
                    path.push(s.to_string());
                }
                if tok(*i) != "::" {
                    *i += if tok(*i) == "as" { 2 } else { 0 };
                    return out.push((path, line));
                }
                *i += 1;
            }
            _ => return *i -= 1,
        }
    }
}

/// The references of one file's source into the crate: `use` leaves that start with `crate`, `super`,
/// `self` or a child module (declared with `mod name;`, or listed in `children`), and inline paths that
/// start with `crate::`, `super::` or `self::`. The bodies of `#[cfg(test)] mod name { … }` are skipped.
fn references(src: &str, children: &[&str]) -> Vec<At<Segs>> {
    let t = tokens(&blank(src));
    let tok = |k: usize| t.get(k).map_or("", |x| x.0.as_str());
    let (mut uses, mut inline, mut mods) = (Vec::new(), Vec::new(), BTreeSet::new());
    let mut i = 0;
    while i < t.len() {
        let s = tok(i);
        if (i..i + 7).map(tok).eq(["#", "[", "cfg", "(", "test", ")", "]"]) {
            let mut j = i + 7;
            while tok(j) == "#" && tok(j + 1) == "[" {
                j = skip_group(&t, j + 1, "[", "]"); // further attributes
            }
            j += (tok(j) == "pub") as usize;
            j = if tok(j) == "(" { skip_group(&t, j, "(", ")") } else { j };
            if tok(j) == "mod" && tok(j + 2) == "{" {
                i = skip_group(&t, j + 2, "{", "}");
                continue;
            }
        } else if s == "mod" && tok(i + 2) == ";" && !tok(i + 1).starts_with('$') {
            mods.insert(tok(i + 1).to_string());
        } else if s == "use" {
            i += 1;
            use_tree(&t, &mut i, &[], &mut uses);
            continue;
        } else if matches!(s, "crate" | "super" | "self")
            && tok(i + 1) == "::"
            && i.checked_sub(1).map(tok) != Some("::")
        {
            let vis = i >= 2 && tok(i - 1) == "in" && tok(i - 2) == "("; // `pub(in crate::x)` is no import
            let (mut path, line) = (vec![s.to_string()], t[i].1);
            while tok(i + 1) == "::" && tok(i + 2).starts_with(is_ident) {
                path.push(tok(i + 2).to_string());
                i += 2;
            }
            if !vis {
                inline.push((path, line));
            }
        }
        i += 1;
    }
    mods.extend(children.iter().map(|s| s.to_string()));
    uses.retain(|(p, _): &At<Segs>| matches!(p[0].as_str(), "crate" | "super" | "self") || mods.contains(&p[0]));
    uses.extend(inline);
    uses.sort_by_key(|(p, l)| (*l, p.clone()));
    uses
}

/// The module path of a file given relative to `src/`: `a/b.rs` → `a::b`, `a/mod.rs` → `a`, `lib.rs` → root.
fn module_of(rel: &str) -> Segs {
    let mut segs: Segs = rel.trim_end_matches(".rs").split('/').map(String::from).collect();
    if matches!(segs.last().map(String::as_str), Some("mod" | "lib" | "main")) {
        segs.pop();
    }
    segs
}

/// The absolute module path (the segments after `crate`) that `path`, written in `module`, names; None
/// when it climbs above the crate root. A first segment other than crate/self/super is a child module.
fn resolve(module: &[String], path: &[String]) -> Option<Segs> {
    let (mut abs, mut rest) = match path[0].as_str() {
        "crate" => (Vec::new(), &path[1..]),
        "self" => (module.to_vec(), &path[1..]),
        _ => (module.to_vec(), path),
    };
    while rest.first().is_some_and(|s| s == "super") {
        abs.pop()?;
        rest = &rest[1..];
    }
    abs.extend(rest.iter().cloned());
    Some(abs)
}

/// The file defining the longest prefix of `abs` that is a module; None for the crate root (lib.rs).
fn file_of<'a>(files: &'a BTreeMap<Segs, String>, abs: &[String]) -> Option<&'a String> {
    (1..=abs.len()).rev().find_map(|k| files.get(&abs[..k]))
}

/// Every `.rs` file under `dir`, relative to `root`, with `/` separators.
fn rust_files(root: &Path, dir: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).expect("read src/") {
        let path = entry.expect("read src/").path();
        if path.is_dir() {
            rust_files(root, &path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/"));
        }
    }
}

/// An import from one file to another (both relative to `src/`), with its line.
type Edge = (String, String, usize);

/// Scans `src/`: every edge between files (none to itself, none to lib.rs or main.rs), and the checked
/// files (all but lib.rs and main.rs).
fn scan_src() -> (Vec<Edge>, Vec<String>) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut rels = Vec::new();
    rust_files(&src, &src, &mut rels);
    rels.retain(|r| r != "lib.rs" && r != "main.rs");
    rels.sort();
    let files: BTreeMap<Segs, String> = rels.iter().map(|r| (module_of(r), r.clone())).collect();
    let mut edges = Vec::new();
    for rel in &rels {
        let module = module_of(rel);
        // child modules are known from the files too, as some are declared by a macro (`rule_kinds!`)
        let below = files.keys().filter_map(|m| m.strip_prefix(module.as_slice()));
        let children: Vec<&str> = below.filter(|c| c.len() == 1).map(|c| c[0].as_str()).collect();
        let text = std::fs::read_to_string(src.join(rel)).expect("read a source file");
        for (path, line) in references(&text, &children) {
            let Some(abs) = resolve(&module, &path) else { continue };
            if let Some(to) = file_of(&files, &abs).filter(|&to| to != rel) {
                edges.push((rel.clone(), to.clone(), line));
            }
        }
    }
    (edges, rels)
}

fn layer(module: &str) -> Option<u32> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|&(_, l)| l)
}

/// The top-level module of a file relative to `src/`.
fn top(rel: &str) -> &str {
    rel.split(['/', '.']).next().unwrap()
}

/// Fails with `header` and then the violations, one per line, when there are any.
fn fail_with(header: String, violations: &[String]) {
    assert!(violations.is_empty(), "{header}:\n{}\n", violations.join("\n"));
}

#[test]
fn imports_respect_the_layers() {
    let (edges, rels) = scan_src();
    let mut found = BTreeSet::new(); // (file, line, message): sorted and without duplicates
    for module in rels.iter().map(|r| top(r)).filter(|m| layer(m).is_none()) {
        let msg = format!("src/{module}: top-level module {module} is not in LAYERS (add it to LAYERS)");
        found.insert((module.to_string(), 0, msg));
    }
    for (file, to_file, line) in &edges {
        let (from, to) = (top(file), top(to_file));
        let (Some(lf), Some(lt)) = (layer(from), layer(to)) else {
            continue;
        };
        if from != to && lt >= lf {
            let how = if lt > lf { "later than" } else { "on the same layer as" };
            let msg = format!("src/{file}:{line} imports crate::{to} (layer {lt}), {how} {from} (layer {lf})");
            found.insert((file.clone(), *line, msg));
        }
    }
    let violations: Vec<String> = found.into_iter().map(|(_, _, msg)| msg).collect();
    let n = violations.len();
    fail_with(
        format!("{n} layering violations (see LAYERS in tests/suite/layering.rs)"),
        &violations,
    );
}

#[test]
fn no_import_cycle_among_files() {
    let (edges, rels) = scan_src();
    let index: BTreeMap<&str, usize> = rels.iter().enumerate().map(|(k, r)| (r.as_str(), k)).collect();
    let mut adj = vec![Vec::new(); rels.len()];
    for (from, to, _) in &edges {
        adj[index[from.as_str()]].push(index[to.as_str()]);
    }
    let cycles: Vec<BTreeSet<&str>> = kosaraju(&adj)
        .into_iter()
        .filter(|c| c.len() > 1)
        .map(|c| c.iter().map(|&k| rels[k].as_str()).collect())
        .collect();
    let mut violations = Vec::new();
    for inside in &cycles {
        let names: Vec<String> = inside.iter().map(|r| format!("src/{r}")).collect();
        let (n, names) = (inside.len(), names.join(", "));
        violations.push(format!("import cycle among {n} files: {names}"));
        let mut lines: BTreeMap<(&str, &str), BTreeSet<usize>> = BTreeMap::new(); // the edges inside
        for (from, to, line) in &edges {
            if inside.contains(from.as_str()) && inside.contains(to.as_str()) {
                lines.entry((from, to)).or_default().insert(*line);
            }
        }
        for ((from, to), l) in lines {
            let l: Vec<String> = l.iter().map(usize::to_string).collect();
            violations.push(format!("    src/{from}:{} -> src/{to}", l.join(",")));
        }
    }
    fail_with(format!("{} import cycles among files", cycles.len()), &violations);
}

/// The strongly connected components of a graph (Kosaraju: finish order, then the reversed graph).
fn kosaraju(adj: &[Vec<usize>]) -> Vec<Vec<usize>> {
    fn visit(adj: &[Vec<usize>], v: usize, seen: &mut [bool], out: &mut Vec<usize>) {
        if !std::mem::replace(&mut seen[v], true) {
            adj[v].iter().for_each(|&w| visit(adj, w, seen, out));
            out.push(v);
        }
    }
    let (n, mut order) = (adj.len(), Vec::new());
    let mut seen = vec![false; n];
    (0..n).for_each(|v| visit(adj, v, &mut seen, &mut order));
    let mut rev = vec![Vec::new(); n];
    (0..n).for_each(|v| adj[v].iter().for_each(|&w| rev[w].push(v)));
    let mut seen = vec![false; n];
    let components = order.iter().rev().map(|&v| {
        let mut component = Vec::new();
        visit(&rev, v, &mut seen, &mut component);
        component
    });
    components.filter(|c| !c.is_empty()).collect()
}

// ---- Unit tests of the scanner itself ----

/// `references` as `"line path"` strings, for compact assertions.
fn refs(src: &str, children: &[&str]) -> String {
    let found: Vec<String> = references(src, children)
        .iter()
        .map(|(p, l)| format!("{l} {}", p.join("::")))
        .collect();
    found.join(", ")
}

fn segs(path: &str) -> Segs {
    path.split("::").filter(|s| !s.is_empty()).map(String::from).collect()
}

#[test]
fn scanner_expands_nested_use_trees() {
    let src = "use crate::decode::{self, Frame, pipeline::{Stream, StreamSpec}};\n\
               pub(crate) use crate::infer::{\n    nms::*,\n    Detector as D,\n};\nuse std::sync::Arc;";
    let want = "1 crate::decode, 1 crate::decode::Frame, 1 crate::decode::pipeline::Stream, \
                1 crate::decode::pipeline::StreamSpec, 3 crate::infer::nms, 4 crate::infer::Detector";
    assert_eq!(refs(src, &[]), want);
}

#[test]
fn scanner_ignores_comments_strings_chars_and_metavariables() {
    let src = "// crate::a\n/* crate::b /* nested */ crate::c */ /// [`crate::d`]\n//! super::e\n\
               let u = \"rtsp://host/\\\"x\"; use crate::real;\n\
               let r = r#\"crate::f // \"# ; let q = '\"'; fn f<'a>(x: &'a str) { crate::g::h::<u8>(x) }\n\
               macro_rules! m { ($module:ident) => { $module::Config; $crate::x::Y } }\n\
               let s = \"crate::not::a::path\"; let b = br\"crate::z\"; let e = '\\''; use super::*;";
    assert_eq!(refs(src, &[]), "4 crate::real, 5 crate::g::h, 7 super");
}

#[test]
fn scanner_reads_serde_path_attributes() {
    let src = "struct S {\n    #[serde(default = \"crate::config::de::unset\")]\n    a: u8,\n    \
               #[serde(rename = \"crate::x\")]\n    b: u8,\n}\nconst W: &str = \"crate::y\";";
    assert_eq!(refs(src, &[]), "2 crate::config::de::unset");
}

#[test]
fn scanner_skips_cfg_test_inline_modules_but_not_their_files() {
    let src = "#[cfg(test)]\n#[allow(unused)]\nmod tests {\n    use crate::x;\n    fn f() { { crate::y(); } }\n}\n\
               use crate::after;\n#[cfg(test)]\npub(crate) mod testing;\nuse testing::Fixture;";
    assert_eq!(refs(src, &[]), "7 crate::after, 10 testing::Fixture");
}

#[test]
fn scanner_follows_child_modules_in_use_only() {
    let src = "mod zone;\npub(crate) mod kinds;\nuse zone::Zone;\nuse std::fmt;\nuse kinds::fall::X;\n\
               fn f() { zone::Zone::new(); }\nuse blobs::B;\nuse other::O;\npub(in crate::rules) fn g() {}";
    assert_eq!(refs(src, &[]), "3 zone::Zone, 5 kinds::fall::X");
    assert_eq!(refs(src, &["blobs"]), "3 zone::Zone, 5 kinds::fall::X, 7 blobs::B"); // a child known from its file
}

#[test]
fn resolution_to_modules_and_files() {
    let (leaf, dir) = (module_of("decode/slot.rs"), module_of("decode/mod.rs"));
    let cases = [
        (&leaf, "super::Frame", "decode::Frame"),
        (&dir, "super::infer::X", "infer::X"),
        (&dir, "self::slot::S", "decode::slot::S"),
        (&dir, "pipeline::Stream", "decode::pipeline::Stream"),
        (&leaf, "crate::rules::Scope", "rules::Scope"),
    ];
    for (module, path, want) in cases {
        assert_eq!(resolve(module, &segs(path)), Some(segs(want)), "{path} from {module:?}");
    }
    let deep = module_of("app/replay/out.rs");
    let up2 = resolve(&deep, &segs("super::super::camera::C"));
    assert_eq!(up2, Some(segs("app::camera::C")));
    assert_eq!(resolve(&dir, &segs("super::super::x")), None);
    let files: BTreeMap<Segs, String> = ["rules/mod.rs", "rules/zone.rs"]
        .map(|r| (module_of(r), r.into()))
        .into();
    assert_eq!(file_of(&files, &segs("rules::zone::Shape")).unwrap(), "rules/zone.rs");
    assert_eq!(file_of(&files, &segs("rules::Scope")).unwrap(), "rules/mod.rs");
    assert_eq!(file_of(&files, &segs("Thing")), None); // an item of lib.rs
}
