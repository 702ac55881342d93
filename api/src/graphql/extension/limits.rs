//! Bounds on a document's shape, checked before async-graphql looks at the document.
//!
//! async-graphql walks fragment spreads by expanding them — in its recursion-depth check right
//! after parsing, and again in validation, where its depth and complexity limits run. A 2 KB
//! document of fragments that each spread the next one twice expands to a billion fields before
//! any of those limits is reached. Here every fragment is measured once and its measure reused
//! wherever it is spread, so the check is linear in the document's size however large its
//! expansion would be; it parses the document itself and runs before async-graphql's parse
//! step, whose own walk would already be exponential. The `/graphql` handler checks each
//! request's document; a socket checks each `subscribe` message's before async-graphql gets it.

use service::ErrorCode;
use std::collections::HashMap;

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{ErrorExtensionValues, ServerError};

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Fields after expanding every fragment.
    pub max_fields: u64,
    pub max_depth: u64,
    pub max_aliases: u64,
    pub max_directives: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_fields: 5_000,
            max_depth: 15,
            max_aliases: 100,
            max_directives: 50,
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Measure {
    fields: u64,
    depth: u64,
    aliases: u64,
    directives: u64,
}

impl Measure {
    fn beside(self, other: Measure) -> Measure {
        Measure {
            fields: self.fields.saturating_add(other.fields),
            depth: self.depth.max(other.depth),
            aliases: self.aliases.saturating_add(other.aliases),
            directives: self.directives.saturating_add(other.directives),
        }
    }
}

struct Measurer<'a> {
    document: &'a ExecutableDocument,
    done: HashMap<&'a str, Measure>,
    visiting: Vec<&'a str>,
}

impl<'a> Measurer<'a> {
    fn set(&mut self, set: &'a SelectionSet) -> Measure {
        let mut total = Measure::default();
        for item in &set.items {
            let measure = match &item.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    let inner = self.set(&field.selection_set.node);
                    Measure {
                        fields: inner.fields.saturating_add(1),
                        depth: inner.depth + 1,
                        aliases: inner.aliases + u64::from(field.alias.is_some()),
                        directives: inner.directives + field.directives.len() as u64,
                    }
                }
                Selection::InlineFragment(fragment) => {
                    let inner = self.set(&fragment.node.selection_set.node);
                    Measure {
                        directives: inner.directives + fragment.node.directives.len() as u64,
                        ..inner
                    }
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    let inner = self.fragment(name);
                    Measure {
                        directives: inner.directives + spread.node.directives.len() as u64,
                        ..inner
                    }
                }
            };
            total = total.beside(measure);
        }
        total
    }

    fn fragment(&mut self, name: &'a str) -> Measure {
        if let Some(done) = self.done.get(name) {
            return *done;
        }
        // A cycle: validation reports it; it adds nothing here.
        if self.visiting.contains(&name) {
            return Measure::default();
        }
        let Some(definition) = self.document.fragments.get(name) else {
            return Measure::default();
        };
        self.visiting.push(name);
        let measure = self.set(&definition.node.selection_set.node);
        self.visiting.pop();
        self.done.insert(name, measure);
        measure
    }
}

fn refusal(code: ErrorCode, message: String) -> ServerError {
    let mut error = ServerError::new(message, None);
    let mut extensions = ErrorExtensionValues::default();
    extensions.set("code", code.as_str());
    error.extensions = Some(extensions);
    error
}

/// Checks every operation of the document against the limits.
pub fn check(document: &ExecutableDocument, limits: &Limits) -> Result<(), ServerError> {
    let mut measurer = Measurer {
        document,
        done: HashMap::new(),
        visiting: Vec::new(),
    };
    for (_, operation) in document.operations.iter() {
        let m = measurer.set(&operation.node.selection_set.node);
        let checks = [
            (
                ErrorCode::DepthLimit,
                m.depth,
                limits.max_depth,
                "levels of nesting",
            ),
            (
                ErrorCode::ComplexityLimit,
                m.fields,
                limits.max_fields,
                "fields once its fragments are expanded",
            ),
            (
                ErrorCode::AliasLimit,
                m.aliases,
                limits.max_aliases,
                "aliases",
            ),
            (
                ErrorCode::DirectiveLimit,
                m.directives,
                limits.max_directives,
                "directives",
            ),
        ];
        for (code, found, limit, what) in checks {
            if found > limit {
                return Err(refusal(
                    code,
                    format!("the query has {found} {what}; the limit is {limit}"),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measure(query: &str) -> Result<(), String> {
        let document = async_graphql::parser::parse_query(query).expect("parses");
        check(&document, &Limits::default()).map_err(|e| {
            e.extensions
                .and_then(|ext| ext.get("code").cloned())
                .map(|code| code.to_string())
                .unwrap_or_default()
        })
    }

    /// `f0` spreads `f1` twice, `f1` spreads `f2` twice, ...: 2^n fields once expanded.
    fn fragment_bomb(levels: usize) -> String {
        let mut query = String::from("query { ...f0 }\n");
        for level in 0..levels {
            query.push_str(&format!(
                "fragment f{level} on Query {{ ...f{next} ...f{next} }}\n",
                next = level + 1
            ));
        }
        query.push_str(&format!(
            "fragment f{levels} on Query {{ serverInfo {{ version }} }}\n"
        ));
        query
    }

    #[test]
    fn an_exponential_fragment_chain_is_refused_without_expanding_it() {
        let bomb = fragment_bomb(30);
        assert!(bomb.len() < 2048, "{} bytes", bomb.len());
        let started = std::time::Instant::now();
        assert_eq!(measure(&bomb), Err("\"COMPLEXITY_LIMIT\"".into()));
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn ordinary_queries_pass_and_each_limit_has_its_code() {
        assert_eq!(measure("{ serverInfo { version } }"), Ok(()));
        let deep = format!(
            "{{ {}version{} }}",
            "serverInfo { ".repeat(16),
            " }".repeat(16)
        );
        assert_eq!(measure(&deep), Err("\"DEPTH_LIMIT\"".into()));
        let aliases: String = (0..101)
            .map(|i| format!("a{i}: serverInfo {{ version }} "))
            .collect();
        assert_eq!(
            measure(&format!("{{ {aliases} }}")),
            Err("\"ALIAS_LIMIT\"".into())
        );
        let directives = "@include(if: true) ".repeat(51);
        assert_eq!(
            measure(&format!("{{ serverInfo {{ version {directives} }} }}")),
            Err("\"DIRECTIVE_LIMIT\"".into())
        );
    }
}
