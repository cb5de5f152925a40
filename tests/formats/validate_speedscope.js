// validate_speedscope.js FILE...: validate speedscope files against the
// file-format schema shipped in the speedscope npm package, with ajv.
// Prints one JSON line per file: {"file", "valid", "errors"}; exits 1 if
// any file is invalid.
'use strict';
const fs = require('fs');
const path = require('path');
const Ajv = require('ajv');

const schemaPath = path.join(path.dirname(require.resolve('speedscope/package.json')),
  'dist', 'release', 'file-format-schema.json');
const schema = JSON.parse(fs.readFileSync(schemaPath, 'utf8'));
const ajv = new Ajv({ allErrors: true, strict: false });
const validate = ajv.compile(schema);
let bad = 0;
for (const file of process.argv.slice(2)) {
  let data, valid, errors = null;
  try {
    data = JSON.parse(fs.readFileSync(file, 'utf8'));
    valid = validate(data);
    errors = validate.errors;
  } catch (e) {
    valid = false;
    errors = [String(e)];
  }
  if (!valid) bad++;
  console.log(JSON.stringify({ file, schema: schemaPath, valid, errors }));
}
process.exit(bad ? 1 : 0);
