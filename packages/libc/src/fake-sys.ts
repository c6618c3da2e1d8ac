import type { Sys } from './sys';
import { SysError, errnoNumber } from './errors';

export interface RecordedCall {
  name: keyof Sys;
  args: unknown[];
}

type Responder = (...args: any[]) => unknown;

/**
 * A recording fake of the syscall layer for unit tests: every call is appended to `calls`;
 * `respond` sets what a method returns (a function of its arguments) and `fail` makes it throw
 * the SysError the real layer would. Unconfigured methods return 0 (or void).
 */
export class FakeSys {
  readonly calls: RecordedCall[] = [];
  private responders = new Map<string, Responder>();
  readonly sys: Sys;

  constructor() {
    this.sys = new Proxy({} as Sys, {
      get: (_t, prop: string) => (...args: unknown[]) => {
        this.calls.push({ name: prop as keyof Sys, args });
        const r = this.responders.get(prop);
        return r ? r(...args) : 0;
      },
    });
  }

  respond<K extends keyof Sys>(name: K, fn: Responder): this {
    this.responders.set(name, fn);
    return this;
  }

  fail<K extends keyof Sys>(name: K, code: string, when: (...args: any[]) => boolean = () => true): this {
    const prev = this.responders.get(name);
    return this.respond(name, (...args: unknown[]) => {
      if (when(...args)) throw new SysError(String(name), String(args[1] ?? args[0] ?? ''), errnoNumber(code));
      return prev ? prev(...args) : 0;
    });
  }

  named(name: keyof Sys): unknown[][] {
    return this.calls.filter((c) => c.name === name).map((c) => c.args);
  }
}
