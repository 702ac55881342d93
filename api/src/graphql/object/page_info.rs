use async_graphql::SimpleObject;

/// Where a page sits in the whole list (Relay cursor connections).
#[derive(SimpleObject, Clone, Debug, Default)]
pub struct PageInfo {
    pub has_next_page: bool,
    pub has_previous_page: bool,
    pub start_cursor: Option<String>,
    pub end_cursor: Option<String>,
}

/// A Relay connection type and its edge type over a page of service rows: `edges` with
/// cursors, the `nodes` shortcut and `pageInfo`.
macro_rules! connection {
    // With `totalCount`: the caller counts (one COUNT statement) only when it is selected.
    (counted $(#[$doc:meta])* $connection:ident, $edge:ident, $node:ident, $model:ty, $position:path) => {
        #[derive(async_graphql::SimpleObject, Clone)]
        pub struct $edge {
            pub cursor: String,
            pub node: $node,
        }

        $(#[$doc])*
        #[derive(async_graphql::SimpleObject, Clone)]
        pub struct $connection {
            pub edges: Vec<$edge>,
            /// The nodes of `edges`, without cursors.
            pub nodes: Vec<$node>,
            pub page_info: $crate::graphql::object::page_info::PageInfo,
            /// How many match in all.
            pub total_count: u64,
        }

        impl $connection {
            pub fn new(page: service::page::Page<$model>, total_count: u64) -> Self {
                let edges: Vec<$edge> = page
                    .items
                    .into_iter()
                    .map(|row| $edge {
                        cursor: $crate::graphql::id::cursor(&$position(&row)),
                        node: $node(row),
                    })
                    .collect();
                Self {
                    page_info: $crate::graphql::object::page_info::PageInfo {
                        has_next_page: page.has_next_page,
                        has_previous_page: page.has_previous_page,
                        start_cursor: edges.first().map(|e| e.cursor.clone()),
                        end_cursor: edges.last().map(|e| e.cursor.clone()),
                    },
                    nodes: edges.iter().map(|e| e.node.clone()).collect(),
                    edges,
                    total_count,
                }
            }
        }
    };
    ($(#[$doc:meta])* $connection:ident, $edge:ident, $node:ident, $model:ty, $position:path) => {
        #[derive(async_graphql::SimpleObject, Clone)]
        pub struct $edge {
            pub cursor: String,
            pub node: $node,
        }

        $(#[$doc])*
        #[derive(async_graphql::SimpleObject, Clone)]
        pub struct $connection {
            pub edges: Vec<$edge>,
            /// The nodes of `edges`, without cursors.
            pub nodes: Vec<$node>,
            pub page_info: $crate::graphql::object::page_info::PageInfo,
        }

        impl $connection {
            pub fn new(page: service::page::Page<$model>) -> Self {
                let edges: Vec<$edge> = page
                    .items
                    .into_iter()
                    .map(|row| $edge {
                        cursor: $crate::graphql::id::cursor(&$position(&row)),
                        node: $node(row),
                    })
                    .collect();
                Self {
                    page_info: $crate::graphql::object::page_info::PageInfo {
                        has_next_page: page.has_next_page,
                        has_previous_page: page.has_previous_page,
                        start_cursor: edges.first().map(|e| e.cursor.clone()),
                        end_cursor: edges.last().map(|e| e.cursor.clone()),
                    },
                    nodes: edges.iter().map(|e| e.node.clone()).collect(),
                    edges,
                }
            }
        }
    };
}

pub(crate) use connection;
