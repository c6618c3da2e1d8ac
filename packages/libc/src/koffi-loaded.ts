/**
 * Whether koffi's native module is loaded in this process, without loading it. Its exit handler
 * (an atexit of its own C++ runtime) fsyncs stdout and stderr: a CLI that ends through exit(3)
 * with either on a regular file pays a journal commit for it (see exit-group.ts).
 */
export const koffiLoad = { done: false };
