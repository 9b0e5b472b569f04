"use strict";
// Reads lines "base64(secret) base64(body) base64(header)" from the file in argv[2] and prints
// "valid" or "invalid" for each, as the documented Express receiver would decide.
const fs = require("fs");
const { verifyExpressBody } = require("./spec-signature.js");

const decode = (text) => Buffer.from(text, "base64");
const lines = fs.readFileSync(process.argv[2], "utf8").split("\n").slice(0, -1);
const answers = lines.map((line) => {
  const [secret, body, header] = line.split(" ").map(decode);
  return verifyExpressBody(body, header.toString("utf8"), secret.toString("utf8")) ? "valid" : "invalid";
});
process.stdout.write(answers.map((answer) => answer + "\n").join(""));
