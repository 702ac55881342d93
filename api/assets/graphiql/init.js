// Starts GraphiQL on the page helpdesk serves at GET /graphql. A file of its own because the
// page's Content-Security-Policy allows scripts from this server only, never inline ones.
(function () {
  "use strict";

  var httpUrl = location.origin + "/graphql";
  // Same origin, so the page's `connect-src 'self'` covers it (ws: for http:, wss: for https:).
  var subscriptionUrl =
    (location.protocol === "https:" ? "wss:" : "ws:") + "//" + location.host + "/graphql/ws";

  // Subscriptions carry the token in `connection_init`, not in a header: take it from the
  // Headers pane, like the HTTP requests do, so one pane serves both.
  function fetcher(params, options) {
    var headers = (options && options.headers) || {};
    var authorization = headers.Authorization || headers.authorization;
    return GraphiQL.createFetcher({
      url: httpUrl,
      subscriptionUrl: subscriptionUrl,
      wsConnectionParams: authorization ? { authorization: authorization } : {},
    })(params, options);
  }

  // A link may carry the initial editors in its fragment: /graphql#query=...&variables=...
  // (not in the query string: GET /graphql?query=... runs the query and answers JSON).
  var initial = new URLSearchParams(location.hash.slice(1));
  var props = { fetcher: fetcher, defaultEditorToolsVisibility: true };
  ["query", "variables", "operationName"].forEach(function (name) {
    if (initial.has(name)) props[name] = initial.get(name);
  });

  var styleNonce = document.querySelector('meta[name="style-nonce"]');
  if (styleNonce) {
    // Read by the dialogs' scroll lock (react-remove-scroll), which adds a <style> element.
    window.__webpack_nonce__ = styleNonce.content;
  }

  ReactDOM.createRoot(document.getElementById("graphiql")).render(
    React.createElement(GraphiQL, props)
  );
})();
