// The audit consumer's preparing thread (preparer.ts): reads, checks, canonicalises and encodes the
// values of a slice (prepare.ts), and hands the bytes back without a copy. The caller gives each
// batch's buffer back once it has written the batch, and the next batch is prepared into it.
import { parentPort } from 'node:worker_threads';
import { BufferPool, prepareValues } from './prepare.js';

type Request =
  | {
      id: number;
      bytes: Uint8Array;
      /** Where each value ends in `bytes`; a value of null has `absent` set. */
      ends: Uint32Array;
      absent: Uint8Array;
      now: number;
    }
  | { recycle: ArrayBuffer };

const spare = new BufferPool(4);

parentPort!.on('message', (request: Request) => {
  if ('recycle' in request) return spare.give(request.recycle);
  const { id, bytes, ends, absent, now } = request;
  const values = new Array<Uint8Array | null>(ends.length);
  for (let i = 0, at = 0; i < ends.length; at = ends[i++]!) values[i] = absent[i] ? null : bytes.subarray(at, ends[i]);
  const batch = prepareValues(values, now, spare);
  // The request's buffer goes back too, for the caller's next request.
  parentPort!.postMessage({ id, batch, input: bytes }, [
    batch.bytes.buffer as ArrayBuffer,
    batch.spans.buffer as ArrayBuffer,
    bytes.buffer as ArrayBuffer,
  ]);
});
parentPort!.postMessage({ ready: true });
