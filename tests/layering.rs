//! Architecture guard: reads every file under `src/` and fails when an import runs against the intended
//! layering (a module reaching up to a later layer) or when files import each other in a circle. It is a
//! textual scan, standard library only: comments and literals are blanked, `#[cfg(test)] mod … { … }`
//! bodies skipped, `use` trees and inline `crate::`/`super::`/`self::` paths collected, resolved to an
//! absolute module path and mapped to the file that defines it. The unit tests at the bottom pin the
//! scanner's behaviour on small inputs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The intended layering of the top-level modules of `src/`, lowest first: a module may import only
/// itself and modules of a lower layer. The single source of truth; the reasoning is in
/// docs/architecture.md. `src/main.rs` and `src/lib.rs` may import anything and are not checked.
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
    ("observe", 9), // metrics and health
    ("plan", 10),   // the assembled, checked config
    ("app", 11),    // wiring: threads, reload, lifecycle, replay
];

/// Keys of `#[serde(key = "…")]` whose string names a function or type, i.e. a path into the crate.
const SERDE_PATH_KEYS: &[&str] = &[
    "default",
    "with",
    "serialize_with",
    "deserialize_with",
    "skip_serializing_if",
    "from",
    "try_from",
    "into",
];

type ModPath = Vec<String>;

/// One path found in a file: its 1-based line and its segments as written (`["super", "slot", "Delivery"]`).
type Ref = (usize, ModPath);

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Replaces comments and the contents of string and char literals with spaces, keeping newlines so line
/// numbers stay right. The one exception: a `#[serde(default = "crate::…")]`-style string keeps its path.
fn blank(src: &str) -> String {
    let c: Vec<char> = src.chars().collect();
    let at = |i: usize| c.get(i).copied().unwrap_or('\0');
    let sp = |ch: char| if ch == '\n' { '\n' } else { ' ' };
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < c.len() {
        let start = i;
        let ident_before = |k: usize| k > 0 && is_ident(c[k - 1]);
        let raw_prefix = at(i) == 'r' && (!ident_before(i) || (matches!(at(i - 1), 'b' | 'c') && !ident_before(i - 1)));
        if at(i) == '/' && at(i + 1) == '/' {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if at(i) == '/' && at(i + 1) == '*' {
            let mut depth = 0; // block comments nest in Rust
            while i < c.len() {
                if at(i) == '/' && at(i + 1) == '*' {
                    (depth, i) = (depth + 1, i + 2);
                } else if at(i) == '*' && at(i + 1) == '/' {
                    (depth, i) = (depth - 1, i + 2);
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if raw_prefix && matches!(at(i + 1), '#' | '"') {
            let hashes = (i + 1..c.len()).take_while(|&k| c[k] == '#').count();
            if at(i + 1 + hashes) != '"' {
                out.push('r'); // a raw identifier such as r#type
                i += 1;
                continue;
            }
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
                out.push(' ');
                out.push_str(&body);
                out.push(' ');
                continue;
            }
        } else if at(i) == '\'' && (at(i + 1) == '\\' || (at(i + 2) == '\'' && at(i + 1) != '\'')) {
            i += if at(i + 1) == '\\' { 3 } else { 2 }; // a char literal, not a lifetime
            while i < c.len() && c[i] != '\'' {
                i += 1;
            }
            i += 1;
        } else {
            out.push(c[i]);
            i += 1;
            continue;
        }
        out.extend(c[start..i.min(c.len())].iter().map(|&ch| sp(ch)));
    }
    out
}

/// Whether a string literal starting right after `out` is the value of a path-valued serde key.
fn serde_path_slot(out: &str) -> bool {
    let Some(before) = out.trim_end().strip_suffix('=') else {
        return false;
    };
    let before = before.trim_end();
    let key = &before[before.rfind(|ch: char| !is_ident(ch)).map_or(0, |k| k + 1)..];
    let attr = out.rfind("#[").map(|k| &out[k + 2..]);
    SERDE_PATH_KEYS.contains(&key) && attr.is_some_and(|a| a.trim_start().starts_with("serde") && !a.contains(']'))
}

/// Splits blanked text into tokens with their line: identifiers (a `$` prefix kept, so macro
/// metavariables such as `$module` or `$crate` never look like modules), `::`, and single characters.
fn tokens(text: &str) -> Vec<(String, usize)> {
    let c: Vec<char> = text.chars().collect();
    let (mut toks, mut line, mut i) = (Vec::new(), 1, 0);
    while i < c.len() {
        let start = i;
        if c[i] == '\n' {
            line += 1;
        } else if c[i] == '$' || is_ident(c[i]) {
            i += 1;
            while i < c.len() && is_ident(c[i]) {
                i += 1;
            }
            toks.push((c[start..i].iter().collect(), line));
            continue;
        } else if c[i] == ':' && c.get(i + 1) == Some(&':') {
            toks.push(("::".into(), line));
            i += 2;
            continue;
        } else if !c[i].is_whitespace() {
            toks.push((c[i].to_string(), line));
        }
        i += 1;
    }
    toks
}

/// Index just past the bracket group opening at `i` (`open` at `t[i]`).
fn skip_group(t: &[(String, usize)], mut i: usize, open: &str, close: &str) -> usize {
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

/// Parses one use tree at `t[*i]` below `prefix`, pushing every leaf path (a `self` in a group stands
/// for the group's prefix; a glob `*` for the prefix itself).
fn use_tree(t: &[(String, usize)], i: &mut usize, prefix: &[String], out: &mut Vec<Ref>) {
    let tok = |k: usize| t.get(k).map_or("", |x| x.0.as_str());
    let mut path = prefix.to_vec();
    if tok(*i) == "::" {
        path.push("::".into()); // `::name` is an external crate
        *i += 1;
    }
    loop {
        let (s, line) = (tok(*i), t.get(*i).map_or(0, |x| x.1));
        if s == "{" {
            *i += 1;
            while !matches!(tok(*i), "}" | ";" | "") {
                let before = *i;
                use_tree(t, i, &path, out);
                *i += (tok(*i) == "," || *i == before) as usize;
            }
            *i += (tok(*i) == "}") as usize;
            return;
        }
        if s == "*" {
            *i += 1;
            out.push((line, path));
            return;
        }
        if s.is_empty() || !s.chars().all(|ch| is_ident(ch) || ch == '$') {
            return;
        }
        if s != "self" || path.is_empty() {
            path.push(s.to_string());
        }
        *i += 1;
        if tok(*i) != "::" {
            *i += if tok(*i) == "as" { 2 } else { 0 };
            out.push((line, path));
            return;
        }
        *i += 1;
    }
}

/// All references of one file's source into the crate: `use` leaves starting with `crate`, `super`,
/// `self` or a child module declared with `mod name;` (or listed in `children`), and inline paths
/// starting with `crate::`, `super::` or `self::`. Bodies of `#[cfg(test)] mod name { … }` are skipped.
fn references(src: &str, children: &[&str]) -> Vec<Ref> {
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
            if tok(j) == "pub" {
                j += 1;
                j = if tok(j) == "(" { skip_group(&t, j, "(", ")") } else { j };
            }
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
        } else if matches!(s, "crate" | "super" | "self") && tok(i + 1) == "::" && tok(i - 1) != "::" {
            let in_vis = i >= 2 && tok(i - 1) == "in" && tok(i - 2) == "("; // pub(in crate::x)
            let (mut path, line) = (vec![s.to_string()], t[i].1);
            while tok(i + 1) == "::" && tok(i + 2).chars().next().is_some_and(|ch| is_ident(ch)) {
                path.push(tok(i + 2).to_string());
                i += 2;
            }
            if !in_vis {
                inline.push((line, path));
            }
        }
        i += 1;
    }
    mods.extend(children.iter().map(|s| s.to_string()));
    uses.retain(|(_, p): &Ref| matches!(p[0].as_str(), "crate" | "super" | "self") || mods.contains(&p[0]));
    uses.extend(inline);
    uses.sort();
    uses
}

/// The module path of a file given relative to `src/`: `a/b.rs` → `a::b`, `a/mod.rs` → `a`, `lib.rs` → root.
fn module_of(rel: &str) -> ModPath {
    let mut segs: ModPath = rel.trim_end_matches(".rs").split('/').map(String::from).collect();
    if matches!(segs.last().map(String::as_str), Some("mod" | "lib" | "main")) {
        segs.pop();
    }
    segs
}

/// The absolute module path (segments after `crate`) that `path`, written in module `module`, names;
/// None when it climbs above the crate root.
fn resolve(module: &[String], path: &[String]) -> Option<ModPath> {
    let mut abs = module.to_vec();
    let mut rest = path;
    match path[0].as_str() {
        "crate" => (abs.clear(), rest = &path[1..]).1,
        "self" => rest = &path[1..],
        _ => {} // `super` below, or a child module: module::child::…
    }
    while rest.first().is_some_and(|s| s == "super") {
        abs.pop()?;
        rest = &rest[1..];
    }
    abs.extend(rest.iter().cloned());
    Some(abs)
}

/// The file defining the longest prefix of `abs` that is a module file; None for the crate root.
fn file_of<'a>(files: &'a BTreeMap<ModPath, String>, abs: &[String]) -> Option<&'a String> {
    (1..=abs.len()).rev().find_map(|k| files.get(&abs[..k]))
}

/// Every `.rs` file under `dir`, as paths relative to `root`, with `/` separators.
fn rust_files(root: &Path, dir: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).expect("read src/") {
        let path = entry.expect("read src/ entry").path();
        if path.is_dir() {
            rust_files(root, &path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
            out.push(rel);
        }
    }
}

/// One edge between files of `src/`: from, to (both relative to `src/`), line, the path's top module.
struct Edge {
    from: String,
    to: String,
    line: usize,
    target: String,
}

/// Scans `src/` and returns every file-to-file edge (no self-edges, none into lib.rs or main.rs) and the
/// list of checked files (all but lib.rs and main.rs).
fn scan_src() -> (Vec<Edge>, Vec<String>) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut rels = Vec::new();
    rust_files(&src, &src, &mut rels);
    rels.retain(|r| r != "lib.rs" && r != "main.rs");
    rels.sort();
    let files: BTreeMap<ModPath, String> = rels.iter().map(|r| (module_of(r), r.clone())).collect();
    let mut edges = Vec::new();
    for rel in &rels {
        let module = module_of(rel);
        let children: Vec<&str> = files
            .keys()
            .filter(|m| m.len() == module.len() + 1 && m.starts_with(&module))
            .map(|m| m.last().unwrap().as_str())
            .collect();
        let text = std::fs::read_to_string(src.join(rel)).expect("read source file");
        for (line, path) in references(&text, &children) {
            let Some(abs) = resolve(&module, &path) else { continue };
            let Some(to) = file_of(&files, &abs).filter(|&to| to != rel) else {
                continue;
            };
            edges.push(Edge {
                from: rel.clone(),
                to: to.clone(),
                line,
                target: abs[0].clone(),
            });
        }
    }
    (edges, rels)
}

fn layer(module: &str) -> Option<u32> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|&(_, l)| l)
}

fn top(rel: &str) -> &str {
    rel.split(['/', '.']).next().unwrap()
}

fn fail_with(what: &str, violations: &[String]) {
    assert!(
        violations.is_empty(),
        "{} {what}:\n{}\n",
        violations.len(),
        violations.join("\n")
    );
}

#[test]
fn imports_respect_the_layers() {
    let (edges, rels) = scan_src();
    let mut violations = BTreeSet::new();
    for rel in &rels {
        if layer(top(rel)).is_none() {
            violations.insert(format!(
                "src/{}: top-level module {} is not in LAYERS (add it to LAYERS)",
                rel,
                top(rel)
            ));
        }
    }
    for e in &edges {
        let (from, to) = (top(&e.from), e.target.as_str());
        let (Some(lf), Some(lt)) = (layer(from), layer(to)) else {
            continue;
        };
        if from != to && lt >= lf {
            let how = if lt > lf { "later than" } else { "same layer as" };
            violations.insert(format!(
                "src/{}:{} imports crate::{to} (layer {lt}), {how} {from} (layer {lf})",
                e.from, e.line
            ));
        }
    }
    let mut v: Vec<String> = violations.into_iter().collect();
    v.sort_by_key(|s| {
        let (file, rest) = s.split_once(':').unwrap();
        (
            file.to_string(),
            rest.split(' ').next().unwrap().parse::<usize>().unwrap_or(0),
        )
    });
    fail_with("layering violations (see LAYERS)", &v);
}

#[test]
fn no_import_cycle_among_files() {
    let (edges, rels) = scan_src();
    let index: BTreeMap<&str, usize> = rels.iter().enumerate().map(|(k, r)| (r.as_str(), k)).collect();
    let mut adj = vec![BTreeSet::new(); rels.len()];
    for e in &edges {
        adj[index[e.from.as_str()]].insert(index[e.to.as_str()]);
    }
    let mut violations = Vec::new();
    for scc in tarjan(&adj).into_iter().filter(|c| c.len() > 1) {
        let inside: BTreeSet<&str> = scc.iter().map(|&k| rels[k].as_str()).collect();
        let names: Vec<String> = inside.iter().map(|r| format!("src/{r}")).collect();
        violations.push(format!(
            "import cycle among {} files: {}",
            inside.len(),
            names.join(", ")
        ));
        let mut lines: BTreeMap<(&str, &str), Vec<String>> = BTreeMap::new();
        for e in edges
            .iter()
            .filter(|e| inside.contains(e.from.as_str()) && inside.contains(e.to.as_str()))
        {
            let l = lines.entry((e.from.as_str(), e.to.as_str())).or_default();
            if !l.contains(&e.line.to_string()) {
                l.push(e.line.to_string());
            }
        }
        violations.extend(
            lines
                .iter()
                .map(|((from, to), l)| format!("    src/{from}:{} -> src/{to}", l.join(","))),
        );
    }
    fail_with(
        "lines describing file import cycles (break each by moving the shared item down)",
        &violations,
    );
}

/// Tarjan's strongly connected components of a graph given as adjacency sets.
fn tarjan(adj: &[BTreeSet<usize>]) -> Vec<Vec<usize>> {
    struct State<'a> {
        adj: &'a [BTreeSet<usize>],
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on_stack: Vec<bool>,
        stack: Vec<usize>,
        next: usize,
        out: Vec<Vec<usize>>,
    }
    fn visit(s: &mut State, v: usize) {
        (s.index[v], s.low[v], s.next) = (Some(s.next), s.next, s.next + 1);
        s.stack.push(v);
        s.on_stack[v] = true;
        for &w in s.adj[v].iter() {
            match s.index[w] {
                None => {
                    visit(s, w);
                    s.low[v] = s.low[v].min(s.low[w]);
                }
                Some(iw) if s.on_stack[w] => s.low[v] = s.low[v].min(iw),
                Some(_) => {}
            }
        }
        if Some(s.low[v]) == s.index[v] {
            let mut scc = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack[w] = false;
                scc.push(w);
                if w == v {
                    break;
                }
            }
            s.out.push(scc);
        }
    }
    let n = adj.len();
    let mut s = State {
        adj,
        index: vec![None; n],
        low: vec![0; n],
        on_stack: vec![false; n],
        stack: vec![],
        next: 0,
        out: vec![],
    };
    for v in 0..n {
        if s.index[v].is_none() {
            visit(&mut s, v);
        }
    }
    s.out
}

// ---- Unit tests of the scanner itself ----

/// `references` as `"line crate::a::b"` strings, for compact assertions.
fn refs(src: &str) -> Vec<String> {
    references(src, &[])
        .into_iter()
        .map(|(l, p)| format!("{l} {}", p.join("::")))
        .collect()
}

fn segs(path: &str) -> ModPath {
    path.split("::").map(String::from).collect()
}

#[test]
fn scanner_expands_nested_use_trees() {
    let src = "use crate::decode::{self, Frame, pipeline::{Stream, StreamSpec}};\n\
               pub(crate) use crate::infer::{\n    nms::*,\n    Detector as D,\n};\nuse std::sync::Arc;";
    let want = [
        "1 crate::decode",
        "1 crate::decode::Frame",
        "1 crate::decode::pipeline::Stream",
    ];
    let got = refs(src);
    assert!(want.iter().all(|w| got.contains(&w.to_string())), "{got:?}");
    assert!(
        got.contains(&"3 crate::infer::nms".into()) && got.contains(&"4 crate::infer::Detector".into()),
        "{got:?}"
    );
    assert_eq!(got.len(), 6, "{got:?}");
}

#[test]
fn scanner_ignores_comments_strings_chars_and_metavariables() {
    let src = "// crate::a\n/* crate::b /* nested */ crate::c */ /// [`crate::d`]\n//! super::e\n\
               let u = \"rtsp://host/\\\"x\"; use crate::real;\n\
               let r = r#\"crate::f // \"# ; let q = '\"'; fn f<'a>(x: &'a str) { crate::g::h(x) }\n\
               macro_rules! m { ($module:ident) => { $module::Config; $crate::x::Y } }\n\
               let s = \"crate::not::a::path\"; let b = br\"crate::z\"; let e = '\\'';";
    assert_eq!(refs(src), ["4 crate::real", "5 crate::g::h"]);
}

#[test]
fn scanner_reads_serde_path_attributes() {
    let src = "struct S {\n    #[serde(default = \"crate::config::de::unset\")]\n    a: u8,\n    \
               #[serde(rename = \"crate::x\")]\n    b: u8,\n}\nconst W: &str = \"crate::y\";";
    assert_eq!(refs(src), ["2 crate::config::de::unset"]);
}

#[test]
fn scanner_skips_cfg_test_inline_modules_but_not_their_files() {
    let src = "#[cfg(test)]\n#[allow(unused)]\nmod tests {\n    use crate::x;\n    fn f() { { crate::y(); } }\n}\n\
               use crate::after;\n#[cfg(test)]\npub(crate) mod testing;\nuse testing::Fixture;";
    assert_eq!(refs(src), ["7 crate::after", "10 testing::Fixture"]);
}

#[test]
fn scanner_follows_child_modules_in_use_only() {
    let src = "mod zone;\npub(crate) mod kinds;\nuse zone::Zone;\nuse std::fmt;\nuse kinds::fall::X;\n\
               fn f() { zone::Zone::new(); }\nuse blobs::B;\nuse other::O;";
    assert_eq!(refs(src), ["3 zone::Zone", "5 kinds::fall::X"]);
    let with_files: Vec<String> = references(src, &["blobs"])
        .into_iter()
        .map(|(_, p)| p.join("::"))
        .collect();
    assert!(with_files.contains(&"blobs::B".into()) && !with_files.contains(&"other::O".into()));
}

#[test]
fn resolution_of_super_self_and_children() {
    let leaf = module_of("decode/slot.rs");
    let dir = module_of("decode/mod.rs");
    assert_eq!(resolve(&leaf, &segs("super::Frame")), Some(segs("decode::Frame")));
    assert_eq!(resolve(&dir, &segs("super::infer::X")), Some(segs("infer::X")));
    assert_eq!(
        resolve(&module_of("app/replay/out.rs"), &segs("super::super::camera::C")),
        Some(segs("app::camera::C"))
    );
    assert_eq!(resolve(&dir, &segs("self::slot::S")), Some(segs("decode::slot::S")));
    assert_eq!(
        resolve(&dir, &segs("pipeline::Stream")),
        Some(segs("decode::pipeline::Stream"))
    );
    assert_eq!(resolve(&dir, &segs("crate::rules::Scope")), Some(segs("rules::Scope")));
    assert_eq!(resolve(&dir, &segs("super::super::x")), None);
}

#[test]
fn resolution_maps_to_the_longest_module_file() {
    let files: BTreeMap<ModPath, String> = ["rules/mod.rs", "rules/zone.rs", "decode/mod.rs"]
        .iter()
        .map(|r| (module_of(r), r.to_string()))
        .collect();
    assert_eq!(file_of(&files, &segs("rules::zone::Shape")).unwrap(), "rules/zone.rs");
    assert_eq!(file_of(&files, &segs("rules::Scope")).unwrap(), "rules/mod.rs");
    assert_eq!(file_of(&files, &segs("rules")).unwrap(), "rules/mod.rs");
    assert_eq!(file_of(&files, &segs("Thing")), None); // an item of lib.rs
}
