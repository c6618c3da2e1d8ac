export * from './runtime-types';
export * from './image-types';
export { validate, assertValid, ValidationError, SCHEMA_KINDS, SCHEMA_DIR, formatErrors, jsonPointerToPath } from './validate';
export type { SchemaKind, ValidationResult } from './validate';
