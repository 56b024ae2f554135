// An agent in another language: Node.js calling the sidecar with nothing but protos/.
//
//   npm ci --prefix examples/node
//   node examples/node/client.mjs [TARGET]   # default: $CUSTOM_API_SIDECAR, else the default socket
//
// It calls health, ListApis, DescribeApi and Invoke against examples/apis.yaml, then shows how
// a failure's typed error comes back: the `custom-api-error-bin` trailer holds an ErrorDetail.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';

const here = path.dirname(fileURLToPath(import.meta.url));
const protos = path.resolve(here, '..', '..', 'protos');
const target = process.argv[2] || process.env.CUSTOM_API_SIDECAR || 'unix:///tmp/custom-api-sidecar.sock';

const definition = protoLoader.loadSync(
  [path.join(protos, 'custom_api_sidecar/v1/sidecar.proto'), path.join(here, 'health.proto')],
  { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true },
);
const loaded = grpc.loadPackageDefinition(definition);
const v1 = loaded.custom_api_sidecar.v1;
const ErrorDetail = definition['custom_api_sidecar.v1.ErrorDetail'];

const credentials = grpc.credentials.createInsecure();
const sidecar = new v1.CustomApiSidecar(target, credentials);
const health = new loaded.grpc.health.v1.Health(target, credentials);
const deadline = () => new Date(Date.now() + 5000);

const call = (client, method, request) =>
  new Promise((resolve, reject) =>
    client[method](request, { deadline: deadline() }, (err, reply) => (err ? reject(err) : resolve(reply))),
  );

// Arguments are typed protobuf Values: one oneof field per kind.
const value = (v) =>
  typeof v === 'string' ? { string_value: v }
    : Number.isInteger(v) ? { int_value: v }
    : typeof v === 'number' ? { double_value: v }
    : typeof v === 'boolean' ? { bool_value: v }
    : { null_value: true };
const keywords = (obj) => Object.entries(obj).map(([key, v]) => ({ key, value: value(v) }));

function errorDetail(err) {
  const [raw] = err.metadata?.get('custom-api-error-bin') ?? [];
  return raw ? ErrorDetail.deserialize(raw) : null;
}

async function main() {
  const status = await call(health, 'Check', { service: '' });
  console.log(`health: ${status.status}`);

  const list = await call(sidecar, 'ListApis', {});
  console.log(`apis (${list.environment}): ${list.apis.map((a) => `${a.name}[${a.operations.join(',')}]`).join(' ')}`);

  const described = await call(sidecar, 'DescribeApi', { api: 'salesforce' });
  const op = described.api.operations.find((o) => o.name === 'get_contact');
  console.log(`describe: salesforce.get_contact ${op.method} ${op.path} params=${op.parameters.map((p) => p.name).join(',')}`);

  // A path value, positional: conv.api.salesforce.get_contact("123")
  let r = await call(sidecar, 'Invoke', { api: 'salesforce', operation: 'get_contact', positional: [value('123')] });
  console.log(`get_contact positional: ${r.status_code} ${JSON.parse(r.body.toString()).email}`);

  // The same by keyword: get_contact(contact_id="123")
  r = await call(sidecar, 'Invoke', { api: 'salesforce', operation: 'get_contact', keywords: keywords({ contact_id: '123' }) });
  console.log(`get_contact keyword: ${r.status_code} ${JSON.parse(r.body.toString()).id}`);

  // Query parameters by keyword, with an integer: search_contacts(query="ada", limit=2)
  r = await call(sidecar, 'Invoke', { api: 'salesforce', operation: 'search_contacts', keywords: keywords({ query: 'ada', limit: 2 }) });
  console.log(`search_contacts: ${r.status_code} ${r.url}`);

  // A JSON body: create_payment(json={"amount": 100, "currency": "usd"})
  r = await call(sidecar, 'Invoke', {
    api: 'stripe',
    operation: 'create_payment',
    json: Buffer.from(JSON.stringify({ amount: 100, currency: 'usd' })),
  });
  console.log(`create_payment: ${r.status_code} ${r.body.toString()}`);

  // A failure with no upstream response: a gRPC status plus an ErrorDetail trailer.
  try {
    await call(sidecar, 'Invoke', { api: 'salesforce', operation: 'get_contacts', positional: [value('123')] });
  } catch (err) {
    const detail = errorDetail(err);
    console.log(`error: grpc ${grpc.status[err.code]} ${detail.code}: ${detail.message} suggestions=${detail.suggestions.join(',')}`);
  }
  sidecar.close();
  health.close();
}

main().catch((err) => {
  console.error(`node client failed: ${err.message}`);
  process.exit(1);
});
