export const VERSION = '0.1.0';
export const SPEC = '1.2.0';
