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
/// cursors, the `nodes` shortcut and `pageInfo`, plus any extra fields given after the cursor
/// function (e.g. `totalCount`, which the caller counts only when it is selected); `new` takes
/// their values after the page.
macro_rules! connection {
    (
        $(#[$doc:meta])* $connection:ident, $edge:ident, $node:ident, $model:ty, $position:path
        $(, $(#[$extra_doc:meta])* $extra:ident: $extra_ty:ty)* $(,)?
    ) => {
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
            $($(#[$extra_doc])* pub $extra: $extra_ty,)*
        }

        impl $connection {
            pub fn new(page: service::page::Page<$model> $(, $extra: $extra_ty)*) -> Self {
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
                    $($extra,)*
                }
            }
        }
    };
}

pub(crate) use connection;
