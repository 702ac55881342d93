// The GraphQL-over-HTTP audit of the `graphql-http` package against a running server:
//   NODE_PATH=<dir with node_modules/graphql-http> node audit.cjs http://127.0.0.1:8000/graphql
// Prints one line per check (ok; notice = a MAY, warn = a SHOULD, error = a MUST not met) and
// exits 1 when a MUST or a SHOULD is not met.
const { auditServer } = require('graphql-http');

async function main() {
  const url = process.argv[2];
  if (!url) {
    console.error('usage: node audit.cjs URL');
    process.exit(2);
  }
  const results = await auditServer({ url });
  let failed = 0;
  for (const result of results) {
    console.log(`${result.status}\t${result.id}\t${result.name}`);
    if (result.status !== 'ok') {
      if (result.status === 'warn' || result.status === 'error') {
        failed += 1;
      }
      console.log(`\t${result.reason}`);
      if (result.response) {
        const body = await result.response.text().catch(() => '');
        console.log(`\t${result.response.status} ${result.response.headers.get('content-type')} ${body.slice(0, 300)}`);
      }
    }
  }
  const count = (status) => results.filter((r) => r.status === status).length;
  console.log(
    `${results.length} checks: ${count('ok')} ok, ${count('error')} MUST and ${count('warn')} SHOULD failures, ${count('notice')} MAY notices`,
  );
  process.exit(failed ? 1 : 0);
}

main().catch((err) => {
  console.error(err);
  process.exit(2);
});
