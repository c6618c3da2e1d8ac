/**
 * A small CRI client (runtime.v1 over gRPC on a unix socket), as the kubelet talks to a container
 * runtime: RuntimeService and ImageService calls from cri-api.proto, each with a deadline, errors
 * turned into Errors that carry the gRPC code and containerd's message.
 */
import * as path from 'path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { REPO } from './helpers';

// The .proto is read from the source tree: tsc does not copy it to dist/.
const PROTO = path.join(REPO, 'packages/ts-runc/test/e2e/cri-api.proto');

export class CriError extends Error {
  constructor(readonly method: string, readonly code: grpc.status, readonly details: string) {
    super(`${method}: ${grpc.status[code]} (${code}): ${details}`);
  }
}

type Unary = (req: object, meta: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: any) => void) => void;

export class CriClient {
  private readonly runtimeSvc: grpc.Client;
  private readonly imageSvc: grpc.Client;

  constructor(socket: string) {
    const def = protoLoader.loadSync(PROTO, {
      keepCase: true, // field names as in the proto (snake_case), as crictl prints them
      longs: Number, // int64 timestamps lose a few ns: only compared with 0 and each other
      enums: String,
      defaults: true, // an absent field reads as its zero value, as in Go
    });
    const pkg = grpc.loadPackageDefinition(def) as any;
    const target = `unix://${socket}`;
    this.runtimeSvc = new pkg.runtime.v1.RuntimeService(target, grpc.credentials.createInsecure());
    this.imageSvc = new pkg.runtime.v1.ImageService(target, grpc.credentials.createInsecure());
  }

  /** A RuntimeService call; the deadline is generous (a loaded host makes calls slow, not wrong). */
  runtime(method: string, req: object = {}, timeoutMs = 120000): Promise<any> {
    return call(this.runtimeSvc, method, req, timeoutMs);
  }

  image(method: string, req: object = {}, timeoutMs = 60000): Promise<any> {
    return call(this.imageSvc, method, req, timeoutMs);
  }

  close(): void {
    this.runtimeSvc.close();
    this.imageSvc.close();
  }
}

function call(svc: grpc.Client, method: string, req: object, timeoutMs: number): Promise<any> {
  const fn = (svc as unknown as Record<string, Unary>)[method];
  if (typeof fn !== 'function') throw new Error(`no CRI method ${method} in ${PROTO}`);
  return new Promise((resolve, reject) => {
    fn.call(svc, req, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => {
      if (err) reject(new CriError(method, err.code, err.details));
      else resolve(res);
    });
  });
}
