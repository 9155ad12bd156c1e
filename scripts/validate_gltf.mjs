#!/usr/bin/env node
// Runs the Khronos glTF-Validator (npm package `gltf-validator`) on .glb / .gltf files and prints,
// as one JSON array, each file's error / warning / info / hint counts and its messages.
//
//   node scripts/validate_gltf.mjs OUT.glb [MORE.gltf ...]
//
// The package is looked up in $GLTF_VALIDATOR_MODULES, then .tools/node_modules of the repository
// (where scripts/setup.sh installs it), then node's usual places. Exit status: 0 when no file has
// an error, 1 when one has, 2 when the package or a file cannot be read.
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const SEVERITY = ["error", "warning", "info", "hint"];

function loadValidator() {
  const places = [process.env.GLTF_VALIDATOR_MODULES, path.join(here, "..", ".tools", "node_modules")]
    .filter(Boolean);
  try {
    return require(require.resolve("gltf-validator", { paths: [...places, ...(require.resolve.paths("gltf-validator") || [])] }));
  } catch (e) {
    console.error(`validate_gltf: cannot load the npm package gltf-validator (looked in ${places.join(", ")})`);
    process.exit(2);
  }
}

async function validate(validator, file) {
  const bytes = new Uint8Array(await readFile(file));
  const report = await validator.validateBytes(bytes, {
    uri: path.basename(file),
    maxIssues: 0, // every issue
    externalResourceFunction: (uri) => readFile(path.resolve(path.dirname(file), decodeURIComponent(uri)))
      .then((data) => new Uint8Array(data)),
  });
  const issues = report.issues;
  return {
    file,
    errors: issues.numErrors,
    warnings: issues.numWarnings,
    infos: issues.numInfos,
    hints: issues.numHints,
    messages: issues.messages.map((m) => ({ severity: SEVERITY[m.severity] ?? String(m.severity), code: m.code,
                                             message: m.message, pointer: m.pointer ?? null })),
  };
}

const files = process.argv.slice(2);
if (!files.length) {
  console.error("usage: node scripts/validate_gltf.mjs FILE.glb|FILE.gltf [...]");
  process.exit(2);
}
const validator = loadValidator();
const out = [];
for (const file of files) {
  try {
    out.push(await validate(validator, file));
  } catch (e) {
    console.error(`validate_gltf: ${file}: ${e}`);
    process.exit(2);
  }
}
console.log(JSON.stringify(out, null, 2));
process.exit(out.some((r) => r.errors > 0) ? 1 : 0);
