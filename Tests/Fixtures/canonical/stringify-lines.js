"use strict";
// Reads base64 lines from the file in argv[2]; for each prints base64(JSON.stringify(JSON.parse(text)))
// where text is the line's bytes decoded as UTF-8, or "ERR" when JSON.parse throws.
const fs = require("fs");

const lines = fs.readFileSync(process.argv[2], "utf8").split("\n").slice(0, -1);
const answers = lines.map((line) => {
  try {
    const text = Buffer.from(line, "base64").toString("utf8");
    return Buffer.from(JSON.stringify(JSON.parse(text)), "utf8").toString("base64");
  } catch {
    return "ERR";
  }
});
process.stdout.write(answers.map((answer) => answer + "\n").join(""));
