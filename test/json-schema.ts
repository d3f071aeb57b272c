/**
 * A JSON Schema checker for the keywords the SARIF 2.1.0 schema uses (type,
 * properties, required, additionalProperties, items, minItems, uniqueItems,
 * enum, minimum, pattern, anyOf, format uri/date-time, `#/definitions/…`
 * refs). Test-only: it says where a document breaks the schema.
 */
type Schema = Record<string, unknown>;

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function typeMatches(want: string, got: string): boolean {
  return want === got || (want === 'number' && got === 'integer');
}

/** Every violation of `schema` by `doc`, as `path: problem`. */
export function validate(root: Schema, doc: unknown): string[] {
  const resolveRef = (ref: string): Schema => {
    if (!ref.startsWith('#/')) throw new Error(`unsupported $ref ${ref}`);
    let node: unknown = root;
    for (const part of ref.slice(2).split('/')) node = (node as Schema)[part];
    return node as Schema;
  };
  const check = (schema: Schema, v: unknown, path: string, errors: string[]): void => {
    const recurse = (s: Schema, x: unknown, p: string): void => check(s, x, p, errors);
    if (typeof schema['$ref'] === 'string') recurse(resolveRef(schema['$ref']), v, path);
    const t = schema['type'];
    if (t !== undefined) {
      const types = Array.isArray(t) ? (t as string[]) : [t as string];
      if (!types.some((x) => typeMatches(x, typeOf(v)))) {
        errors.push(`${path}: type ${typeOf(v)}, want ${types.join('|')}`);
        return;
      }
    }
    if (Array.isArray(schema['enum']) && !schema['enum'].includes(v)) errors.push(`${path}: ${JSON.stringify(v)} not in enum`);
    if (typeof schema['minimum'] === 'number' && typeof v === 'number' && v < schema['minimum']) errors.push(`${path}: below minimum ${schema['minimum']}`);
    if (typeof schema['pattern'] === 'string' && typeof v === 'string' && !new RegExp(schema['pattern'], 'u').test(v)) errors.push(`${path}: does not match ${schema['pattern']}`);
    if (schema['format'] === 'uri' && typeof v === 'string' && !/^[A-Za-z][A-Za-z0-9+.-]*:/.test(v)) errors.push(`${path}: not a URI`);
    if (schema['format'] === 'date-time' && typeof v === 'string' && Number.isNaN(Date.parse(v))) errors.push(`${path}: not a date-time`);
    if (Array.isArray(schema['anyOf'])) {
      const ok = (schema['anyOf'] as Schema[]).some((s) => {
        const branch: string[] = [];
        check(s, v, path, branch);
        return branch.length === 0;
      });
      if (!ok) errors.push(`${path}: matches no anyOf branch`);
    }
    if (typeOf(v) === 'object') {
      const obj = v as Record<string, unknown>;
      for (const r of (schema['required'] as string[] | undefined) ?? []) if (!(r in obj)) errors.push(`${path}: missing ${r}`);
      const props = (schema['properties'] as Record<string, Schema> | undefined) ?? {};
      for (const [k, val] of Object.entries(obj)) {
        if (props[k]) recurse(props[k], val, `${path}.${k}`);
        else if (schema['additionalProperties'] === false) errors.push(`${path}: unexpected property ${k}`);
        else if (typeof schema['additionalProperties'] === 'object') recurse(schema['additionalProperties'] as Schema, val, `${path}.${k}`);
      }
    }
    if (Array.isArray(v)) {
      if (typeof schema['minItems'] === 'number' && v.length < schema['minItems']) errors.push(`${path}: fewer than ${schema['minItems']} items`);
      if (schema['uniqueItems'] === true && new Set(v.map((x) => JSON.stringify(x))).size !== v.length) errors.push(`${path}: items not unique`);
      if (typeof schema['items'] === 'object') v.forEach((x, i) => recurse(schema['items'] as Schema, x, `${path}[${i}]`));
    }
  };
  const errors: string[] = [];
  check(root, doc, '$', errors);
  return errors;
}
