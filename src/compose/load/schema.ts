// Each compose file, once interpolated, is checked against the Compose
// Specification's JSON schema (compose-spec.json, copied from
// compose-spec/compose-spec at 170098ba07d9f53c383a41bfd4c5166b0a4529a6,
// schema/compose-spec.json). The one error reported is the most specific, in
// compose-go's wording: "services.web additional properties 'foo' not allowed".
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import spec from './compose-spec.json' with { type: 'json' };
import { ComposeError, type Mapping } from './errors.ts';

let validator: ValidateFunction | undefined;

function compiled(): ValidateFunction {
  if (!validator) {
    // The schema says draft-07 by an https URL ajv does not know by that name; its content is draft-07.
    const { $schema: _ignored, ...schema } = spec as Record<string, unknown>;
    const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false });
    validator = ajv.compile(schema);
  }
  return validator;
}

function location(e: ErrorObject): string[] {
  return e.instancePath.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function humanType(t: unknown): string {
  const list = (Array.isArray(t) ? t : String(t).split(',')).map((x) => (x === 'object' ? 'mapping' : String(x)));
  if (list.length === 1) return list[0];
  list.sort();
  return `${list.slice(0, -1).join(', ')} or ${list[list.length - 1]}`;
}

function describe(e: ErrorObject): string {
  const path = location(e).join('.') || '(root)';
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'additionalProperties': return `${path} additional properties '${String(p.additionalProperty)}' not allowed`;
    case 'type': return `${path} must be a ${humanType(p.type)}`;
    case 'minimum': return `${path} must be greater than or equal to ${String(p.limit)}`;
    case 'maximum': return `${path} must be less than or equal to ${String(p.limit)}`;
    case 'enum': return `${path} value must be one of ${(p.allowedValues as unknown[]).map((v) => `'${String(v)}'`).join(', ')}`;
    case 'required': return `${path} missing property '${String(p.missingProperty)}'`;
    case 'pattern': return `${path} does not match pattern '${String(p.pattern)}'`;
    case 'uniqueItems': return `${path} array items[${String(p.j)},${String(p.i)}] must be unique`;
    case 'minItems': return `${path} minItems: must have at least ${String(p.limit)} items`;
    default: return `${path} ${e.message ?? 'is invalid'}`;
  }
}

/** The error compose would report: the deepest, an unknown key before a wrong type at the same depth. */
function mostSpecific(errors: ErrorObject[]): ErrorObject {
  let best = errors[0];
  let score = -1;
  for (const e of errors) {
    // oneOf/anyOf summaries say less than the branch errors beside them.
    if (e.keyword === 'oneOf' || e.keyword === 'anyOf' || e.keyword === 'if') continue;
    const s = location(e).length + (e.keyword === 'additionalProperties' ? 1 : 0);
    if (s > score) {
      best = e;
      score = s;
    }
  }
  return best;
}

export function validateSchema(model: Mapping, filename: string): void {
  const validate = compiled();
  if (validate(model)) return;
  const errors = validate.errors ?? [];
  if (errors.length === 0) throw new ComposeError(`validating ${filename}: invalid`);
  throw new ComposeError(`validating ${filename}: ${describe(mostSpecific(errors))}`);
}

// Compiled at load: in the CLI's startup snapshot that is at build time, and
// every compose command starts with the validator ready (compiling it costs
// ~200-400 ms per command otherwise).
compiled();
