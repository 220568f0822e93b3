import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from '../helpers/tmp.js';

/**
 * Validates an event against the vendored OCSF 1.5.0 definitions (test/fixtures/ocsf): the class
 * by class_uid; every attribute defined for that class, its declared profiles or, inside an
 * object, that object; required attributes present; data types, arrays and enum ids as defined;
 * type_uid = class_uid * 100 + activity_id; class/category/activity captions as published.
 * Returns the problems found, as "path: what" strings (empty when the event conforms).
 */

interface AttrDef {
  type: string;
  required?: boolean;
  array?: boolean;
  enum?: number[];
}
interface ClassDef {
  uid: number;
  name?: string;
  category_uid: number;
  category_name?: string;
  activity_id: Record<string, string>;
  attributes: Record<string, AttrDef>;
}
interface Subset {
  version: string;
  common_attributes: Record<string, AttrDef>;
  classes: Record<string, ClassDef>;
  profiles: Record<string, Record<string, AttrDef>>;
  objects: Record<string, Record<string, AttrDef>>;
}

export const OCSF: Subset = JSON.parse(readFileSync(join(REPO, 'test/fixtures/ocsf/ocsf-1.5.0-subset.json'), 'utf8'));

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkValue(path: string, def: AttrDef, value: unknown, problems: string[]): void {
  if (def.array) {
    if (!Array.isArray(value)) {
      problems.push(`${path}: must be an array`);
      return;
    }
    value.forEach((v, i) => checkValue(`${path}[${i}]`, { ...def, array: false }, v, problems));
    return;
  }
  if (def.type === 'string') {
    if (typeof value !== 'string') problems.push(`${path}: must be a string, is ${JSON.stringify(value)}`);
  } else if (def.type === 'integer') {
    if (typeof value !== 'number' || !Number.isInteger(value)) problems.push(`${path}: must be an integer, is ${JSON.stringify(value)}`);
    else if (def.enum && !def.enum.includes(value)) problems.push(`${path}: ${value} is not one of ${def.enum.join(', ')}`);
  } else if (def.type === 'boolean') {
    if (typeof value !== 'boolean') problems.push(`${path}: must be a boolean`);
  } else if (def.type === 'json') {
    if (!isObj(value)) problems.push(`${path}: must be an object`);
  } else if (def.type.startsWith('object:')) {
    const name = def.type.slice('object:'.length);
    const obj = OCSF.objects[name];
    if (!obj) problems.push(`${path}: object ${name} is outside the vendored OCSF subset`);
    else if (!isObj(value)) problems.push(`${path}: must be a ${name} object`);
    else checkObject(path, obj, value, problems);
  } else problems.push(`${path}: unknown type ${def.type} in the subset`);
}

function checkObject(path: string, defs: Record<string, AttrDef>, value: Record<string, unknown>, problems: string[]): void {
  for (const [k, d] of Object.entries(defs)) if (d.required && !(k in value)) problems.push(`${path}.${k}: required`);
  for (const [k, v] of Object.entries(value)) {
    const d = defs[k];
    if (!d) problems.push(`${path}.${k}: not an attribute here`);
    else if (v === null) problems.push(`${path}.${k}: null (omit the attribute instead)`);
    else checkValue(`${path}.${k}`, d, v, problems);
  }
}

export function validateOcsf(event: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const cls = Object.values(OCSF.classes).find((c) => c.uid === event.class_uid);
  if (!cls) return [`class_uid ${String(event.class_uid)} is not one of the exported classes`];
  const defs: Record<string, AttrDef> = { ...OCSF.common_attributes, ...cls.attributes };
  const profiles = (isObj(event.metadata) && Array.isArray(event.metadata.profiles) ? event.metadata.profiles : []) as string[];
  for (const p of profiles) {
    const attrs = OCSF.profiles[p];
    if (!attrs) problems.push(`metadata.profiles: ${p} is not a profile in the subset`);
    else for (const [k, d] of Object.entries(attrs)) defs[k] ??= d;
  }
  checkObject('event', defs, event, problems);
  const activity = event.activity_id as number;
  if (!(String(activity) in cls.activity_id)) problems.push(`event.activity_id: ${activity} is not an activity of class ${cls.uid}`);
  if (event.category_uid !== cls.category_uid) problems.push(`event.category_uid: ${String(event.category_uid)}, class ${cls.uid} is in category ${cls.category_uid}`);
  if (event.type_uid !== cls.uid * 100 + activity) problems.push(`event.type_uid: ${String(event.type_uid)} is not class_uid * 100 + activity_id`);
  if (cls.name !== undefined && event.class_name !== undefined && event.class_name !== cls.name) problems.push(`event.class_name: ${String(event.class_name)}, published as ${cls.name}`);
  if (cls.category_name !== undefined && event.category_name !== undefined && event.category_name !== cls.category_name) problems.push(`event.category_name: ${String(event.category_name)}`);
  if (activity !== 99 && event.activity_name !== undefined && event.activity_name !== cls.activity_id[String(activity)]) problems.push(`event.activity_name: ${String(event.activity_name)}, published as ${cls.activity_id[String(activity)]}`);
  return problems;
}
