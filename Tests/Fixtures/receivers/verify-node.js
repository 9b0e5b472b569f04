"use strict";
// A webhook receiver that verifies like the documented Express example: the body is JSON.parse'd and the
// signature is checked against JSON.stringify of the result.
//
//   node verify-node.js SECRET        (or QR3_SECRET=... node verify-node.js)
//
// Listens on 127.0.0.1 on a free port and prints "LISTENING <port>", then one JSON line per request:
// {"valid":true|false,"event_id":<X-QR3-Event-Id or null>,"body":<raw body>}. Answers 200 when the
// X-QR3-Signature header verifies and 400 otherwise. Exits with status 0 on SIGTERM or SIGINT.
const http = require("http");
const { verifyExpressBody } = require("./spec-signature.js");

const secret = process.argv[2] ?? process.env.QR3_SECRET;
if (!secret) {
  process.stderr.write("usage: verify-node.js SECRET (or set QR3_SECRET)\n");
  process.exit(2);
}

const server = http.createServer((request, response) => {
  const chunks = [];
  request.on("data", (chunk) => chunks.push(chunk));
  request.on("end", () => {
    const rawBody = Buffer.concat(chunks);
    const valid = verifyExpressBody(rawBody, request.headers["x-qr3-signature"], secret);
    const record = { valid, event_id: request.headers["x-qr3-event-id"] ?? null, body: rawBody.toString("utf8") };
    process.stdout.write(JSON.stringify(record) + "\n");
    const answer = valid ? "ok\n" : "invalid signature\n";
    response.writeHead(valid ? 200 : 400, { "Content-Type": "text/plain", "Content-Length": Buffer.byteLength(answer) });
    response.end(answer);
  });
});

server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`LISTENING ${server.address().port}\n`);
});

for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    server.close();
    process.exit(0);
  });
}
