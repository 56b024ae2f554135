// oauth2-mock-server (npm) on 127.0.0.1, with a control API for the tests.
//
//   node oauth2_server.mjs <path to oauth2-mock-server/dist/index.mjs>
//
// Prints one JSON line {"url": "http://127.0.0.1:PORT"} when it listens. The token
// endpoint is POST /token (the package's own handler); /_control/ is ours:
//   GET  /_control/stats   {hits, requests: [{authorization, body}]}  (token requests as received)
//   POST /_control/config  {expires_in, fail_status, fail_body, delay_ms}  (null clears a setting)
//   POST /_control/reset   clears stats and config
import http from "node:http";
import { randomUUID } from "node:crypto";
import { pathToFileURL } from "node:url";

const { OAuth2Issuer, OAuth2Service } = await import(pathToFileURL(process.argv[2]).href);

const issuer = new OAuth2Issuer();
await issuer.keys.generate("RS256");
const service = new OAuth2Service(issuer);

let config = {};
let stats = { hits: 0, requests: [] };

service.on("beforeTokenSigning", (token) => {
  // Unique like a real issuer's tokens (the package's are identical within one second), so revoking one is exact.
  token.payload.jti = randomUUID();
  // Rounded up: the JWT must not expire before the expires_in the response announces.
  if (config.expires_in) token.payload.exp = Math.ceil(Date.now() / 1000) + config.expires_in;
});

service.on("beforeResponse", (response, req) => {
  stats.hits += 1;
  stats.requests.push({ authorization: req.headers.authorization ?? null, body: req.body });
  if (config.expires_in) response.body.expires_in = config.expires_in;
  if (config.fail_status) {
    response.statusCode = config.fail_status;
    response.body = { error: "server_error", error_description: config.fail_body ?? "failing on purpose" };
  }
});

function readJson(req) {
  return new Promise((resolve) => {
    let data = "";
    req.on("data", (chunk) => (data += chunk));
    req.on("end", () => resolve(data ? JSON.parse(data) : {}));
  });
}

async function control(req, res) {
  if (req.url === "/_control/stats") {
    res.writeHead(200, { "Content-Type": "application/json" });
    res.end(JSON.stringify(stats));
    return;
  }
  if (req.url === "/_control/config" && req.method === "POST") {
    config = { ...config, ...(await readJson(req)) };
  } else if (req.url === "/_control/reset" && req.method === "POST") {
    config = {};
    stats = { hits: 0, requests: [] };
  } else {
    res.writeHead(404);
    res.end();
    return;
  }
  res.writeHead(200, { "Content-Type": "application/json" });
  res.end(JSON.stringify(config));
}

const handler = service.requestHandler;
const server = http.createServer(async (req, res) => {
  if (req.url.startsWith("/_control/")) return control(req, res);
  if (req.url.startsWith("/token") && config.delay_ms) {
    await new Promise((resolve) => setTimeout(resolve, config.delay_ms));
  }
  handler(req, res);
});

server.listen(0, "127.0.0.1", () => {
  issuer.url = `http://127.0.0.1:${server.address().port}`;
  console.log(JSON.stringify({ url: issuer.url }));
});

for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => server.close(() => process.exit(0)));
