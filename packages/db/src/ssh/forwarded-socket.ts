import { Duplex } from "node:stream";

/**
 * What pg needs from its `stream`: it calls `connect(port, host)` and waits for "connect", then
 * setNoDelay/setKeepAlive/ref/unref, writes, and may upgrade it to TLS (tls.connect({ socket })), which
 * works over any Duplex. The SSH channel is opened when pg calls connect, so the pool's connect timeout
 * covers re-establishing a dropped chain. No local port is ever listened on.
 */
export class ForwardedSocket extends Duplex {
  private channel?: Duplex;
  private ending = false;

  constructor(
    private readonly open: () => Promise<{ channel: Duplex; dropped: () => Error | undefined }>,
  ) {
    super({ allowHalfOpen: false });
  }

  connect(): this {
    this.open().then(
      ({ channel, dropped }) => {
        if (this.destroyed) {
          channel.destroy();
          return;
        }
        this.channel = channel;
        channel.on("data", (chunk: Buffer) => {
          if (!this.push(chunk)) channel.pause();
        });
        channel.on("end", () => this.push(null));
        // A channel error is followed by its close, which decides what pg sees.
        channel.on("error", () => {});
        channel.on("close", () => {
          // The chain dropping closes every channel on it: the statement running then fails with the
          // chain's own error (which hop, why) rather than a bare "connection terminated".
          const error = this.ending ? undefined : dropped();
          this.destroy(error);
        });
        this.emit("connect");
      },
      (error: Error) => this.destroy(error),
    );
    return this;
  }

  override _read(): void {
    this.channel?.resume();
  }

  override _write(chunk: Buffer, encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (!this.channel) {
      callback(new Error("the SSH tunnel is not open yet"));
      return;
    }
    this.channel.write(chunk, encoding, callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.ending = true;
    this.channel?.end();
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.ending = true;
    this.channel?.destroy();
    // TLS destroys the socket under it when the handshake fails and reports why a tick later; a net
    // socket's "close" comes after that, so pg reports the TLS error. Closing as late keeps the reason
    // (else pg sees the close first and says only "Connection terminated unexpectedly").
    setImmediate(() => callback(error));
  }

  // Socket methods pg calls; TCP options belong to the first hop's socket, not to a channel.
  setNoDelay(): this {
    return this;
  }
  setKeepAlive(): this {
    return this;
  }
  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }
}
