export * from './runtime-types';
export * from './image-types';
