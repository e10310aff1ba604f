// Handing an accepted TCP connection from the main process to a worker process without losing or
// repeating a byte. The listener pauses sockets on accept (no byte is read from the kernel); the main
// process reads until the first PDU is whole, stops reading from the kernel, and passes the socket's
// handle (the file descriptor, over the IPC channel) with the bytes it read. The worker puts those bytes
// back in front of the socket's stream before its connection code reads it, and the kernel holds the rest.

import type { Socket } from 'node:net';
import { FIRST_PDU_MAX_BYTES, routeFirstPdu, type FirstPduRoute } from './first-login.js';

/** The bytes a connection sent before it was routed, and where they say it goes. */
export interface FirstBytes {
  bytes: Buffer;
  route: Exclude<FirstPduRoute, { kind: 'incomplete' }>;
}

/**
 * Reads a socket accepted with `pauseOnConnect` until its first PDU routes it, and pauses it there
 * (synchronously, in the read that completed the PDU). Resolves undefined (the socket destroyed) when
 * the peer goes away, sends more than a login PDU can hold without routing, or says nothing for
 * `timeoutMs`. The socket may then be served here (unshift the bytes, resume) or handed over
 * ({@link detachForHandoff}, in the same turn of the event loop).
 */
export function readFirstPdu(socket: Socket, timeoutMs: number): Promise<FirstBytes | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let length = 0;
    const finish = (result: FirstBytes | undefined) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      if (result === undefined) socket.destroy();
      resolve(result);
    };
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      length += chunk.length;
      const bytes = chunks.length === 1 ? chunk : Buffer.concat(chunks, length);
      const route = routeFirstPdu(bytes);
      if (route.kind !== 'incomplete') {
        socket.pause();
        finish({ bytes, route });
      } else if (length > FIRST_PDU_MAX_BYTES) {
        finish(undefined);
      }
    };
    const onClose = () => finish(undefined);
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.on('error', () => {});
    // pauseOnConnect leaves the stream explicitly paused: a 'data' listener alone would not start it.
    socket.resume();
  });
}

/** The part of Node's TCP handle that stops reads (net.Socket keeps it as `_handle`). */
interface ReadingHandle {
  readStop(): number;
  reading: boolean;
}

/**
 * Readies a paused socket to have its handle sent to another process: stops it reading from the kernel
 * and returns what its stream had already read. `pause()` alone only stops 'data' events: the handle goes
 * on reading into the stream (up to its high-water mark), and whatever the sender's copy of a handle
 * reads is dropped once the handle is sent. Node stops a handle this way itself (net.Socket#pause, for
 * sockets read with `onread`). The socket object is done with afterwards: its stream may believe a read
 * is still under way.
 */
export function detachForHandoff(socket: Socket): Buffer[] {
  const buffered: Buffer[] = [];
  for (let c: unknown; socket.readableLength > 0 && (c = socket.read()) !== null; ) buffered.push(c as Buffer);
  // read() may have asked the handle to read again: stop it last (nothing is read before the event loop polls).
  const handle = (socket as unknown as { _handle: ReadingHandle | null })._handle;
  if (handle !== null) {
    handle.reading = false;
    handle.readStop();
  }
  return buffered;
}

/**
 * In the worker: a socket received from the main process, with the bytes the main process read from it
 * first put back in front of its stream, so the connection code reads them before anything else.
 */
export function restoreFirstBytes(socket: Socket, bytes: Uint8Array): Socket {
  if (bytes.length > 0) socket.unshift(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  return socket;
}
