use async_graphql::SimpleObject;

/// Where a page sits in the whole list (Relay cursor connections).
#[derive(SimpleObject, Clone, Debug, Default)]
pub struct PageInfo {
    /// More items follow this page: pass `endCursor` as `after` to get them.
    pub has_next_page: bool,
    /// Items come before this page.
    pub has_previous_page: bool,
    /// The cursor of the page's first item; null when the page is empty.
    pub start_cursor: Option<String>,
    /// The cursor of the page's last item, to pass as `after` for the next page; null when the
    /// page is empty.
    pub end_cursor: Option<String>,
}

/// A page of a list read whole, for a connection's `first` and `after` arguments (see
/// [`service::page::slice`]), and how many rows the whole list has.
pub fn slice<T>(
    rows: Vec<T>,
    first: i32,
    after: Option<&str>,
    kind: service::page::KeyKind,
    sort: service::page::Sort,
    position: impl Fn(&T) -> service::page::Position,
) -> async_graphql::Result<(service::page::Page<T>, u64)> {
    let after = after
        .map(|cursor| crate::graphql::id::parse_cursor(cursor, "after"))
        .transpose()
        .map_err(crate::graphql::error::gql)?;
    service::page::slice(rows, first, after.as_ref(), kind, sort, position)
        .map_err(crate::graphql::error::gql)
}

/// A Relay connection type and its edge type over a page of service rows: `edges` with
/// cursors, the `nodes` shortcut and `pageInfo`, plus any extra fields given after the cursor
/// function (e.g. `totalCount`, which the caller counts only when it is selected); `new` takes
/// their values after the page. Cursors are written only for the fields that show them, and
/// `nodes` are the page's rows themselves, not copies. The edge type and the fixed fields get
/// descriptions generated from the type names.
macro_rules! connection {
    (
        $(#[$doc:meta])* $connection:ident, $edge:ident, $node:ident, $model:ty, $position:path
        $(, $(#[$extra_doc:meta])* $extra:ident: $extra_ty:ty)* $(,)?
    ) => {
        #[doc = concat!(
            "One `", stringify!($node), "` of a `", stringify!($connection),
            "` page, with its cursor."
        )]
        #[derive(async_graphql::SimpleObject, Clone)]
        pub struct $edge {
            /// This item's opaque position: pass it as `after` (or `before`, where offered) to
            /// page from here.
            pub cursor: String,
            #[doc = concat!("The `", stringify!($node), "` at this position.")]
            pub node: $node,
        }

        #[derive(Clone)]
        pub struct $connection {
            rows: Vec<$node>,
            has_next_page: bool,
            has_previous_page: bool,
            $(pub $extra: $extra_ty,)*
        }

        impl $connection {
            pub fn new(page: service::page::Page<$model> $(, $extra: $extra_ty)*) -> Self {
                Self {
                    rows: page.items.into_iter().map(|row| $node(row.into())).collect(),
                    has_next_page: page.has_next_page,
                    has_previous_page: page.has_previous_page,
                    $($extra,)*
                }
            }

            fn cursor(node: &$node) -> String {
                $crate::graphql::id::cursor(&$position(&node.0))
            }
        }

        $(#[$doc])*
        #[async_graphql::Object]
        impl $connection {
            #[doc = concat!("The page's items, each with its cursor (`", stringify!($edge), "`).")]
            async fn edges(&self) -> Vec<$edge> {
                self.rows
                    .iter()
                    .map(|node| $edge {
                        cursor: Self::cursor(node),
                        node: node.clone(),
                    })
                    .collect()
            }

            /// The nodes of `edges`, without cursors.
            async fn nodes(&self) -> &[$node] {
                &self.rows
            }

            /// Where this page sits in the whole list, and the cursors to page on.
            async fn page_info(&self) -> $crate::graphql::object::page_info::PageInfo {
                $crate::graphql::object::page_info::PageInfo {
                    has_next_page: self.has_next_page,
                    has_previous_page: self.has_previous_page,
                    start_cursor: self.rows.first().map(Self::cursor),
                    end_cursor: self.rows.last().map(Self::cursor),
                }
            }

            $(
                $(#[$extra_doc])*
                async fn $extra(&self) -> &$extra_ty {
                    &self.$extra
                }
            )*
        }
    };
}

pub(crate) use connection;
