import { jsonEncoderFor, type JsonEncoder } from "./values.js";

/** The subset of pg's Connection a submittable drives (pg calls `submit(connection)`). */
interface PgStream {
  write(chunk: Buffer): boolean;
  prependListener(event: "data", listener: (chunk: Buffer) => void): unknown;
  removeListener(event: "data", listener: (chunk: Buffer) => void): unknown;
  destroy(): void;
}

interface PgConnection {
  stream: PgStream;
  parse(msg: { text: string; name?: string; types?: number[] }): void;
  bind(msg: { portal?: string; statement?: string; values?: (string | Buffer | null)[] }): void;
  describe(msg: { type: "P" | "S"; name?: string }): void;
  execute(msg: { portal?: string; rows?: number }): void;
  flush(): void;
  sync(): void;
  sendCopyFail(message: string): void;
}

interface PgField {
  name: string;
  dataTypeID: number;
}

export interface StatementError {
  message: string;
  code?: string;
  position?: number;
  detail?: string;
  hint?: string;
  /** Client-side failure (connection lost, ...): the connection must not be reused. */
  fatal: boolean;
}

export interface StatementResult {
  columns: { name: string; typeOid: number }[];
  /** Each row already serialized as a JSON array, so the byte cap is exact and nothing is encoded twice. */
  rowsJson: string[];
  /** Rows returned to the caller. */
  rowCount: number;
  /** Rows the statement affected (DML) or produced (SELECT, up to the fetch). */
  commandRowCount: number | null;
  command: string | null;
  truncated: boolean;
  truncatedBy: "rows" | "bytes" | null;
  bytes: number;
  error: StatementError | null;
  /**
   * Wire size of a row that was not read because it alone exceeded what was left of the byte cap: the
   * connection was closed mid-row to stop it (the caller must discard the connection).
   */
  oversizedRowBytes: number | null;
  /** The connection was closed mid-message on purpose (an oversized row or message): discard it. */
  abandoned: boolean;
}

export interface PipelinedStatementOptions {
  /** Statements run before, in the same round trip (BEGIN READ ONLY, SET LOCAL ...). Must not return rows. */
  preamble: string[];
  sql: string;
  /** Text-format values; a Buffer is sent in binary format (bytea). */
  values: (string | Buffer | null)[];
  /** Statement run after (ROLLBACK or COMMIT). */
  epilogue: string;
  /**
   * Sent right before the epilogue, after the statement's results: a statement that fails when the
   * transaction must not commit (its error skips the epilogue up to its Sync; the caller rolls back).
   */
  beforeEpilogue?: string;
  maxRows: number;
  maxBytes: number;
  /**
   * Fetch the statement to its end even past the row or byte cap (rows beyond it are dropped, not
   * kept), so its command tag and row count arrive. A write checked against a row filter (issue 14)
   * answers one row per written row: the count of them is the "rows affected" the caller asked for.
   */
  readAll?: boolean;
}

/** What `fn` makes the connection write, as one buffer, without sending it. */
function captureWrites(connection: PgConnection, fn: () => void): Buffer {
  const stream = connection.stream;
  const ownWrite = Object.prototype.hasOwnProperty.call(stream, "write");
  const write = stream.write;
  const chunks: Buffer[] = [];
  stream.write = (chunk: Buffer) => {
    chunks.push(chunk);
    return true;
  };
  try {
    fn();
  } finally {
    if (ownWrite) stream.write = write;
    else delete (stream as Partial<PgConnection["stream"]>).write;
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}

/**
 * Sends `parts` as one buffer. pg writes each protocol message separately; corked, they leave as one
 * writev of a dozen small buffers, which measured ~20% more CPU per exchange than a single write on this
 * VM (the exchange's biggest cost). An empty part means pg found the socket closed and wrote nothing:
 * then nothing is sent (the connection's error reaches the caller).
 */
function writeAll(connection: PgConnection, parts: Buffer[]): void {
  if (parts.some((part) => part.length === 0)) return;
  connection.stream.write(parts.length === 1 ? parts[0]! : Buffer.concat(parts));
}

/**
 * Protocol bytes of a statement that is always sent the same way (Parse/Bind/Execute of a constant text,
 * optionally followed by Sync), serialized once by pg's own serializer and then reused: the transaction
 * wrapper around every call (BEGIN READ ONLY, SET LOCAL ..., ROLLBACK) repeats a handful of texts.
 */
const fixedStatements = { plain: new Map<string, Buffer>(), withSync: new Map<string, Buffer>() };
const MAX_FIXED_STATEMENTS = 1_000;

function fixedStatement(connection: PgConnection, text: string, withSync: boolean): Buffer {
  const cache = withSync ? fixedStatements.withSync : fixedStatements.plain;
  let bytes = cache.get(text);
  if (!bytes) {
    bytes = captureWrites(connection, () => {
      connection.parse({ text });
      connection.bind({});
      connection.execute({});
      if (withSync) connection.sync();
    });
    // Nothing is captured from a connection whose socket is gone: not cached.
    if (bytes.length === 0) return bytes;
    if (cache.size >= MAX_FIXED_STATEMENTS) cache.clear();
    cache.set(text, bytes);
  }
  return bytes;
}

/** Up to this many rows, the whole exchange is one round trip: rows beyond the cap are discarded as they arrive. */
const SINGLE_SHOT_MAX_FETCH = 5_001;
const CHUNK_ROWS = 1_000;
/**
 * A row is read whole only if its wire size fits in what is left of the byte cap plus this much; a
 * bigger one is never buffered. pg decodes a DataRow only once all of it has arrived, so without this
 * one `SELECT repeat('x', 200000000)` held the row, its strings and its JSON: ~600 MiB per call.
 */
const ROW_SLACK_BYTES = 64 * 1024;
/** Message type byte of a DataRow ('D'). */
const DATA_ROW = 0x44;
/**
 * Any other message (an error or notice, whose text PostgreSQL may fill with a value: `SELECT
 * repeat('x', 200000000)::int` fails with the whole string in its message) is read up to this size.
 */
const MAX_OTHER_MESSAGE_BYTES = 1024 * 1024;

/**
 * Runs preamble + one statement + epilogue as a single pipelined extended-protocol exchange, written
 * in one packet: `BEGIN READ ONLY`, `SET LOCAL`s, the statement (Parse/Bind/Describe/Execute with a
 * row limit), `ROLLBACK`, `Sync`. For a typical read that is one network round trip instead of four.
 *
 * The extended protocol also guarantees exactly one statement: PostgreSQL refuses a second one in a
 * Parse message, whatever the checker concluded.
 *
 * The row limit is applied while reading: the portal is executed with a row count, so PostgreSQL stops
 * producing rows there; for large limits, rows are fetched in chunks and fetching stops once the byte
 * cap is reached. Memory is bounded by the cap, never by the table.
 */
export class PipelinedStatement {
  readonly result: StatementResult = {
    columns: [],
    rowsJson: [],
    rowCount: 0,
    commandRowCount: null,
    command: null,
    truncated: false,
    truncatedBy: null,
    bytes: 0,
    error: null,
    oversizedRowBytes: null,
    abandoned: false,
  };
  readonly done: Promise<StatementResult>;
  private resolve!: (result: StatementResult) => void;
  private connection: PgConnection | undefined;
  private encoders: JsonEncoder[] = [];
  /** Preamble statements completed so far: the caller's statement starts after the last one. */
  private preambleCompleted = 0;
  /** Whether the messages arriving now belong to the caller's statement (not the preamble). */
  private inUserStatement: boolean;
  private readonly singleShot: boolean;
  private epilogueSent = false;
  private stopReading = false;
  /** Frame reader over the raw socket bytes, ahead of pg's parser: see `guardRows`. */
  private readonly header = Buffer.alloc(5);
  private headerFill = 0;
  /** DataRows of the user's statement, kept or not (readAll's count). */
  private rowsSeen = 0;
  private skip = 0;
  private guarding = false;
  // pg's Client reads these when a submittable is queued.
  callback: undefined;

  constructor(private readonly options: PipelinedStatementOptions) {
    this.done = new Promise((resolve) => (this.resolve = resolve));
    // A write's COMMIT is sent only after its results were read, never pipelined with them: if a
    // result row has to be abandoned (closing the connection), the transaction is certain to roll back.
    // readAll wants the command tag, which only a statement fetched to its end sends (the approval dry
    // run reads a sample of a rolled-back write and its full count).
    this.singleShot = !options.readAll && options.epilogue !== "COMMIT" && options.maxRows + 1 <= SINGLE_SHOT_MAX_FETCH;
    this.inUserStatement = options.preamble.length === 0;
  }

  submit(connection: PgConnection): void {
    this.connection = connection;
    // The connection is idle (pg submits only after ReadyForQuery), so the next byte starts a message.
    this.guarding = true;
    connection.stream.prependListener("data", this.guardRows);
    const { preamble, sql, values, maxRows, epilogue } = this.options;
    const parts = preamble.map((text) => fixedStatement(connection, text, false));
    parts.push(
      captureWrites(connection, () => {
        connection.parse({ text: sql });
        connection.bind({ values });
        connection.describe({ type: "P" });
        connection.execute({ rows: this.singleShot ? maxRows + 1 : Math.min(CHUNK_ROWS, maxRows + 1) });
        if (!this.singleShot) connection.flush();
      }),
    );
    if (this.singleShot) {
      this.epilogueSent = true;
      if (this.options.beforeEpilogue) parts.push(fixedStatement(connection, this.options.beforeEpilogue, false));
      parts.push(fixedStatement(connection, epilogue, true));
    }
    writeAll(connection, parts);
  }

  private sendEpilogue(): void {
    const connection = this.connection;
    if (this.epilogueSent || !connection) return;
    this.epilogueSent = true;
    const before = this.options.beforeEpilogue ? [fixedStatement(connection, this.options.beforeEpilogue, false)] : [];
    writeAll(connection, [...before, fixedStatement(connection, this.options.epilogue, true)]);
  }

  /**
   * Sees every chunk before pg's parser does and follows the message frames (type byte, length). When
   * a DataRow announces more bytes than the cap has room for, reading stops there: the socket is
   * closed, which ends the backend's send (and with it the statement and its transaction), and the
   * bytes pg already holds are at most one socket read. The result keeps the rows read so far.
   */
  private readonly guardRows = (chunk: Buffer): void => {
    let i = 0;
    while (i < chunk.length && this.guarding) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - i);
        this.skip -= n;
        i += n;
        continue;
      }
      const n = Math.min(5 - this.headerFill, chunk.length - i);
      chunk.copy(this.header, this.headerFill, i, i + n);
      this.headerFill += n;
      i += n;
      if (this.headerFill < 5) break;
      this.headerFill = 0;
      const length = this.header.readInt32BE(1);
      if (length < 4) {
        // Out of step with the stream (should not happen): stop guarding rather than misjudge.
        this.unguard();
        break;
      }
      const body = length - 4;
      if (this.header[0] === DATA_ROW && body > Math.max(0, this.options.maxBytes - this.result.bytes) + ROW_SLACK_BYTES) {
        this.abandonRow(body);
        break;
      }
      if (this.header[0] !== DATA_ROW && body > MAX_OTHER_MESSAGE_BYTES) {
        this.abandonMessage(body);
        break;
      }
      this.skip = body;
    }
  };

  private unguard(): void {
    if (!this.guarding) return;
    this.guarding = false;
    this.connection?.stream.removeListener("data", this.guardRows);
  }

  private abandonRow(wireBytes: number): void {
    const r = this.result;
    r.oversizedRowBytes = wireBytes;
    r.truncated = true;
    r.truncatedBy = "bytes";
    r.abandoned = true;
    // Rows ahead of it in the same chunk still reach pg's parser (and handleDataRow) after this.
    this.unguard();
    this.connection?.stream.destroy();
  }

  private abandonMessage(wireBytes: number): void {
    const r = this.result;
    r.abandoned = true;
    r.error = {
      message: `the database answered with a message (an error or notice text) of ${(wireBytes / 2 ** 20).toFixed(1)} MiB, more than the gateway reads; the statement was cancelled${this.options.epilogue === "COMMIT" ? " and rolled back" : ""}`,
      code: "54000",
      fatal: false,
    };
    this.unguard();
    this.connection?.stream.destroy();
  }

  handleRowDescription(msg: { fields: PgField[] }): void {
    this.result.columns = msg.fields.map((f) => ({ name: f.name, typeOid: f.dataTypeID }));
    this.encoders = msg.fields.map((f) => jsonEncoderFor(f.dataTypeID));
  }

  handleDataRow(msg: { fields: (string | null)[] }): void {
    if (!this.inUserStatement) return;
    this.rowsSeen++;
    const r = this.result;
    if (this.stopReading) return;
    if (r.rowCount >= this.options.maxRows) {
      // A read-all statement keeps going past the cap (handlePortalSuspended); its rows beyond are dropped.
      r.truncated = true;
      r.truncatedBy ??= "rows";
      this.stopReading = true;
      return;
    }
    const fields = msg.fields;
    let json = "[";
    for (let i = 0; i < fields.length; i++) {
      const text = fields[i];
      if (i > 0) json += ",";
      json += text === null || text === undefined ? "null" : this.encoders[i]!(text);
    }
    json += "]";
    // +1 for the separating comma in the final array.
    if (r.bytes + json.length + 1 > this.options.maxBytes) {
      r.truncated = true;
      r.truncatedBy = "bytes";
      this.stopReading = true;
      return;
    }
    r.bytes += json.length + 1;
    r.rowsJson.push(json);
    r.rowCount++;
  }

  handlePortalSuspended(): void {
    // Only the user's statement is executed with a row limit.
    if (this.singleShot || this.epilogueSent) {
      if (this.result.rowCount >= this.options.maxRows) this.result.truncated = true;
      return;
    }
    if (this.options.readAll || (!this.stopReading && this.result.rowCount < this.options.maxRows)) {
      if (this.options.readAll && (this.stopReading || this.result.rowCount >= this.options.maxRows)) this.result.truncated = true;
      const connection = this.connection!;
      writeAll(connection, [
        captureWrites(connection, () => {
          connection.execute({ rows: CHUNK_ROWS });
          connection.flush();
        }),
      ]);
      return;
    }
    this.result.truncated = true;
    this.sendEpilogue();
  }

  handleCommandComplete(msg: { text?: string }): void {
    if (this.inUserStatement) {
      this.inUserStatement = false;
      // The command tag: "SELECT 5", "INSERT 0 1", "UPDATE 3", "CREATE TABLE".
      const words = (msg.text ?? "").split(" ");
      const last = words[words.length - 1] ?? "";
      this.result.command = words[0] ? words[0] : null;
      this.result.commandRowCount = /^\d+$/.test(last) ? Number(last) : null;
      // A portal fetched in several Executes tags only the last one's rows: read to the end, the count is ours.
      // The same for a write's RETURNING rows (the approval dry run): one row per written row.
      if (this.options.readAll && (this.result.command === "SELECT" || this.result.columns.length > 0)) this.result.commandRowCount = this.rowsSeen;
      if (!this.singleShot) this.sendEpilogue();
      return;
    }
    // Preamble statements, then the epilogue's (which leaves the count past the preamble's length).
    this.preambleCompleted++;
    if (this.preambleCompleted === this.options.preamble.length) this.inUserStatement = true;
  }

  handleEmptyQuery(): void {
    if (this.inUserStatement) {
      this.inUserStatement = false;
      if (!this.singleShot) this.sendEpilogue();
    }
  }

  handleError(error: Error & Record<string, unknown>, connection?: PgConnection): void {
    this.unguard();
    if (this.result.abandoned && this.result.oversizedRowBytes === null) {
      // abandonMessage already said why.
      this.resolve(this.result);
      return;
    }
    if (this.result.oversizedRowBytes !== null) {
      // The connection was closed on purpose (abandonRow): not a database failure. A read keeps the rows
      // it had; a write was never committed (its COMMIT goes out only after its results are read).
      if (this.options.epilogue === "COMMIT") {
        this.result.error = {
          message: `a result row of ${this.result.oversizedRowBytes} bytes exceeds the ${this.options.maxBytes}-byte result limit; the statement was cancelled and rolled back, nothing was written`,
          code: "54000",
          fatal: false,
        };
      }
      this.resolve(this.result);
      return;
    }
    if (!this.result.error) {
      const isServer = typeof error.code === "string" && /^[0-9A-Z]{5}$/.test(error.code) && error.severity !== undefined;
      this.result.error = {
        message: error.message,
        code: typeof error.code === "string" ? error.code : undefined,
        position: error.position ? Number(error.position) : undefined,
        detail: typeof error.detail === "string" ? error.detail : undefined,
        hint: typeof error.hint === "string" ? error.hint : undefined,
        fatal: !isServer,
      };
      // Position counts from the start of the statement the user sent; nothing to shift (own Parse).
    }
    // pg's Client detaches the active query on an error message: nothing more reaches this object,
    // not even ReadyForQuery. The server skips to the next Sync; make sure one is on its way, then
    // hand the result back (the caller rolls back; pg queues that behind the pending ReadyForQuery).
    if (connection && !this.result.error.fatal && !this.epilogueSent) {
      this.epilogueSent = true;
      connection.sync();
    }
    this.resolve(this.result);
  }

  handleCopyInResponse(connection: PgConnection): void {
    connection.sendCopyFail("COPY FROM STDIN is not supported through Portcullis");
  }

  handleCopyData(): void {}

  handleReadyForQuery(): void {
    this.unguard();
    this.resolve(this.result);
  }
}
