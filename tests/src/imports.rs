//! Which module of a crate uses which, read from its sources, and the circles among them.
//!
//! A module is a file (`services/steps.rs` is `services::steps`). It uses another when one of its
//! paths names something there: `crate::`, `super::`, `self::` and child-module paths, in `use`
//! trees (groups expanded) and in code. A path to an item a module re-exports (`pub use`) counts
//! as a use of the module that defines it, so a crate root that re-exports its API is not in
//! every circle. Test code (`#[cfg(test)]` items and the files they load) is left out: tests may
//! reach anywhere. Comments, strings and character literals are skipped before paths are read.
//!
//! This reads Rust the way this repository writes it (no `#[path]`, no macros defining modules);
//! it is a check for this repository, not a Rust parser.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

/// A module's path inside its crate: `[]` for the root, `["services", "steps"]`.
pub type ModulePath = Vec<String>;

/// One use of another module: from where, and the line that says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Use {
    pub to: ModulePath,
    pub file: PathBuf,
    pub line: usize,
}

/// The modules of one crate and their uses of each other.
#[derive(Debug, Default)]
pub struct ModuleGraph {
    /// Each module's file, relative to the source directory.
    pub files: BTreeMap<ModulePath, PathBuf>,
    pub uses: BTreeMap<ModulePath, Vec<Use>>,
}

/// A set of modules each of which reaches every other through uses, with the uses that tie them
/// (the first of each pair of modules), for the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Circle {
    pub modules: Vec<ModulePath>,
    pub uses: Vec<(ModulePath, Use)>,
}

impl fmt::Display for Circle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = self.modules.iter().map(|m| name(m)).collect();
        writeln!(f, "circle of {} modules: {}", names.len(), names.join(", "))?;
        for (from, with) in &self.uses {
            writeln!(
                f,
                "  {} -> {}  ({}:{})",
                name(from),
                name(&with.to),
                with.file.display(),
                with.line
            )?;
        }
        Ok(())
    }
}

/// `services::steps`, or `crate` for the root.
pub fn name(module: &[String]) -> String {
    if module.is_empty() {
        "crate".to_owned()
    } else {
        module.join("::")
    }
}

impl ModuleGraph {
    /// Reads the crate whose root file is `src/<root>` (`lib.rs` or `main.rs`).
    pub fn read(src: &Path, root: &str) -> std::io::Result<ModuleGraph> {
        let mut parsed = BTreeMap::new();
        let mut files = BTreeMap::new();
        let mut pending = vec![(ModulePath::new(), PathBuf::from(root))];
        while let Some((module, file)) = pending.pop() {
            let text = fs::read_to_string(src.join(&file))?;
            let source = Source::parse(&text);
            // `foo.rs` and `foo/mod.rs` keep their children in `foo/`; the root, beside itself.
            let dir = if module.is_empty() || file.ends_with("mod.rs") {
                file.parent().unwrap_or(Path::new("")).to_owned()
            } else {
                file.with_extension("")
            };
            for child in &source.children {
                let mut path = module.clone();
                path.push(child.clone());
                let flat = dir.join(format!("{child}.rs"));
                let nested = dir.join(child).join("mod.rs");
                let child_file = if src.join(&flat).exists() {
                    flat
                } else {
                    nested
                };
                pending.push((path, child_file));
            }
            files.insert(module.clone(), file);
            parsed.insert(module, source);
        }
        let mut graph = ModuleGraph {
            files,
            uses: BTreeMap::new(),
        };
        for (module, source) in &parsed {
            let mut uses = Vec::new();
            for (path, line) in &source.paths {
                if let Some(to) = resolve(&parsed, module, path, 0) {
                    if &to != module {
                        uses.push(Use {
                            to,
                            file: graph.files[module].clone(),
                            line: *line,
                        });
                    }
                }
            }
            graph.uses.insert(module.clone(), uses);
        }
        Ok(graph)
    }

    /// Every circle (strongly connected set of more than one module), largest first.
    pub fn circles(&self) -> Vec<Circle> {
        let modules: Vec<&ModulePath> = self.files.keys().collect();
        let index: BTreeMap<&ModulePath, usize> =
            modules.iter().enumerate().map(|(i, m)| (*m, i)).collect();
        let edges: Vec<BTreeSet<usize>> = modules
            .iter()
            .map(|m| self.uses[*m].iter().map(|u| index[&u.to]).collect())
            .collect();
        let mut circles: Vec<Circle> = strongly_connected(&edges)
            .into_iter()
            .filter(|set| set.len() > 1)
            .map(|set| self.circle_through(&modules, &edges, &set))
            .collect();
        circles.sort_by_key(|c| std::cmp::Reverse(c.modules.len()));
        circles
    }

    /// The set, with the first use of each module pair inside it.
    fn circle_through(
        &self,
        modules: &[&ModulePath],
        edges: &[BTreeSet<usize>],
        set: &BTreeSet<usize>,
    ) -> Circle {
        let mut uses = Vec::new();
        for &from in set {
            for &to in edges[from].intersection(set) {
                let with = self.uses[modules[from]]
                    .iter()
                    .find(|u| &u.to == modules[to])
                    .expect("an edge has a use");
                uses.push((modules[from].clone(), with.clone()));
            }
        }
        Circle {
            modules: set.iter().map(|&i| modules[i].clone()).collect(),
            uses,
        }
    }
}

/// Tarjan's algorithm, iteratively: each strongly connected set of node indices.
fn strongly_connected(edges: &[BTreeSet<usize>]) -> Vec<BTreeSet<usize>> {
    let count = edges.len();
    let mut order = vec![usize::MAX; count];
    let mut low = vec![0; count];
    let mut on_stack = vec![false; count];
    let mut stack = Vec::new();
    let mut sets = Vec::new();
    let mut next_order = 0;
    for root in 0..count {
        if order[root] != usize::MAX {
            continue;
        }
        let mut work: Vec<(usize, Vec<usize>)> = vec![(root, Vec::new())];
        order[root] = next_order;
        low[root] = next_order;
        next_order += 1;
        stack.push(root);
        on_stack[root] = true;
        work.last_mut().unwrap().1 = edges[root].iter().copied().rev().collect();
        while let Some((node, todo)) = work.last_mut() {
            let node = *node;
            if let Some(next) = todo.pop() {
                if order[next] == usize::MAX {
                    order[next] = next_order;
                    low[next] = next_order;
                    next_order += 1;
                    stack.push(next);
                    on_stack[next] = true;
                    work.push((next, edges[next].iter().copied().rev().collect()));
                } else if on_stack[next] {
                    low[node] = low[node].min(order[next]);
                }
                continue;
            }
            work.pop();
            if let Some((parent, _)) = work.last() {
                low[*parent] = low[*parent].min(low[node]);
            }
            if low[node] == order[node] {
                let mut set = BTreeSet::new();
                while let Some(member) = stack.pop() {
                    on_stack[member] = false;
                    set.insert(member);
                    if member == node {
                        break;
                    }
                }
                sets.push(set);
            }
        }
    }
    sets
}

/// The module `path`, written in `module`, names; `None` for another crate's.
fn resolve(
    parsed: &BTreeMap<ModulePath, Source>,
    module: &ModulePath,
    path: &[String],
    depth: usize,
) -> Option<ModulePath> {
    let (mut base, rest) = match path.first()?.as_str() {
        "crate" => (ModulePath::new(), &path[1..]),
        "self" => (module.clone(), &path[1..]),
        "super" => {
            let mut base = module.clone();
            let mut rest = path;
            while rest.first().map(String::as_str) == Some("super") {
                base.pop();
                rest = &rest[1..];
            }
            (base, rest)
        }
        first if parsed[module].children.contains(first) => (module.clone(), path),
        _ => return None,
    };
    let mut rest = rest;
    while let Some(segment) = rest.first() {
        let mut deeper = base.clone();
        deeper.push(segment.clone());
        if !parsed.contains_key(&deeper) {
            break;
        }
        base = deeper;
        rest = &rest[1..];
    }
    // An item the module re-exports belongs to the module that defines it.
    let (Some(item), true) = (rest.first(), depth < 8) else {
        return Some(base);
    };
    let source = &parsed[&base];
    if let Some(target) = source.reexports.get(item) {
        return resolve(parsed, &base, target, depth + 1).or(Some(base));
    }
    if !source.defines.contains(item) {
        for glob in &source.globs {
            let mut target = glob.clone();
            target.push(item.clone());
            if let Some(found) = resolve(parsed, &base, &target, depth + 1) {
                let there = &parsed[&found];
                if found != base
                    && (there.defines.contains(item) || there.reexports.contains_key(item))
                {
                    return Some(found);
                }
            }
        }
    }
    Some(base)
}

/// What one file says about modules: its child modules, the paths it names (with their line),
/// the items it re-exports (name -> the path it names) or re-exports whole modules of (`pub use
/// x::*`), and the names it defines.
#[derive(Debug, Default)]
struct Source {
    children: BTreeSet<String>,
    paths: Vec<(Vec<String>, usize)>,
    reexports: BTreeMap<String, Vec<String>>,
    globs: Vec<Vec<String>>,
    defines: BTreeSet<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    PathSep,
    Punct(char),
}

impl Source {
    fn parse(text: &str) -> Source {
        let tokens = without_test_items(lex(text));
        let mut source = Source::default();
        // Brace depth, and the depths at which inline modules' bodies are (`mod facts { .. }`):
        // their `super::` is the file's module.
        let mut depth = 0;
        let mut inline = Vec::new();
        let mut i = 0;
        while i < tokens.len() {
            match &tokens[i].0 {
                Token::Word(word) if word == "mod" => {
                    match (tokens.get(i + 1), tokens.get(i + 2)) {
                        (Some((Token::Word(name), _)), Some((Token::Punct(';'), _))) => {
                            source.children.insert(name.clone());
                        }
                        (Some((Token::Word(_), _)), Some((Token::Punct('{'), _))) => {
                            depth += 1;
                            inline.push(depth);
                            i += 2;
                        }
                        _ => {}
                    }
                    i += 1;
                }
                Token::Punct('{') => {
                    depth += 1;
                    i += 1;
                }
                Token::Punct('}') => {
                    if inline.last() == Some(&depth) {
                        inline.pop();
                    }
                    depth -= 1;
                    i += 1;
                }
                Token::Word(word) if word == "use" => {
                    let public = i > 0 && is_visibility_end(&tokens[..i]);
                    let mut trees = Vec::new();
                    i = use_tree(&tokens, i + 1, Vec::new(), &mut trees);
                    for (path, alias, line) in trees {
                        match alias.as_deref() {
                            Some("*") if public => source.globs.push(path.clone()),
                            Some("*") => {}
                            _ if public => {
                                let name = alias.unwrap_or_else(|| path.last().unwrap().clone());
                                source.reexports.insert(name, path.clone());
                            }
                            _ => {}
                        }
                        source.paths.push((out_of_inline(path, inline.len()), line));
                    }
                }
                Token::Word(word) if ITEM_KEYWORDS.contains(&word.as_str()) => {
                    if let Some((Token::Word(name), _)) = tokens.get(i + 1) {
                        source.defines.insert(name.clone());
                    }
                    i += 1;
                }
                Token::Word(_) => {
                    let line = tokens[i].1;
                    let mut path = Vec::new();
                    while let Some((Token::Word(word), _)) = tokens.get(i) {
                        path.push(word.clone());
                        if tokens.get(i + 1).map(|t| &t.0) == Some(&Token::PathSep) {
                            i += 2;
                        } else {
                            i += 1;
                            break;
                        }
                    }
                    if path.len() > 1 {
                        source.paths.push((out_of_inline(path, inline.len()), line));
                    }
                }
                _ => i += 1,
            }
        }
        source
    }
}

/// `path` as the file's module would write it, when it is written `levels` inline modules deep.
fn out_of_inline(mut path: Vec<String>, levels: usize) -> Vec<String> {
    for _ in 0..levels {
        match path.first().map(String::as_str) {
            Some("super") if path.get(1).map(String::as_str) == Some("super") => {
                path.remove(0);
            }
            Some("super") => path[0] = "self".to_owned(),
            _ => break,
        }
    }
    path
}

/// The keywords that define a named item (a `fn` inside an `impl` counts too: harmless here).
const ITEM_KEYWORDS: &[&str] = &[
    "struct", "enum", "union", "trait", "fn", "const", "static", "type",
];

/// Whether the tokens before a `use` end with `pub`, `pub(crate)` or `pub(super)`.
fn is_visibility_end(before: &[(Token, usize)]) -> bool {
    match before.last().map(|t| &t.0) {
        Some(Token::Word(word)) => word == "pub",
        Some(Token::Punct(')')) => {
            before.len() >= 4 && before[before.len() - 4].0 == Token::Word("pub".into())
        }
        _ => false,
    }
}

/// Reads one use tree from `at`, each leaf path (with its `as` name) into `out`; returns the
/// index after it (past the `;` at the top level).
fn use_tree(
    tokens: &[(Token, usize)],
    mut at: usize,
    prefix: Vec<String>,
    out: &mut Vec<(Vec<String>, Option<String>, usize)>,
) -> usize {
    let mut path = prefix;
    let line = tokens.get(at).map_or(0, |t| t.1);
    loop {
        match tokens.get(at).map(|t| &t.0) {
            Some(Token::Word(word)) if word == "as" => {
                if let Some((Token::Word(alias), _)) = tokens.get(at + 1) {
                    out.push((path.clone(), Some(alias.clone()), line));
                }
                return skip_to_separator(tokens, at + 2);
            }
            Some(Token::Word(word)) => {
                // `self` inside a group names the group's own path.
                if word != "self" || path.is_empty() {
                    path.push(word.clone());
                }
                at += 1;
            }
            Some(Token::PathSep) => at += 1,
            Some(Token::Punct('{')) => {
                at += 1;
                loop {
                    match tokens.get(at).map(|t| &t.0) {
                        Some(Token::Punct('}')) => return skip_to_separator(tokens, at + 1),
                        Some(Token::Punct(',')) => at += 1,
                        None => return at,
                        _ => at = use_tree(tokens, at, path.clone(), out),
                    }
                }
            }
            Some(Token::Punct('*')) => {
                out.push((path, Some("*".to_owned()), line));
                return skip_to_separator(tokens, at + 1);
            }
            _ => {
                if !path.is_empty() {
                    out.push((path, None, line));
                }
                return if tokens.get(at).map(|t| &t.0) == Some(&Token::Punct(';')) {
                    at + 1
                } else {
                    at
                };
            }
        }
    }
}

/// Past a `;` (the end of a `use`), or at a `,` or `}` (the end of one tree in a group).
fn skip_to_separator(tokens: &[(Token, usize)], at: usize) -> usize {
    match tokens.get(at).map(|t| &t.0) {
        Some(Token::Punct(';')) => at + 1,
        _ => at,
    }
}

/// The tokens without every item marked `#[cfg(test)]` (up to its `;` or its closing brace).
fn without_test_items(tokens: Vec<(Token, usize)>) -> Vec<(Token, usize)> {
    let marker: Vec<Token> = ["#", "[", "cfg", "(", "test", ")", "]"]
        .iter()
        .map(|t| match *t {
            "cfg" | "test" => Token::Word((*t).to_owned()),
            p => Token::Punct(p.chars().next().unwrap()),
        })
        .collect();
    let mut kept = Vec::with_capacity(tokens.len());
    let mut i = 0;
    while i < tokens.len() {
        let is_marker = tokens.len() >= i + marker.len()
            && tokens[i..i + marker.len()]
                .iter()
                .zip(&marker)
                .all(|(t, m)| &t.0 == m);
        if !is_marker {
            kept.push(tokens[i].clone());
            i += 1;
            continue;
        }
        i += marker.len();
        let mut depth = 0usize;
        while i < tokens.len() {
            match tokens[i].0 {
                Token::Punct('{') => depth += 1,
                Token::Punct('}') => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        i += 1;
                        break;
                    }
                }
                Token::Punct(';') if depth == 0 => {
                    i += 1;
                    break;
                }
                _ => {}
            }
            i += 1;
        }
    }
    kept
}

/// Words (identifiers and keywords), `::`, and single punctuation, each with its line; comments,
/// strings, character literals, lifetimes, numbers and macro variables (`$crate`) dropped.
fn lex(text: &str) -> Vec<(Token, usize)> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut line = 1;
    let mut i = 0;
    let newlines = |from: usize, to: usize| chars[from..to].iter().filter(|c| **c == '\n').count();
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        if c == '/' && chars.get(i + 1) == Some(&'/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && chars.get(i + 1) == Some(&'*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c == '"' {
            i = past_string(&chars, i + 1);
        } else if (c == 'r' || c == 'b') && raw_string_start(&chars, i).is_some() {
            let (hashes, quote) = raw_string_start(&chars, i).unwrap();
            i = quote + 1;
            while i < chars.len() {
                let closes =
                    chars.len() > i + hashes && chars[i + 1..=i + hashes].iter().all(|h| *h == '#');
                if chars[i] == '"' && closes {
                    i += 1 + hashes;
                    break;
                }
                i += 1;
            }
        } else if c == 'b' && chars.get(i + 1) == Some(&'"') {
            i = past_string(&chars, i + 2);
        } else if c == '\'' {
            // A character literal ('x', '\n', '\u{..}') or a lifetime ('a).
            if chars.get(i + 1) == Some(&'\\') {
                i += 2;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if chars.get(i + 2) == Some(&'\'') {
                i += 3;
            } else {
                i += 1;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
            }
        } else if c == '$' {
            // A macro's `$crate::...` or `$name`: resolved where the macro is used, not here.
            i += 1;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
        } else if c.is_alphabetic() || c == '_' {
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let word = word.strip_prefix("r#").map(str::to_owned).unwrap_or(word);
            tokens.push((Token::Word(word), line));
        } else if c.is_ascii_digit() {
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            tokens.push((Token::PathSep, line));
            i += 2;
        } else {
            if !c.is_whitespace() {
                tokens.push((Token::Punct(c), line));
            }
            i += 1;
        }
        line += newlines(start, i.min(chars.len()));
    }
    tokens
}

/// The index after a string's closing quote, from just after its opening one.
fn past_string(chars: &[char], mut i: usize) -> usize {
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 2,
            '"' => return i + 1,
            _ => i += 1,
        }
    }
    i
}

/// For `r"`, `r#"`, `br#"`...: the number of `#` and the index of the opening quote.
fn raw_string_start(chars: &[char], i: usize) -> Option<(usize, usize)> {
    let mut at = i;
    if chars.get(at) == Some(&'b') {
        at += 1;
    }
    if chars.get(at) != Some(&'r') {
        return None;
    }
    // Not the end of an identifier such as `for` or `bar`.
    if i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_') {
        return None;
    }
    at += 1;
    let mut hashes = 0;
    while chars.get(at) == Some(&'#') {
        hashes += 1;
        at += 1;
    }
    (chars.get(at) == Some(&'"')).then_some((hashes, at))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A crate in a temporary directory: (relative path, text) per file.
    fn crate_of(files: &[(&str, &str)]) -> (tempfile::TempDir, ModuleGraph) {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let path = dir.path().join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text).unwrap();
        }
        let graph = ModuleGraph::read(dir.path(), "lib.rs").unwrap();
        (dir, graph)
    }

    fn names(circle: &Circle) -> Vec<String> {
        circle.modules.iter().map(|m| name(m)).collect()
    }

    #[test]
    fn a_use_each_way_is_a_circle_naming_its_lines() {
        let (_dir, graph) = crate_of(&[
            ("lib.rs", "mod a;\nmod b;\n"),
            ("a.rs", "use crate::b::Thing;\n"),
            ("b.rs", "\nfn f() { crate::a::g() }\n"),
        ]);
        let circles = graph.circles();
        assert_eq!(circles.len(), 1);
        assert_eq!(names(&circles[0]), ["a", "b"]);
        let text = circles[0].to_string();
        assert!(text.contains("a -> b  (a.rs:1)"), "{text}");
        assert!(text.contains("b -> a  (b.rs:2)"), "{text}");
    }

    #[test]
    fn groups_nested_modules_and_super_are_followed() {
        let (_dir, graph) = crate_of(&[
            ("lib.rs", "mod a;\nmod b;\n"),
            ("a.rs", "use crate::{b::{c::X, self}};\n"),
            ("b/mod.rs", "mod c;\n"),
            ("b/c.rs", "fn f() { super::super::a::g(); }\n"),
        ]);
        let circles = graph.circles();
        assert_eq!(circles.len(), 1);
        assert_eq!(names(&circles[0]), ["a", "b::c"]);
    }

    #[test]
    fn a_reexport_is_a_use_of_the_defining_module() {
        let (_dir, graph) = crate_of(&[
            ("lib.rs", "mod a;\nmod b;\npub use a::Thing;\n"),
            ("a.rs", "pub struct Thing;\n"),
            ("b.rs", "use crate::Thing;\n"),
        ]);
        assert!(graph.circles().is_empty());
        assert_eq!(
            graph.uses[&vec!["b".to_owned()]][0].to,
            vec!["a".to_owned()]
        );
    }

    #[test]
    fn a_glob_reexport_is_followed_to_the_defining_module() {
        let (_dir, graph) = crate_of(&[
            ("lib.rs", "pub mod s;\n"),
            (
                "s/mod.rs",
                "mod base;\nmod x;\npub use base::*;\npub use x::*;\n",
            ),
            ("s/base.rs", "pub trait Service {}\n"),
            ("s/x.rs", "use super::Service;\npub struct X;\n"),
        ]);
        assert!(graph.circles().is_empty(), "{:?}", graph.uses);
        let x = vec!["s".to_owned(), "x".to_owned()];
        assert_eq!(
            graph.uses[&x][0].to,
            vec!["s".to_owned(), "base".to_owned()]
        );
        // Without the definition in base, `Service` would be the parent's: a circle.
        let (_dir, graph) = crate_of(&[
            ("lib.rs", "pub mod s;\n"),
            ("s/mod.rs", "mod x;\npub use x::*;\npub trait Service {}\n"),
            ("s/x.rs", "use super::Service;\npub struct X;\n"),
        ]);
        assert_eq!(names(&graph.circles()[0]), ["s", "s::x"]);
    }

    #[test]
    fn super_in_an_inline_module_is_the_file_module() {
        let (_dir, graph) = crate_of(&[
            ("lib.rs", "mod a;\nmod b;\n"),
            (
                "a.rs",
                "pub struct K;\npub mod facts { use super::K; }\nuse crate::b::X;\n",
            ),
            ("b.rs", "pub struct X;\n"),
        ]);
        assert!(graph.circles().is_empty(), "{:?}", graph.uses);
        let (_dir, graph) = crate_of(&[
            ("lib.rs", "mod a;\nmod b;\n"),
            ("a.rs", "pub mod facts { use super::super::b::X; }\n"),
            ("b.rs", "use crate::a::Y;\n"),
        ]);
        assert_eq!(names(&graph.circles()[0]), ["a", "b"]);
    }

    #[test]
    fn tests_comments_and_strings_are_not_uses() {
        let (_dir, graph) = crate_of(&[
            ("lib.rs", "mod a;\nmod b;\n"),
            (
                "a.rs",
                "// crate::b::x\n/* crate::b::y */ const S: &str = \"crate::b::z\";\n\
                 const R: &str = r#\"crate::b::\"#; fn f<'a>(c: char) -> bool { c == '\"' }\n\
                 #[cfg(test)]\nmod tests { use crate::b::T; }\n#[cfg(test)]\nmod more;\n",
            ),
            ("a/more.rs", "use crate::b::U;\n"),
            ("b.rs", "use crate::a::V;\n"),
        ]);
        assert!(graph.circles().is_empty(), "{:?}", graph.uses);
    }

    #[test]
    fn a_parent_and_a_child_using_each_other_are_a_circle() {
        let (_dir, graph) = crate_of(&[
            ("lib.rs", "mod s;\n"),
            (
                "s/mod.rs",
                "mod x;\nfn d() { x::serve() }\npub struct Ctx;\n",
            ),
            ("s/x.rs", "use super::Ctx;\n"),
        ]);
        assert_eq!(names(&graph.circles()[0]), ["s", "s::x"]);
    }
}
