export * from './runtime-types';
export * from './image-types';
export { validate, provideValidator, assertValid, ValidationError, SCHEMA_KINDS, SCHEMA_DIR, formatErrors, jsonPointerToPath, loadedKinds, PATTERN_MESSAGES } from './validate';
export type { SchemaKind, ValidationResult } from './validate';
