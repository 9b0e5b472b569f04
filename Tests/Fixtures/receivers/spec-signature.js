"use strict";
// The receiver example from SPEC.md, verbatim apart from the TypeScript type annotations.
const crypto = require("crypto");

function verifySignature(payload, signature, secret) {
  const expected = crypto.createHmac("sha256", secret).update(payload).digest("hex");
  const received = signature.replace("sha256=", "");
  return crypto.timingSafeEqual(Buffer.from(expected, "hex"), Buffer.from(received, "hex"));
}

// What an Express app does: `req.body` is JSON.parse of the UTF-8 body, then the example verifies
// JSON.stringify(req.body). A body that does not parse, or a signature of the wrong length (which
// makes timingSafeEqual throw), counts as invalid.
function verifyExpressBody(rawBody, signature, secret) {
  try {
    const body = JSON.parse(rawBody.toString("utf8"));
    return verifySignature(JSON.stringify(body), String(signature ?? ""), secret);
  } catch {
    return false;
  }
}

module.exports = { verifySignature, verifyExpressBody };
